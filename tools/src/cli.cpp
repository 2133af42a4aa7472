// What every `shmreg` command shares (see cli.hpp).
#include "cli.hpp"

#include <iostream>

namespace shmreg::tools::cli {

using nlohmann::json;

int exit_code_of(Errc code) noexcept {
  switch (code) {
    case Errc::already_registered: return kExitAlreadyRegistered;
    case Errc::not_found: return kExitNotFound;
    case Errc::version_conflict: return kExitVersionConflict;
    // The contract gives every other outcome the one code of "any other
    // error"; the message on stderr names it.
    default: return kExitError;
  }
}

int report_error(const Globals& g, const Error& e) {
  if (e.code == Errc::already_registered) {
    if (g.json)
      std::cerr << to_json_text({{"error", "already_registered"}, {"pid", e.pid}, {"message", e.message}}) << "\n";
    else
      std::cerr << "already registered by PID " << e.pid << "\n";
  } else if (g.json) {
    std::cerr << to_json_text({{"error", std::string(to_string(e.code))}, {"message", e.message}}) << "\n";
  } else {
    std::cerr << "shmreg: " << e.message << "\n";
  }
  return exit_code_of(e.code);
}

int usage_error(const std::string& message) {
  std::cerr << "shmreg: " << message << "\n";
  return kExitError;
}

std::string to_json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

json entry_json(const Entry& e, bool with_key) {
  json j = {{"pid", e.pid}, {"value", e.value}, {"version", e.version}};
  if (with_key) j["key"] = e.key;
  return j;
}

std::expected<Client, int> open_client(const Globals& g) {
  auto c = Client::open({g.ns, g.socket});
  if (!c) return std::unexpected(report_error(g, c.error()));
  return std::move(*c);
}

std::expected<Registry, int> open_registry(const Globals& g, const std::string& name) {
  auto c = open_client(g);
  if (!c) return std::unexpected(c.error());
  auto r = c->registry(name);
  if (!r) return std::unexpected(report_error(g, r.error()));
  return std::move(*r);
}

CLI::App* CommandTable::add(const std::string& name, const std::string& help, Run run, TrailingCommand trailing) {
  CLI::App* sub = app_.add_subcommand(name, help);
  commands_.push_back({sub, std::move(run), trailing});
  return sub;
}

int CommandTable::run_parsed() const {
  for (const Command& c : commands_) {
    if (!c.subcommand->parsed()) continue;
    if (!g_.exec_cmd.empty() && c.trailing == TrailingCommand::refused)
      return usage_error("'-- CMD' is only valid with register");
    return c.run(g_);
  }
  return kExitError;
}

}  // namespace shmreg::tools::cli
