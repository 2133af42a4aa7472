// shmreg: the command-line interface to a shmreg namespace. main parses the
// global options, lets each command family (commands.hpp) add its
// subcommands, and runs the one command that was parsed.
//
// Exit codes (scripts depend on them; cli.hpp maps errors to them, and
// docs/cli.md lists every command's):
//   0 success; 1 not found (lookup, keys, list, match, select, values, meta,
//   update, send, unset, unregister, registries; await, watch, receive:
//   timed out; fsck: problems found); 2 usage or any other error (a refused
//   reload, an unknown command included); 3 already registered; 4 version
//   conflict (update --expect-version); 124 timeout (the broker did not
//   answer within --timeout); 127 register -- CMD could not exec CMD.
// Every command but ping, create, register, update, unregister, unregister-match,
// put-meta, delete-meta, send, receive, set, unset, reload, status, cluster and
// lookup --consistent reads the segment alone, so it works while the broker is down.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"

namespace {

using namespace shmreg::tools;

// Splits argv at the first "--": what follows is the command that register
// execs; returns the argc to parse.
int split_exec_command(int argc, char** argv, std::vector<std::string>& exec_cmd) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) != "--") continue;
    for (int j = i + 1; j < argc; ++j) exec_cmd.emplace_back(argv[j]);
    return i;
  }
  return argc;
}

void add_global_options(CLI::App& app, cli::Globals& g, std::string& timeout_text) {
  // At most one command; none, or a word that is no command, is refused
  // after parsing (refuse_missing_command) with the list of commands, which
  // CLI11's own "A subcommand is required" does not give.
  app.require_subcommand(0, 1);
  app.add_option("--namespace,-n", g.ns, "namespace (default: $SHMREG_NAMESPACE or 'default')");
  app.add_option("--socket,-s", g.socket, "broker socket (default: $SHMREG_SOCKET or the standard path)");
  app.add_flag("--json", g.json, "print JSON instead of text");
  app.add_option("--timeout", timeout_text,
                 "deadline of each call to the broker, e.g. 500ms, 2s, 1m (default: $SHMREG_TIMEOUT or 10s); "
                 "exit 124 when it passes. Not the wait of watch, await or receive (their own --timeout)");
  app.set_version_flag("--version", "shmreg 0.1.0");
}

std::string command_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

// The usage error for what parsing left unclaimed: an unknown command (the
// first word when no command parsed), else unknown arguments; nullopt when
// a command parsed and nothing was left.
std::optional<int> refuse_unclaimed(const CLI::App& app, bool command_parsed) {
  const std::vector<std::string> left = app.remaining();
  if (!command_parsed && left.empty())
    return cli::usage_error("a command is required; the commands are " + command_names(app) +
                            " (shmreg --help, or shmreg COMMAND --help)");
  if (!command_parsed)
    return cli::usage_error("unknown command '" + left.front() + "'; the commands are " + command_names(app) +
                            " (shmreg --help)");
  if (left.empty()) return std::nullopt;
  std::string words;
  for (const auto& w : left) words += " " + w;
  return cli::usage_error("unknown argument(s):" + words + " (shmreg --help and shmreg COMMAND --help list the options)");
}

}  // namespace

int main(int argc, char** argv) {
  cli::Globals g;
  const int cli_argc = split_exec_command(argc, argv, g.exec_cmd);

  CLI::App app{"shmreg: inspect and use a shmreg namespace"};
  std::string timeout_text;
  add_global_options(app, g, timeout_text);
  cli::CommandTable commands(app, g);
  add_registries_commands(commands);
  add_registration_commands(commands);
  add_lookups_commands(commands);
  add_values_commands(commands);
  add_events_commands(commands);
  add_mailboxes_commands(commands);
  add_config_commands(commands);
  add_segment_commands(commands);
  add_cluster_commands(commands);
  // Set after the commands were added, so that they do not inherit it: their
  // own unknown options stay CLI11's errors, which name the command.
  app.allow_extras();

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
    return cli::kExitError;
  }
  if (auto refused = refuse_unclaimed(app, commands.parsed())) return *refused;
  if (auto ok = cli::resolve_timeout(g, timeout_text); !ok) return ok.error();
  return commands.run_parsed();
}
