// BrokerTest: the GoogleTest fixture of every test that needs a real broker.
//
// Each test gets a `shmreg-broker` of its own on a namespace ("it<pid>-<n>")
// and a socket (in a mkdtemp directory) of its own, started in SetUp and
// stopped in TearDown with SIGTERM (expecting exit 0); the namespace's files
// are removed however the test ended, and the broker's log is printed when the
// test failed. cli() runs the `shmreg` CLI against that broker.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker_process.hpp"

namespace shmreg::test {

// (pid, value) pairs, as `shmreg lookup` prints them.
using Lookup = std::vector<std::pair<pid_t, std::string>>;

// A harness result as a GoogleTest assertion: ASSERT_TRUE(succeeded(...)).
::testing::AssertionResult succeeded(const std::expected<void, std::string>& result);

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest();
  ~BrokerTest() override;
  void SetUp() override;
  void TearDown() override;

  // broker().start() and broker().stop() as assertions, with the broker's log
  // in the failure message.
  ::testing::AssertionResult start_broker(const std::vector<std::string>& extra_args = {},
                                          unsigned max_open_files = 0) {
    return succeeded(broker().start(extra_args, max_open_files));
  }
  ::testing::AssertionResult stop_broker() { return succeeded(broker().stop()); }

  // `shmreg --namespace <ns> --socket <socket> args...`
  std::vector<std::string> cli_argv(const std::vector<std::string>& args) const;
  RunResult cli(const std::vector<std::string>& args) const { return run(cli_argv(args)); }
  // cli() that must exit 0; returns its stdout.
  std::string cli_ok(const std::vector<std::string>& args) const;
  // The pids in the PID<TAB>VALUE lines of `shmreg lookup`, with their values.
  Lookup cli_lookup(const std::string& reg, const std::string& key) const;
  // `shmreg count REG`, or -1 on any failure.
  long cli_count(const std::string& reg) const;

  const std::string& ns() const { return ns_; }
  const std::string& socket_path() const { return socket_; }
  // The broker's segment file: <ns>.segment beside its socket.
  std::string segment_file() const { return segment_path(dir_.path(), ns_); }
  BrokerProcess& broker() { return *broker_; }
  const TempDir& dir() const { return dir_; }

  // Extra broker arguments for SetUp (e.g. a smaller segment).
  virtual std::vector<std::string> broker_args() const { return {"--segment-size", "16M"}; }

 private:
  std::string ns_;
  TempDir dir_;
  std::string socket_;
  std::optional<BrokerProcess> broker_;
};

}  // namespace shmreg::test
