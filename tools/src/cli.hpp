// What every `shmreg` command shares: the global options, the exit codes of
// the CLI contract and the one mapping from a client error to them, the one
// format of error messages, JSON text that survives non-UTF-8 bytes, and the
// table through which each command family adds its subcommands and main runs
// the one command that was parsed.
//
// Exit codes (scripts depend on them; docs/cli.md has every command's):
//   0 success; 1 not found / none / a wait timed out; 2 usage or any other error;
//   3 already registered ("already registered by PID <n>" on stderr);
//   4 version conflict (update --expect-version);
//   5 untrusted: the segment or the broker's socket is not a trusted broker's
//     (the message names the path, the uid and the mode);
//   124 timeout: the broker did not answer within --timeout (124 is what
//       timeout(1) exits with when its command timed out);
//   127 register -- CMD could not exec CMD (a shell's code for that).
//
// Thread-safety: for main's thread only (writes to std::cout and std::cerr).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmreg/shmreg.hpp"

namespace shmreg::tools::cli {

// The options before the command, and what followed "--".
struct Globals {
  std::string ns;                     // --namespace; empty: $SHMREG_NAMESPACE or "default"
  std::string socket;                 // --socket; empty: $SHMREG_SOCKET or the standard path
  bool json = false;                  // --json
  std::chrono::nanoseconds timeout{0};  // --timeout, else $SHMREG_TIMEOUT; zero: the client's default
  std::vector<std::string> exec_cmd;  // after "--": the command that register execs
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitError = 2;
inline constexpr int kExitAlreadyRegistered = 3;
inline constexpr int kExitVersionConflict = 4;
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitCannotExec = 127;  // register -- CMD: CMD could not be exec'd

// A positive duration: a decimal number with the unit ms, s or m, or without
// a unit in seconds ("500ms", "2s", "1.5"); nullopt otherwise.
[[nodiscard]] std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The wait of a command's own --timeout S (watch, await): a negative or
// non-finite one waits for ever (a century, in practice).
[[nodiscard]] std::chrono::nanoseconds wait_duration(double seconds);

// Sets g.timeout from the --timeout text, else from $SHMREG_TIMEOUT; the
// usage error's exit code when the one that applies is not a duration.
[[nodiscard]] std::expected<void, int> resolve_timeout(Globals& g, const std::string& flag_text);
inline constexpr int kExitUntrusted = 5;  // the segment or the broker is not one this user trusts

// Why update and unregister-match insist on --pid.
inline constexpr const char* kNeedOwnerPid =
    "a shmreg process owns no entries of its own: name the owner with --pid PID "
    "(one of your processes, or any as root), e.g. the child of `shmreg register ... -- CMD`";

// A match pattern as the commands take it: a bare _ is not JSON, so it is
// taken for the wildcard "_", saving shell quoting; anything else as given.
[[nodiscard]] std::string pattern_json(const std::string& pattern);

// The CLI contract's exit code for a client error: the one place that maps them.
[[nodiscard]] int exit_code_of(Errc code) noexcept;

// Prints e on stderr (text, or JSON with --json) and returns exit_code_of(e.code).
int report_error(const Globals& g, const Error& e);

// Prints "shmreg: <message>" on stderr and returns kExitError.
int usage_error(const std::string& message);

// Bytes as one field of a text line: backslash, tab, newline, carriage
// return and every other control byte (and DEL) escaped C-style (\\, \t, \n,
// \r, \xHH), so that a line is one entry and a field never splits.
[[nodiscard]] std::string escaped(std::string_view bytes);

// The VALUE argument of a write: as given, or decoded when the command's
// --base64 flag was given (the form --json prints a value that is not
// UTF-8 in); the usage error's exit code when it is not base64.
[[nodiscard]] std::expected<std::string, int> value_argument(const std::string& text, bool base64);
// Adds that --base64 flag to cmd.
void add_base64_flag(CLI::App* cmd, bool& flag);

// Values are bytes: invalid UTF-8 is replaced rather than thrown on.
[[nodiscard]] std::string to_json_text(const nlohmann::json& j, int indent = -1);

// An entry's owner as text prints it: its pid, or "static" for pid 0, an
// entry the namespace owns (`shmreg set`).
[[nodiscard]] std::string owner_text(std::uint32_t pid);
// An entry's owner: owner_text(pid) here, HOST:PID for a remote owner (an
// entry of another host in a cluster registry).
[[nodiscard]] std::string owner_text(const Entry& e);

// {"pid", "value", "version"} and, with_key, "key"; a static entry (pid 0)
// also has "static": true. A key or value that is not UTF-8 is
// "key_base64" / "value_base64" instead (json_bytes.hpp).
[[nodiscard]] nlohmann::json entry_json(const Entry& e, bool with_key);

// The client of g's namespace, or the exit code once the error is printed.
[[nodiscard]] std::expected<Client, int> open_client(const Globals& g);
// One registry of g's namespace (it keeps its client alive), or the exit code
// once the error is printed.
[[nodiscard]] std::expected<Registry, int> open_registry(const Globals& g, const std::string& name);

// Whether a command accepts "-- CMD" after its arguments.
enum class TrailingCommand { refused, accepted };

// The subcommands of the CLI, each with the function that runs it. A family
// adds its commands here; main parses, then calls run_parsed once.
class CommandTable {
 public:
  using Run = std::function<int(const Globals&)>;

  // A command just added: its subcommand, to which the caller adds options
  // that fill args, and those args (owned by the table, so they live as long
  // as it does) that its run function will read.
  template <class Args>
  struct Added {
    CLI::App* cmd;
    Args& args;
  };

  // g is read when a command runs, so it must outlive run_parsed.
  CommandTable(CLI::App& app, const Globals& g) : app_(app), g_(g) {}
  CommandTable(const CommandTable&) = delete;
  CommandTable& operator=(const CommandTable&) = delete;

  // Adds subcommand `name`, run by run(g) once parsed.
  CLI::App* add(const std::string& name, const std::string& help, Run run,
                TrailingCommand trailing = TrailingCommand::refused);

  // Adds subcommand `name` with arguments of its own, run by run(g, args)
  // once parsed.
  template <class Args, class RunWithArgs>
  Added<Args> add(const std::string& name, const std::string& help, RunWithArgs run,
                  TrailingCommand trailing = TrailingCommand::refused) {
    auto args = std::make_shared<Args>();
    CLI::App* cmd = add(
        name, help, [args, run = std::move(run)](const Globals& g) { return run(g, *args); }, trailing);
    return {cmd, *args};
  }

  // REQUIRES: the app parsed without error. The exit code of the command that
  // was parsed, or kExitError (with the reason on stderr) when "-- CMD" was
  // given to a command that refuses it.
  [[nodiscard]] int run_parsed() const;

  // Whether one of the table's commands was parsed.
  [[nodiscard]] bool parsed() const;

 private:
  struct Command {
    CLI::App* subcommand;
    Run run;
    TrailingCommand trailing;
  };
  CLI::App& app_;
  const Globals& g_;
  std::vector<Command> commands_;
};

}  // namespace shmreg::tools::cli
