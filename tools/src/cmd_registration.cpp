// The registration family of the CLI, every form of register in one place:
//   register REG KEY VALUE [-- CMD [ARG...]]
//         registers KEY for this process; with CMD, execs it (same pid, so
//         the entry lives as long as CMD), else holds the entry until
//         SIGINT/SIGTERM and then unregisters it.
//   register --queue|--allow-replacement|--replace-existing|--do-not-queue ...
//         the same under D-Bus RequestName rules: prints the reply
//         (primary_owner, in_queue, already_owner; exists exits 3 like a
//         conflict), then holds or execs like the plain form.
//   register --pid PID REG KEY VALUE
//         registers for PID instead (your own process, or any as root) and
//         exits; the entry lives as long as PID. --pid 0, --pid with a queue
//         flag (the broker queues only the caller itself) and --pid with
//         "-- CMD" are usage errors.
//   unregister REG KEY --pid PID
//         removes PID's entries under KEY; prints how many, exit 1 if none.
//   unregister-match REG KEY PATTERN [GUARDS] --pid PID
//         removes PID's entries under KEY whose value matches; prints how many.
// A shmreg process owns no entries once it exits, so unregister and
// unregister-match act for the process named with --pid.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

#include "commands.hpp"

namespace shmreg::tools {

namespace {

using namespace cli;

struct RegisterArgs {
  std::string reg, key, value;
  std::uint32_t pid = 0;
  CLI::Option* pid_option = nullptr;
  bool base64 = false;
  bool queue = false, allow_replacement = false, replace_existing = false, do_not_queue = false;

  bool follows_dbus_rules() const { return queue || allow_replacement || replace_existing || do_not_queue; }
  std::uint8_t queue_flags() const {
    std::uint8_t flags = 0;
    if (allow_replacement) flags |= kAllowReplacement;
    if (replace_existing) flags |= kReplaceExisting;
    if (do_not_queue) flags |= kDoNotQueue;
    return flags;
  }
};

int register_for_pid(const Globals& g, const RegisterArgs& a) {
  if (!g.exec_cmd.empty())
    return usage_error("register --pid registers for another process and exits; '-- CMD' is for this one");
  if (a.pid == 0)
    return usage_error("--pid 0 names no process: --pid PID registers the entry for the live process PID (one of "
                       "yours, or any as root), which owns it until it exits; without --pid, register holds the "
                       "entry itself (or, with -- CMD, hands it to CMD)");
  if (a.follows_dbus_rules())
    return usage_error("--queue, --allow-replacement, --replace-existing and --do-not-queue register this "
                       "process under D-Bus rules and cannot be combined with --pid: the broker queues only the "
                       "process that asks (use them with -- CMD to queue CMD)");
  auto c = open_client(g);
  if (!c) return c.error();
  auto version = c->register_key_for(ProcessRef::pid(a.pid), a.reg, a.key, a.value);
  if (!version) return report_error(g, version.error());
  if (g.json)
    std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"pid", a.pid}, {"version", *version}}) << "\n";
  else
    std::cout << "registered " << a.key << " in " << a.reg << " for pid " << a.pid << "\n";
  return kExitOk;
}

// Registers under RequestName rules and prints the reply; the exit code when
// the command ends here (an error, or the key exists), else nullopt.
std::optional<int> request_name(const Globals& g, const Client& c, const RegisterArgs& a) {
  auto r = c.request_name(a.reg, a.key, a.value, a.queue_flags());
  if (!r) return report_error(g, r.error());
  if (r->reply == QueueReply::exists) {
    if (g.json)
      std::cerr << to_json_text({{"error", "already_registered"}, {"pid", r->owner_pid}, {"reply", "exists"}}) << "\n";
    else
      std::cerr << "already registered by PID " << r->owner_pid << "\n";
    return kExitAlreadyRegistered;
  }
  if (!g.exec_cmd.empty()) return std::nullopt;
  if (g.json)
    std::cout << to_json_text(
                     {{"reply", std::string(to_string(r->reply))}, {"owner_pid", r->owner_pid}, {"pid", ::getpid()}})
              << std::endl;
  else
    std::cout << to_string(r->reply) << " (owner pid " << r->owner_pid << ")" << std::endl;
  return std::nullopt;
}

// Registers KEY for this process; the exit code when the command ends here
// (an error), else nullopt.
std::optional<int> register_self(const Globals& g, const Client& c, const RegisterArgs& a) {
  auto version = c.register_key(a.reg, a.key, a.value);
  if (!version) return report_error(g, version.error());
  if (!g.exec_cmd.empty()) return std::nullopt;
  if (g.json)
    std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"pid", ::getpid()}, {"version", *version}})
              << std::endl;
  else
    std::cout << "registered " << a.key << " in " << a.reg << " as pid " << ::getpid()
              << "; holding until SIGINT/SIGTERM" << std::endl;
  return std::nullopt;
}

// Execs cmd (same pid, so the entry lives as long as cmd); returns only if
// that fails.
int exec_command(const std::vector<std::string>& cmd) {
  std::vector<char*> argv;
  for (const auto& arg : cmd) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::cerr << "shmreg: cannot run " << cmd[0] << ": " << std::strerror(errno) << "\n";
  return kExitCannotExec;
}

int run_register(const Globals& g, const RegisterArgs& given) {
  RegisterArgs a = given;
  auto value = value_argument(given.value, given.base64);
  if (!value) return value.error();
  a.value = std::move(*value);
  if (a.pid_option->count() > 0) return register_for_pid(g, a);
  // Block the stop signals before registering, so that one arriving right
  // after the registration is not lost before sigwait. Not when CMD follows:
  // it would inherit the mask.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (g.exec_cmd.empty()) pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto c = open_client(g);
  if (!c) return c.error();
  if (auto rc = a.follows_dbus_rules() ? request_name(g, *c, a) : register_self(g, *c, a)) return *rc;
  if (!g.exec_cmd.empty()) return exec_command(g.exec_cmd);
  int sig = 0;
  sigwait(&stop, &sig);
  (void)c->unregister(a.reg, a.key);
  return kExitOk;
}

void add_register(CommandTable& table) {
  auto [c, a] = table.add<RegisterArgs>("register",
                                        "register KEY for this process; with -- CMD, exec CMD (the entry lives as "
                                        "long as CMD), else hold it until SIGINT/SIGTERM",
                                        run_register, TrailingCommand::accepted);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("VALUE", a.value, "value")->required();
  add_base64_flag(c, a.base64);
  c->footer("Usage: shmreg register REG KEY VALUE [-- CMD [ARG...]]");
  a.pid_option = c->add_option("--pid", a.pid,
                                "register for this process instead, and exit: the entry lives as long as PID "
                                "(your own process, or any as root)");
  c->add_flag("--queue", a.queue, "D-Bus rules: wait in the owner queue if KEY is taken");
  c->add_flag("--allow-replacement", a.allow_replacement, "D-Bus rules: let a later --replace-existing take KEY over");
  c->add_flag("--replace-existing", a.replace_existing, "D-Bus rules: take KEY over if its owner allows replacement");
  c->add_flag("--do-not-queue", a.do_not_queue, "D-Bus rules: fail (exit 3) instead of queueing");
}

struct UnregisterMatchArgs {
  std::string reg, key, pattern, guards;
  std::uint32_t pid = 0;
};

// Removes PID's entries under KEY that match; prints how many.
// none_is_not_found: none removed exits 1 (unregister), else 0 (unregister-match).
int remove_matching(const Globals& g, const UnregisterMatchArgs& a, bool none_is_not_found) {
  if (a.pid == 0) return usage_error(kNeedOwnerPid);
  auto c = open_client(g);
  if (!c) return c.error();
  auto n = c->unregister_match(a.reg, a.key, pattern_json(a.pattern), a.guards, ProcessRef::pid(a.pid));
  if (!n) return report_error(g, n.error());
  if (g.json)
    std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"pid", a.pid}, {"removed", *n}}) << "\n";
  else
    std::cout << "removed " << *n << "\n";
  return *n == 0 && none_is_not_found ? kExitNotFound : kExitOk;
}

void add_unregister(CommandTable& table) {
  auto [c, a] = table.add<UnregisterMatchArgs>(
      "unregister", "remove PID's entries under KEY; print how many, exit 1 if PID had none",
      [](const Globals& g, const UnregisterMatchArgs& args) { return remove_matching(g, args, true); });
  a.pattern = "_";  // every entry of PID under KEY
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("--pid", a.pid, "the owner of the entries (one of your processes, or any as root)");
}

void add_unregister_match(CommandTable& table) {
  auto [c, a] = table.add<UnregisterMatchArgs>(
      "unregister-match", "remove PID's entries under KEY whose value matches PATTERN and GUARDS; print how many",
      [](const Globals& g, const UnregisterMatchArgs& args) { return remove_matching(g, args, false); });
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("PATTERN", a.pattern, "JSON pattern: \"_\" (or a bare _) matches all, \"$1\" binds")->required();
  c->add_option("GUARDS", a.guards, "JSON array of guards, e.g. '[[\">\", \"$1\", 1]]'");
  c->add_option("--pid", a.pid, "the owner of the entries");
}

}  // namespace

void add_registration_commands(CommandTable& table) {
  add_register(table);
  add_unregister(table);
  add_unregister_match(table);
}

}  // namespace shmreg::tools
