// The CLI's send-by-name commands (docs/send-by-name.md):
//   send REG KEY [MESSAGE] [--stdin]
//         has the broker route MESSAGE (or stdin's bytes) to KEY's owner's
//         mailbox; prints where it went. Exit 1 if nobody owns KEY; 2 if no
//         owner has a mailbox, every mailbox is full, or any other error.
//   receive REG KEY [VALUE] [--count N] [--timeout S]
//         opens this process's mailbox, registers KEY in REG (owned by this
//         process, so it is reaped when the command ends), then prints each
//         message: SENDER_PID<TAB>BODY, one per line. Ends after N messages
//         (exit 0), at the timeout (exit 0 without --count, 1 if fewer than
//         N came), or on SIGINT/SIGTERM (exit 0).
//
// Thread-safety: for main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace shmreg::tools {

class MailboxCommands {
 public:
  // Adds send and receive to app; their arguments land in this object.
  explicit MailboxCommands(CLI::App& app);
  MailboxCommands(const MailboxCommands&) = delete;
  MailboxCommands& operator=(const MailboxCommands&) = delete;

  // After app.parse: the exit code of the command given, or nullopt.
  std::optional<int> run(const std::string& ns, const std::string& socket, bool json) const;

 private:
  int send(const std::string& ns, const std::string& socket, bool json) const;
  int receive(const std::string& ns, const std::string& socket, bool json) const;

  CLI::App* send_ = nullptr;
  CLI::App* receive_ = nullptr;
  std::string reg_, key_, message_, value_;
  bool from_stdin_ = false;
  std::uint64_t count_ = 0;
  double timeout_s_ = -1;
};

}  // namespace shmreg::tools
