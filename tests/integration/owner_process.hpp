// OwnerProcess: a forked child that owns registrations through libshmreg and
// does what the test tells it, one line at a time.
//
// Commands (tokens separated by single spaces; keys and values in the tests
// carry no spaces):
//   register REG KEY VALUE   -> "ok <version>" | "error <errc> <pid> <message>"
//   unregister REG KEY       -> "ok <removed>" | "error ..."
//   create REG unique|duplicate
//                            -> "ok" | "error ..."
//   ping                     -> "ok <broker pid>" | "error ..."
//   close                    -> destroys its Client (and so its connection): "ok"
//   open                     -> opens a new Client: "ok" | "error ..."
//   exit CODE                -> exits with CODE, answering nothing
// The child answers "ready" once its first Client is open, and exits 0 when
// the test closes the channel.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {

inline std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

inline std::string describe_error(const shmreg::Error& e) {
  return "error " + std::string(shmreg::to_string(e.code)) + " " + std::to_string(e.pid) + " " + e.message;
}

inline shmreg::Result<shmreg::Client> open_client(const std::string& ns, const std::string& socket) {
  return shmreg::Client::open({ns, socket});
}

class OwnerProcess {
 public:
  // Forks the owner and waits for its "ready".
  static OwnerProcess start(const std::string& ns, const std::string& socket) {
    OwnerProcess o;
    o.child_ = ForkedChild::start([ns, socket](ChildChannel& ch) { return serve(ch, ns, socket); });
    o.ready_ = o.child_.receive() == std::optional<std::string>("ready");
    return o;
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return child_.pid(); }
  ForkedChild& process() { return child_; }

  // The raw answer to a command line; nullopt if the child did not answer.
  std::optional<std::string> request(const std::string& line) { return child_.request(line); }

  ::testing::AssertionResult registers(const std::string& reg, const std::string& key, const std::string& value) {
    return expect_ok("register " + reg + " " + key + " " + value);
  }
  ::testing::AssertionResult expect_ok(const std::string& line) {
    auto answer = request(line);
    if (!answer) return ::testing::AssertionFailure() << "pid " << pid() << " did not answer '" << line << "'";
    if (answer->rfind("ok", 0) != 0)
      return ::testing::AssertionFailure() << "pid " << pid() << " answered '" << *answer << "' to '" << line << "'";
    return ::testing::AssertionSuccess();
  }

 private:
  static int serve(ChildChannel& ch, const std::string& ns, const std::string& socket) {
    std::optional<shmreg::Client> client;
    auto open = [&]() -> std::optional<std::string> {
      auto c = open_client(ns, socket);
      if (!c) return describe_error(c.error());
      client.emplace(std::move(*c));
      return std::nullopt;
    };
    if (auto err = open()) {
      ch.send(*err);
      return 1;
    }
    ch.send("ready");
    while (auto line = ch.receive()) {
      const std::vector<std::string> w = split_words(*line);
      if (w.empty()) continue;
      const std::string& cmd = w[0];
      if (cmd == "exit" && w.size() == 2) return std::stoi(w[1]);
      if (cmd == "close") {
        client.reset();
        ch.send("ok");
        continue;
      }
      if (cmd == "open") {
        auto err = open();
        ch.send(err ? *err : std::string("ok"));
        continue;
      }
      if (!client) {
        ch.send("error no_client 0 closed");
        continue;
      }
      if (cmd == "register" && w.size() == 4) {
        auto r = client->register_key(w[1], w[2], w[3]);
        ch.send(r ? "ok " + std::to_string(*r) : describe_error(r.error()));
      } else if (cmd == "unregister" && w.size() == 3) {
        auto r = client->unregister(w[1], w[2]);
        ch.send(r ? "ok " + std::to_string(*r) : describe_error(r.error()));
      } else if (cmd == "create" && w.size() == 3) {
        shmreg::RegistryOptions o;
        o.unique = w[2] == "unique";
        auto r = client->create_registry(w[1], o);
        ch.send(r ? std::string("ok") : describe_error(r.error()));
      } else if (cmd == "ping") {
        auto r = client->ping();
        ch.send(r ? "ok " + std::to_string(*r) : describe_error(r.error()));
      } else {
        ch.send("error bad_command 0 " + *line);
      }
    }
    return 0;
  }

  ForkedChild child_;
  bool ready_ = false;
};

}  // namespace shmreg::test
