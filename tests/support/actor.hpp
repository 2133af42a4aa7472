// Actor: the one forked child process that uses libshmreg as a test tells it,
// one command line at a time. Each actor is a real process with its own pid,
// so ownership, reaping and the broker's permission checks see exactly what
// they would in production.
//
// One syntax: a command is tab-separated fields (values in the tests hold no
// tabs; an empty field is allowed), and so is its answer: "ok[\t...]" or
// "error\t<errc>\t<pid>\t<message>". The commands, by op family:
//   connection:   ping -> ok BROKER_PID | close -> ok (destroys the Client and
//                 its mailboxes: the broker sees EOF) | open -> ok (a new
//                 Client) | exit CODE (exits, answering nothing) |
//                 setresuid R E S -> ok (before the actor's first write, which connects)
//   registries:   create REG unique|duplicate [MAX_VALUE [CAPACITY]] -> ok
//   registration: register REG KEY VALUE -> ok VERSION
//                 register_filled REG KEY SIZE -> ok VERSION (a value of SIZE 'x's)
//                 register_for PID REG KEY VALUE -> ok VERSION (the client opens a pidfd)
//                 register_for_pidfd PID REG KEY VALUE -> ok VERSION (the actor opens it)
//                 hold_pidfd PID -> ok (a pidfd opened now, for register_for_held)
//                 register_for_held REG KEY VALUE -> ok VERSION
//                 unregister REG KEY -> ok REMOVED
//                 unregister_match REG KEY PATTERN GUARDS [PID] -> ok REMOVED
//   values:       update REG KEY VALUE [PID] -> ok VERSION OLD NEW (PID: acting for it)
//                 update_throwing REG KEY -> the error of an update function that throws
//                 set REG KEY VALUE EXPECTED|- -> ok VERSION
//                 increment REG KEY COUNT THREADS -> ok (each thread COUNT update_value +1s)
//                 put_meta REG KEY VALUE -> ok | delete_meta REG KEY -> ok 1|0
//   lookups:      lookup_consistent REG KEY -> ok PID=VALUE,... (in the broker's order)
//   mailboxes:    open_mailbox -> ok (another Mailbox; the old ones stay open)
//                 close_mailbox -> ok (closes them all) | reopened -> ok N (newest mailbox)
//                 receive MS -> ok SENDER_PID SENDER_UID DROPPED REG KEY BODY_HEX | ok none
//                 receive_seq COUNT MS -> ok DROPPED_TOTAL (bodies "0".."COUNT-1", in order)
//                 send REG KEY BODY -> ok PID,PID... NO_MAILBOX MAILBOX_FULL
//                 send_seq REG KEY COUNT -> ok DELIVERED FULL (bodies "0".."COUNT-1")
// The actor answers "ready" once its Client is open (or its error line), and
// exits 0 when the test closes the channel.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "child_process.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {

std::vector<std::string> split_fields(const std::string& line);
std::string join_fields(const std::vector<std::string>& fields);
// "error\t<errc>\t<pid>\t<message>"
std::string error_line(const shmreg::Error& e);

// Bytes as lowercase hex, as receive answers a message's body.
std::string to_hex(std::string_view bytes);

// gtest's view of an answer: "ok ..." or the whole answer.
::testing::AssertionResult is_ok(const std::vector<std::string>& answer);
// The errc of an error answer, or "" for any other answer.
std::string errc_of(const std::vector<std::string>& answer);
// The message of an error answer, or "".
std::string message_of(const std::vector<std::string>& answer);

class Actor {
 public:
  // Forks the actor on a client of (ns, socket) and waits for its "ready".
  static Actor start(const std::string& ns, const std::string& socket);

  bool ready() const { return ready_; }
  pid_t pid() const { return child_.pid(); }
  ForkedChild& process() { return child_; }

  // The answer's fields; {"no answer"} if the actor did not answer.
  std::vector<std::string> ask(const std::vector<std::string>& command);
  // Sends without waiting for the answer (collect it with answer()).
  bool send(const std::vector<std::string>& command);
  std::vector<std::string> answer();

  // ask() that must answer ok; the failure names the actor, command and answer.
  ::testing::AssertionResult expect_ok(const std::vector<std::string>& command);
  ::testing::AssertionResult registers(const std::string& reg, const std::string& key, const std::string& value) {
    return expect_ok({"register", reg, key, value});
  }
  ::testing::AssertionResult unregisters(const std::string& reg, const std::string& key) {
    return expect_ok({"unregister", reg, key});
  }

 private:
  ForkedChild child_;
  bool ready_ = false;
};

// A process that only exists: the target of writes on its behalf. It answers
// "ready", then "ok" to every line, until the test closes its channel (or
// kills it).
ForkedChild start_bystander();
// A bystander that first drops to the given real, effective and saved uids.
ForkedChild start_bystander_as(uid_t real, uid_t effective, uid_t saved);

}  // namespace shmreg::test
