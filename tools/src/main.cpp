// shmreg: the command-line interface to a shmreg namespace.
//
// Exit codes (scripts depend on them):
//   0 success; 1 not found (lookup, keys, list, match, select, values;
//   fsck: problems found);
//   2 usage or any other error; 3 already registered; 4 version conflict
//   (update --expect-version).
// Every command but ping, create, register, update, unregister-match,
// put-meta, delete-meta, send, receive and lookup --consistent reads the segment alone, so
// it works while the broker is down.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_output.hpp"
#include "cmd_events.hpp"
#include "cmd_mailbox.hpp"
#include "cmd_query.hpp"
#include "cmd_semantics.hpp"
#include "dump.hpp"
#include "shmreg/shmreg.hpp"

namespace {

using nlohmann::json;

using namespace shmreg::tools::cli;

struct Globals {
  std::string ns;
  std::string socket;
  bool json = false;
};

int report(const Globals& g, const shmreg::Error& e) { return report_error(g.json, e); }

std::optional<shmreg::Client> open_client(const Globals& g, int& rc) {
  auto c = shmreg::Client::open({g.ns, g.socket});
  if (!c) {
    rc = report(g, c.error());
    return std::nullopt;
  }
  return std::move(*c);
}

std::optional<shmreg::Registry> open_registry(const Globals& g, const shmreg::Client& c, const std::string& name,
                                              int& rc) {
  auto r = c.registry(name);
  if (!r) {
    rc = report(g, r.error());
    return std::nullopt;
  }
  return std::move(*r);
}

json entry_json(const shmreg::Entry& e, bool with_key) {
  json j = {{"pid", e.pid}, {"value", e.value}, {"version", e.version}};
  if (with_key) j["key"] = e.key;
  return j;
}

int cmd_ping(const Globals& g) {
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto pid = c->ping();
  if (!pid) return report(g, pid.error());
  if (g.json)
    std::cout << to_json_text({{"broker_pid", *pid}, {"namespace", c->ns()}, {"socket", c->socket_path()}}) << "\n";
  else
    std::cout << "broker pid " << *pid << " serves namespace " << c->ns() << "\n";
  return kExitOk;
}

int cmd_create(const Globals& g, const std::string& reg, const std::string& keys, const shmreg::RegistryOptions& base) {
  shmreg::RegistryOptions o = base;
  o.unique = keys == "unique";
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  if (auto r = c->create_registry(reg, o); !r) return report(g, r.error());
  if (g.json)
    std::cout << to_json_text({{"registry", reg}, {"keys", keys}, {"partitions", o.partitions}}) << "\n";
  return kExitOk;
}

int cmd_register(const Globals& g, const std::string& reg, const std::string& key, const std::string& value,
                 const std::vector<std::string>& cmd) {
  // Block the stop signals first, so that one arriving right after the
  // registration is not lost before sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (cmd.empty()) pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto version = c->register_key(reg, key, value);
  if (!version) return report(g, version.error());
  if (!cmd.empty()) {
    // Same process, same pid: the entry now lives exactly as long as CMD.
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::cerr << "shmreg: cannot run " << cmd[0] << ": " << std::strerror(errno) << "\n";
    return 127;
  }
  if (g.json)
    std::cout << to_json_text({{"registry", reg}, {"key", key}, {"pid", ::getpid()}, {"version", *version}}) << std::endl;
  else
    std::cout << "registered " << key << " in " << reg << " as pid " << ::getpid() << "; holding until SIGINT/SIGTERM"
              << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  (void)c->unregister(reg, key);
  return kExitOk;
}

int cmd_lookup(const Globals& g, const std::string& reg, const std::string& key) {
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto r = open_registry(g, *c, reg, rc);
  if (!r) return rc;
  auto entries = r->lookup(key);
  if (!entries) return report(g, entries.error());
  if (g.json) {
    json arr = json::array();
    for (const auto& e : *entries) arr.push_back(entry_json(e, false));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& e : *entries) std::cout << e.pid << '\t' << e.value << '\n';
  }
  return entries->empty() ? kExitNotFound : kExitOk;
}

int cmd_keys(const Globals& g, const std::string& reg, std::uint32_t pid) {
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto r = open_registry(g, *c, reg, rc);
  if (!r) return rc;
  auto keys = r->keys(pid);
  if (!keys) return report(g, keys.error());
  if (g.json)
    std::cout << to_json_text(json(*keys)) << "\n";
  else
    for (const auto& k : *keys) std::cout << k << '\n';
  return keys->empty() ? kExitNotFound : kExitOk;
}

int cmd_count(const Globals& g, const std::string& reg) {
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto r = open_registry(g, *c, reg, rc);
  if (!r) return rc;
  auto n = r->count();
  if (!n) return report(g, n.error());
  if (g.json)
    std::cout << to_json_text({{"registry", reg}, {"count", *n}}) << "\n";
  else
    std::cout << *n << "\n";
  return kExitOk;
}

int cmd_list(const Globals& g, const std::string& reg) {
  int rc = 0;
  auto c = open_client(g, rc);
  if (!c) return rc;
  auto r = open_registry(g, *c, reg, rc);
  if (!r) return rc;
  auto entries = r->list();
  if (!entries) return report(g, entries.error());
  if (g.json) {
    json arr = json::array();
    for (const auto& e : *entries) arr.push_back(entry_json(e, true));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& e : *entries) std::cout << e.key << '\t' << e.pid << '\t' << e.value << '\n';
  }
  return entries->empty() ? kExitNotFound : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything after the first "--" is the command that `register` execs.
  std::vector<std::string> exec_cmd;
  int cli_argc = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      cli_argc = i;
      for (int j = i + 1; j < argc; ++j) exec_cmd.emplace_back(argv[j]);
      break;
    }

  CLI::App app{"shmreg: inspect and use a shmreg namespace"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--namespace,-n", g.ns, "namespace (default: $SHMREG_NAMESPACE or 'default')");
  app.add_option("--socket,-s", g.socket, "broker socket (default: $SHMREG_SOCKET or the standard path)");
  app.add_flag("--json", g.json, "print JSON instead of text");
  app.set_version_flag("--version", "shmreg 0.1.0");

  auto* ping = app.add_subcommand("ping", "exit 0 when the broker answers");

  std::string reg, key, value, keys_kind = "unique";
  std::uint32_t pid = 0;
  shmreg::RegistryOptions ropts;
  auto* create = app.add_subcommand("create", "create a registry (idempotent with the same options)");
  create->add_option("REG", reg, "registry name")->required();
  create->add_option("--keys", keys_kind, "unique or duplicate")->check(CLI::IsMember({"unique", "duplicate"}));
  create->add_option("--partitions", ropts.partitions, "number of partitions")->check(CLI::Range(1u, 64u));
  create->add_option("--max-key", ropts.max_key, "max key length in bytes (default: the broker's)");
  create->add_option("--max-value", ropts.max_value, "max value length in bytes (default: the broker's)");
  create->add_option("--capacity", ropts.capacity, "max entries (default: the broker's)");

  auto* reg_cmd = app.add_subcommand(
      "register", "register KEY for this process; with -- CMD, exec CMD (the entry lives as long as CMD), "
                  "else hold it until SIGINT/SIGTERM");
  reg_cmd->add_option("REG", reg, "registry name")->required();
  reg_cmd->add_option("KEY", key, "key")->required();
  reg_cmd->add_option("VALUE", value, "value")->required();
  reg_cmd->footer("Usage: shmreg register REG KEY VALUE [-- CMD [ARG...]]");

  auto* lookup = app.add_subcommand("lookup", "print PID<TAB>VALUE per entry; exit 1 if none");
  lookup->add_option("REG", reg, "registry name")->required();
  lookup->add_option("KEY", key, "key")->required();

  auto* keys = app.add_subcommand("keys", "print the keys PID holds in REG; exit 1 if none");
  keys->add_option("REG", reg, "registry name")->required();
  keys->add_option("PID", pid, "process id")->required();

  auto* count = app.add_subcommand("count", "print the number of entries in REG");
  count->add_option("REG", reg, "registry name")->required();

  auto* list = app.add_subcommand("list", "print KEY<TAB>PID<TAB>VALUE per entry; exit 1 if none");
  list->add_option("REG", reg, "registry name")->required();

  auto* dump = app.add_subcommand("dump", "print header, registries, owners and entries");
  auto* fsck = app.add_subcommand("fsck", "check every invariant of the segment; exit 1 if any is broken");
  shmreg::tools::QueryCommands queries(app);  // match, count-match, select, count-select, values
  // update, unregister-match, meta, put-meta, delete-meta; create --meta, register --pid, lookup --consistent
  shmreg::tools::SemanticsCommands semantics(app, create, ropts, reg_cmd, lookup);
  shmreg::tools::EventCommands events(app, reg_cmd, reg, key, value);
  shmreg::tools::MailboxCommands mailboxes(app);  // send, receive

  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return kExitError;
  }
  if (!exec_cmd.empty() && !reg_cmd->parsed()) {
    std::cerr << "shmreg: '-- CMD' is only valid with register\n";
    return kExitError;
  }

  if (auto rc = semantics.run(g.ns, g.socket, g.json, exec_cmd)) return *rc;
  if (auto rc = events.run(g.ns, g.socket, g.json, exec_cmd)) return *rc;
  if (auto rc = mailboxes.run(g.ns, g.socket, g.json)) return *rc;
  if (ping->parsed()) return cmd_ping(g);
  if (create->parsed()) return cmd_create(g, reg, keys_kind, ropts);
  if (reg_cmd->parsed()) return cmd_register(g, reg, key, value, exec_cmd);
  if (lookup->parsed()) return cmd_lookup(g, reg, key);
  if (keys->parsed()) return cmd_keys(g, reg, pid);
  if (count->parsed()) return cmd_count(g, reg);
  if (list->parsed()) return cmd_list(g, reg);
  if (dump->parsed()) return shmreg::tools::cmd_dump(g.ns, g.json);
  if (fsck->parsed()) return shmreg::tools::cmd_fsck(g.ns, g.json);
  if (auto rc = queries.run(g.ns, g.socket, g.json)) return *rc;
  return kExitError;
}
