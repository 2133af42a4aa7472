// The config family of the CLI: static entries and the broker's
// configuration file; each talks to the broker.
//   set REG KEY VALUE      a static entry: owned by the namespace, not by a
//                          process (shown as "static"); for REG's admins
//   unset REG KEY          removes it; exit 1 if there was none
//   reload [--forbid | --allow]
//         rereads the configuration file: "reloaded: generation N" and its
//         notes; a refused one exits 2 with every reason on its own line
//         on stderr. --forbid / --allow switch reloads off and on.
//   status                 the broker's state and each uid's use (cmd_status.cpp)
#include <iostream>

#include "commands.hpp"
#include "json_bytes.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

struct StaticArgs {
  std::string reg, key, value;
  bool base64 = false;
};

int run_set(const Globals& g, const StaticArgs& a) {
  auto value = value_argument(a.value, a.base64);
  if (!value) return value.error();
  auto c = open_client(g);
  if (!c) return c.error();
  auto version = c->set_static(a.reg, a.key, *value);
  if (!version) return report_error(g, version.error());
  if (g.json) {
    json out = {{"registry", a.reg}, {"key", a.key}, {"pid", 0}, {"static", true}, {"version", *version}};
    put_bytes(out, "value", *value);
    std::cout << to_json_text(out) << "\n";
  } else {
    std::cout << "set " << escaped(a.key) << " in " << a.reg << " as a static entry (version " << *version << ")\n";
  }
  return kExitOk;
}

int run_unset(const Globals& g, const StaticArgs& a) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto removed = c->unset_static(a.reg, a.key);
  if (!removed) return report_error(g, removed.error());
  if (g.json)
    std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"removed", *removed}}) << "\n";
  else if (*removed)
    std::cout << "unset " << a.key << " in " << a.reg << "\n";
  else
    std::cerr << "shmreg: no static entry under '" << a.key << "' in '" << a.reg << "'\n";
  return *removed ? kExitOk : kExitNotFound;
}

struct ReloadArgs {
  bool forbid = false;
  bool allow = false;
};

int run_reload(const Globals& g, const ReloadArgs& a) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto outcome = a.forbid ? c->forbid_reload() : a.allow ? c->allow_reload() : c->reload();
  if (!outcome) return report_error(g, outcome.error());
  if (g.json) {
    std::cout << to_json_text({{"state", outcome->state},
                               {"generation", outcome->generation},
                               {"reasons", outcome->reasons},
                               {"notes", outcome->notes}})
              << "\n";
    return kExitOk;
  }
  if (a.forbid)
    std::cout << "reloads forbidden (generation " << outcome->generation << " in force)\n";
  else if (a.allow)
    std::cout << "reloads allowed (generation " << outcome->generation << " in force)\n";
  else
    std::cout << "reloaded: generation " << outcome->generation << "\n";
  for (const auto& note : outcome->notes) std::cout << "note: " << note << "\n";
  return kExitOk;
}

void add_static_commands(CommandTable& table) {
  auto [set, sa] = table.add<StaticArgs>(
      "set", "set a static entry of REG: owned by the namespace, not by a process (shown as 'static')", run_set);
  set->add_option("REG", sa.reg, "registry name")->required();
  set->add_option("KEY", sa.key, "key")->required();
  set->add_option("VALUE", sa.value, "value")->required();
  add_base64_flag(set, sa.base64);

  auto [unset, ua] =
      table.add<StaticArgs>("unset", "remove the static entry under KEY; exit 1 if there was none", run_unset);
  unset->add_option("REG", ua.reg, "registry name")->required();
  unset->add_option("KEY", ua.key, "key")->required();
}

void add_reload(CommandTable& table) {
  auto [c, a] = table.add<ReloadArgs>(
      "reload",
      "reread the broker's configuration file and apply all of it or none; exit 2 with every reason if refused",
      run_reload);
  auto* forbid = c->add_flag("--forbid", a.forbid, "forbid reloads until `shmreg reload --allow`");
  auto* allow = c->add_flag("--allow", a.allow, "allow reloads again");
  forbid->excludes(allow);
}

}  // namespace

void add_config_commands(CommandTable& table) {
  add_static_commands(table);
  add_reload(table);
  add_status_command(table);
}

}  // namespace shmreg::tools
