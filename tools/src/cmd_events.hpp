// The CLI's event and owner-queue commands:
//   watch REG [KEY] [--from SEQ] [--count N] [--timeout S]
//         one event per line: SEQ<TAB>TYPE<TAB>KEY<TAB>PID[<TAB>OLD_PID]
//   await REG KEY [--timeout S]   exit 0 once KEY is registered, 1 on timeout
//   queue REG KEY                 PID<TAB>VALUE<TAB>primary|queued; exit 1 if none
// and D-Bus-style flags on register:
//   register --queue|--allow-replacement|--replace-existing|--do-not-queue ...
// With any of these flags register follows D-Bus RequestName: it prints the
// reply (primary_owner, in_queue, already_owner; exists exits 3 like a
// conflict) and then holds or execs like a plain register.
//
// Thread-safety: for main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace shmreg::tools {

class EventCommands {
 public:
  // Adds watch, await and queue to app, and the queue flags to register
  // (whose REG KEY VALUE land in the given strings).
  EventCommands(CLI::App& app, CLI::App* register_cmd, const std::string& reg, const std::string& key,
                const std::string& value);
  EventCommands(const EventCommands&) = delete;
  EventCommands& operator=(const EventCommands&) = delete;

  // After parse: the exit code of a command handled here, or nullopt.
  std::optional<int> run(const std::string& ns, const std::string& socket, bool json,
                         const std::vector<std::string>& exec_cmd) const;

 private:
  int watch(const std::string& ns, bool json) const;
  int await(const std::string& ns, bool json) const;
  int queue(const std::string& ns, bool json) const;
  int request_name(const std::string& ns, const std::string& socket, bool json,
                   const std::vector<std::string>& exec_cmd) const;

  CLI::App* watch_ = nullptr;
  CLI::App* await_ = nullptr;
  CLI::App* queue_ = nullptr;
  CLI::App* register_ = nullptr;
  const std::string& register_reg_;
  const std::string& register_key_;
  const std::string& register_value_;
  std::string reg_, key_;
  std::optional<std::uint64_t> from_;
  std::uint64_t count_ = 0;
  double timeout_s_ = -1;
  bool queue_flag_ = false, allow_replacement_ = false, replace_existing_ = false, do_not_queue_ = false;
};

// Registers nothing itself: after a successful registration, execs cmd (same
// pid, so the entry lives as long as cmd) or, without cmd, blocks until
// SIGINT/SIGTERM and then calls on_stop. Returns the exit code.
int hold_or_exec(const std::vector<std::string>& cmd, const std::function<void()>& on_stop);

}  // namespace shmreg::tools
