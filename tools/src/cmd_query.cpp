// The query commands of the CLI (see cmd_query.hpp); docs/queries.md has the
// pattern and select-spec languages.
#include "cmd_query.hpp"

#include "cli_output.hpp"

#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "shmreg/shmreg.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

int report(bool as_json, const Error& e) { return report_error(as_json, e); }

json entry_json(const Entry& e) { return {{"pid", e.pid}, {"value", e.value}, {"version", e.version}}; }

int print_entries(bool as_json, const std::vector<Entry>& entries, bool with_pid) {
  if (as_json) {
    json arr = json::array();
    for (const auto& e : entries) arr.push_back(entry_json(e));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& e : entries) {
      if (with_pid) std::cout << e.pid << '\t';
      std::cout << e.value << '\n';
    }
  }
  return entries.empty() ? kExitNotFound : kExitOk;
}

}  // namespace

QueryCommands::QueryCommands(CLI::App& app) {
  match_ = app.add_subcommand("match", "print PID<TAB>VALUE per entry under KEY whose value matches; exit 1 if none");
  match_->add_option("REG", reg_, "registry name")->required();
  match_->add_option("KEY", key_, "key")->required();
  match_->add_option("PATTERN", pattern_, "JSON pattern: \"_\" (or a bare _) matches all, \"$1\" binds")->required();
  match_->add_option("GUARDS", guards_, "JSON array of guards, e.g. '[[\">\", \"$1\", 1]]'");

  count_match_ = app.add_subcommand("count-match", "print how many entries under KEY match");
  count_match_->add_option("REG", reg_, "registry name")->required();
  count_match_->add_option("KEY", key_, "key")->required();
  count_match_->add_option("PATTERN", pattern_, "JSON pattern")->required();
  count_match_->add_option("GUARDS", guards_, "JSON array of guards");

  select_ = app.add_subcommand("select", "print one JSON result per selected entry (--json: an array); exit 1 if none");
  select_->add_option("REG", reg_, "registry name")->required();
  select_->add_option("SPEC", spec_, "select spec: [{\"match\": {...}, \"guards\": [...], \"return\": ...}]")
      ->required();

  count_select_ = app.add_subcommand("count-select", "print how many entries SPEC selects");
  count_select_->add_option("REG", reg_, "registry name")->required();
  count_select_->add_option("SPEC", spec_, "select spec")->required();

  values_ = app.add_subcommand("values", "print the values PID holds under KEY, one per line; exit 1 if none");
  values_->add_option("REG", reg_, "registry name")->required();
  values_->add_option("KEY", key_, "key")->required();
  values_->add_option("PID", pid_, "process id")->required();
}

std::optional<int> QueryCommands::run(const std::string& ns, const std::string& socket, bool as_json) const {
  const bool any = match_->parsed() || count_match_->parsed() || select_->parsed() || count_select_->parsed() ||
                   values_->parsed();
  if (!any) return std::nullopt;
  auto client = Client::open({ns, socket});
  if (!client) return report(as_json, client.error());
  auto reg = client->registry(reg_);
  if (!reg) return report(as_json, reg.error());

  // A bare _ is not JSON; take it for the wildcard "_", saving shell quoting.
  const std::string pattern = pattern_ == "_" ? std::string("\"_\"") : pattern_;
  if (match_->parsed()) {
    auto entries = reg->match(key_, pattern, guards_);
    if (!entries) return report(as_json, entries.error());
    return print_entries(as_json, *entries, true);
  }
  if (values_->parsed()) {
    auto entries = reg->values(key_, pid_);
    if (!entries) return report(as_json, entries.error());
    return print_entries(as_json, *entries, false);
  }
  if (count_match_->parsed() || count_select_->parsed()) {
    const bool by_key = count_match_->parsed();
    auto n = by_key ? reg->count_match(key_, pattern, guards_) : reg->count_select(spec_);
    if (!n) return report(as_json, n.error());
    if (as_json) {
      json out = {{"registry", reg_}, {"count", *n}};
      if (by_key) out["key"] = key_;
      std::cout << to_json_text(out) << "\n";
    } else {
      std::cout << *n << "\n";
    }
    return kExitOk;
  }
  auto results = reg->select(spec_);
  if (!results) return report(as_json, results.error());
  if (as_json) {
    // Each result is JSON text already; parsing it back nests it as JSON.
    json arr = json::array();
    for (const auto& r : *results) arr.push_back(json::parse(r, nullptr, false));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& r : *results) std::cout << r << '\n';
  }
  return results->empty() ? kExitNotFound : kExitOk;
}

}  // namespace shmreg::tools
