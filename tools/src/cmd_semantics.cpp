// The registry-semantics commands of the CLI (see cmd_semantics.hpp).
#include "cmd_semantics.hpp"

#include "cli_output.hpp"

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

// The shared format, plus the codes only these commands give.
int report(bool as_json, const Error& e) {
  const int rc = report_error(as_json, e);
  if (e.code == Errc::not_found) return kExitNotFound;
  if (e.code == Errc::version_conflict) return kExitVersionConflict;
  return rc;
}

int usage_error(const std::string& message) {
  std::cerr << "shmreg: " << message << "\n";
  return kExitError;
}

// "KEY=VALUE" for create --meta; the value may itself hold '='.
std::pair<std::string, std::string> meta_pair(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw CLI::ValidationError("--meta", "expected KEY=VALUE with a non-empty KEY, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

const char* const kNeedPid =
    "a shmreg process owns no entries of its own: name the owner with --pid PID "
    "(one of your processes, or any as root), e.g. the child of `shmreg register ... -- CMD`";

}  // namespace

SemanticsCommands::SemanticsCommands(CLI::App& app, CLI::App* create, RegistryOptions& create_options,
                                     CLI::App* register_cmd, CLI::App* lookup)
    : register_(register_cmd), lookup_(lookup) {
  create->add_option_function<std::vector<std::string>>(
            "--meta",
            [&create_options](const std::vector<std::string>& pairs) {
              for (const auto& p : pairs) create_options.meta.push_back(meta_pair(p));
            },
            "initial meta KEY=VALUE (repeatable), set together with the creation; an existing registry keeps "
            "its own meta")
      ->type_name("KEY=VALUE");
  register_cmd->add_option("--pid", register_pid_,
                           "register for this process instead, and exit: the entry lives as long as PID "
                           "(your own process, or any as root)");
  lookup->add_flag("--consistent", consistent_,
                   "ask the broker, which returns only entries whose owners it has just checked alive");

  update_ = app.add_subcommand("update", "set the value of PID's entry under KEY (a unique registry); "
                                         "exit 1 if PID has none, 4 on a version conflict");
  update_->add_option("REG", reg_, "registry name")->required();
  update_->add_option("KEY", key_, "key")->required();
  update_->add_option("VALUE", value_, "the new value")->required();
  update_->add_option("--pid", pid_, "the owner of the entry");
  expect_version_option_ =
      update_->add_option("--expect-version", expect_version_, "update only if the entry is at this version");

  unregister_match_ = app.add_subcommand(
      "unregister-match", "remove PID's entries under KEY whose value matches PATTERN and GUARDS; print how many");
  unregister_match_->add_option("REG", reg_, "registry name")->required();
  unregister_match_->add_option("KEY", key_, "key")->required();
  unregister_match_->add_option("PATTERN", pattern_, "JSON pattern: \"_\" matches all, \"$1\" binds")->required();
  unregister_match_->add_option("GUARDS", guards_, "JSON array of guards, e.g. '[[\">\", \"$1\", 1]]'");
  unregister_match_->add_option("--pid", pid_, "the owner of the entries");

  meta_ = app.add_subcommand("meta", "print KEY<TAB>VALUE per meta pair of REG, or the value of KEY; exit 1 if none");
  meta_->add_option("REG", reg_, "registry name")->required();
  meta_->add_option("KEY", key_, "meta key");

  put_meta_ = app.add_subcommand("put-meta", "set a meta pair of REG");
  put_meta_->add_option("REG", reg_, "registry name")->required();
  put_meta_->add_option("KEY", key_, "meta key (1-255 bytes)")->required();
  put_meta_->add_option("VALUE", value_, "meta value")->required();

  delete_meta_ = app.add_subcommand("delete-meta", "remove a meta pair of REG (exit 0 also if it was not there)");
  delete_meta_->add_option("REG", reg_, "registry name")->required();
  delete_meta_->add_option("KEY", key_, "meta key")->required();
}

std::optional<int> SemanticsCommands::run(const std::string& ns, const std::string& socket, bool as_json,
                                          const std::vector<std::string>& exec_cmd) const {
  const bool register_for = register_->parsed() && register_->get_option("--pid")->count() > 0;
  const bool lookup_consistent = lookup_->parsed() && consistent_;
  if (!(update_->parsed() || unregister_match_->parsed() || meta_->parsed() || put_meta_->parsed() ||
        delete_meta_->parsed() || register_for || lookup_consistent))
    return std::nullopt;
  if (register_for && !exec_cmd.empty())
    return usage_error("register --pid registers for another process and exits; '-- CMD' is for this one");
  if ((update_->parsed() || unregister_match_->parsed()) && pid_ == 0) return usage_error(kNeedPid);

  auto client = Client::open({ns, socket});
  if (!client) return report(as_json, client.error());

  if (register_for) {
    const auto reg = register_->get_option("REG")->as<std::string>();
    const auto key = register_->get_option("KEY")->as<std::string>();
    const auto value = register_->get_option("VALUE")->as<std::string>();
    auto version = client->register_key_for(ProcessRef::pid(register_pid_), reg, key, value);
    if (!version) return report(as_json, version.error());
    if (as_json)
      std::cout << to_json_text({{"registry", reg}, {"key", key}, {"pid", register_pid_}, {"version", *version}})
                << "\n";
    else
      std::cout << "registered " << key << " in " << reg << " for pid " << register_pid_ << "\n";
    return kExitOk;
  }

  if (lookup_consistent) {
    const auto reg = lookup_->get_option("REG")->as<std::string>();
    const auto key = lookup_->get_option("KEY")->as<std::string>();
    auto entries = client->lookup_consistent(reg, key);
    if (!entries) return report(as_json, entries.error());
    if (as_json) {
      json arr = json::array();
      for (const auto& e : *entries) arr.push_back({{"pid", e.pid}, {"value", e.value}, {"version", e.version}});
      std::cout << to_json_text(arr) << "\n";
    } else {
      for (const auto& e : *entries) std::cout << e.pid << '\t' << e.value << '\n';
    }
    return entries->empty() ? kExitNotFound : kExitOk;
  }

  if (update_->parsed()) {
    json out = {{"registry", reg_}, {"key", key_}, {"pid", pid_}, {"value", value_}};
    if (expect_version_option_->count() > 0) {
      auto version = client->set_value(reg_, key_, value_, expect_version_, ProcessRef::pid(pid_));
      if (!version) return report(as_json, version.error());
      out["version"] = *version;
    } else {
      const std::string next = value_;
      auto r = client->update_value(reg_, key_, [&next](std::string_view) { return next; }, ProcessRef::pid(pid_));
      if (!r) return report(as_json, r.error());
      out["version"] = r->version;
      out["old_value"] = r->old_value;
    }
    if (as_json)
      std::cout << to_json_text(out) << "\n";
    else
      std::cout << "updated " << key_ << " in " << reg_ << " for pid " << pid_ << " (version "
                << out["version"].get<std::uint64_t>() << ")\n";
    return kExitOk;
  }

  if (unregister_match_->parsed()) {
    auto n = client->unregister_match(reg_, key_, pattern_, guards_, ProcessRef::pid(pid_));
    if (!n) return report(as_json, n.error());
    if (as_json)
      std::cout << to_json_text({{"registry", reg_}, {"key", key_}, {"pid", pid_}, {"removed", *n}}) << "\n";
    else
      std::cout << "removed " << *n << "\n";
    return kExitOk;
  }

  if (meta_->parsed()) {
    auto reg = client->registry(reg_);
    if (!reg) return report(as_json, reg.error());
    if (meta_->get_option("KEY")->count() > 0) {
      auto v = reg->meta(key_);
      if (!v) return report(as_json, v.error());
      if (!*v) return kExitNotFound;
      if (as_json)
        std::cout << to_json_text({{"key", key_}, {"value", **v}}) << "\n";
      else
        std::cout << **v << "\n";
      return kExitOk;
    }
    auto all = reg->meta();
    if (!all) return report(as_json, all.error());
    if (as_json) {
      json obj = json::object();
      for (const auto& [k, v] : *all) obj[k] = v;
      std::cout << to_json_text(obj) << "\n";
    } else {
      for (const auto& [k, v] : *all) std::cout << k << '\t' << v << '\n';
    }
    return all->empty() ? kExitNotFound : kExitOk;
  }

  if (put_meta_->parsed()) {
    if (auto r = client->put_meta(reg_, key_, value_); !r) return report(as_json, r.error());
    if (as_json) std::cout << to_json_text({{"registry", reg_}, {"key", key_}, {"value", value_}}) << "\n";
    return kExitOk;
  }

  auto deleted = client->delete_meta(reg_, key_);
  if (!deleted) return report(as_json, deleted.error());
  if (as_json) std::cout << to_json_text({{"registry", reg_}, {"key", key_}, {"deleted", *deleted}}) << "\n";
  return kExitOk;
}

}  // namespace shmreg::tools
