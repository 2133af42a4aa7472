// PolicyTest: a broker started on a configuration file the test writes, and
// the processes of uid nobody (65534, group nogroup) that the policy and the
// quotas are checked against. CI runs as root, which passes every access
// list, so every rule is shown on a process of another uid.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {

class PolicyTest : public BrokerTest {
 protected:
  std::string config_file() const { return dir().path() + "/broker.toml"; }

  // Restarts the broker on a configuration file holding toml.
  ::testing::AssertionResult start_with_config(const std::string& toml) {
    std::ofstream(config_file()) << toml;
    if (auto stopped = stop_broker(); !stopped) return stopped;
    return start_broker({"--segment-size", "16M", "--config", config_file()});
  }

  // An actor (actor.hpp) whose process runs as nobody/nogroup and connected
  // as such.
  Actor nobody_actor() {
    Actor a = Actor::start(ns(), socket_path());
    EXPECT_TRUE(a.ready());
    EXPECT_TRUE(a.expect_ok({"setresuid", "65534", "65534", "65534"}));
    EXPECT_TRUE(a.expect_ok({"close"}));
    EXPECT_TRUE(a.expect_ok({"open"}));
    return a;
  }

  // Runs body in a forked process of uid nobody on a client of this broker;
  // its answer is an actor's ("ok..." or error_line()), split in fields.
  std::vector<std::string> as_nobody(const std::function<std::string(const shmreg::Client&)>& body) {
    const std::string ns_name = ns(), socket = socket_path();
    ForkedChild child = ForkedChild::start([&](ChildChannel& ch) {
      if (!become_nobody()) return child_report(ch, "become_nobody failed");
      auto c = shmreg::Client::open({ns_name, socket});
      ch.send(c ? body(*c) : error_line(c.error()));
      return 0;
    });
    auto line = child.receive();
    return line ? split_fields(*line) : std::vector<std::string>{"no answer"};
  }

  // One op sent by a process of uid nobody on a raw connection (for the ops
  // the client library does not offer yet): "<status>\t<message>".
  std::string raw_as_nobody(const proto::Op& op) {
    const std::string socket = socket_path();
    ForkedChild child = ForkedChild::start([&](ChildChannel& ch) {
      if (!become_nobody()) return child_report(ch, "become_nobody failed");
      auto c = RawConnection::connect(socket);
      auto r = c ? c->call({op}) : std::nullopt;
      if (!r || r->size() != 1) return child_report(ch, "no reply");
      ch.send(std::to_string(static_cast<int>((*r)[0].status)) + "\t" + (*r)[0].message);
      return 0;
    });
    return child.receive().value_or("no answer");
  }
};

// An answer's message names text.
inline ::testing::AssertionResult names(const std::vector<std::string>& answer, const std::string& text) {
  if (message_of(answer).find(text) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << join_fields(answer) << "' does not name '" << text << "'";
}

}  // namespace shmreg::test
