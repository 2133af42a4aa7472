// A broker per test for the integration suites.
//
// - BrokerTest: a GoogleTest fixture that starts `shmreg-broker` (fork+exec of
//   the built binary) on a namespace and socket of the test's own ("it<pid>-<n>",
//   socket in a mkdtemp directory), waits until it answers a ping, and at the
//   end stops it with SIGTERM (expecting exit 0) and removes
//   /dev/shm/shmreg.<ns> and /dev/shm/shmreg-lock.<ns>, however the test ended.
//   cli() runs the `shmreg` CLI against that broker.
// - BrokerProcess: one broker process, which a test may stop, crash (SIGKILL)
//   and start again on the same namespace.
// - RawConnection: bytes on the broker's socket, for hostile-peer tests.
//
// The harness links the wire protocol (public: RawConnection speaks it); the
// client library and the shm module are linked by the suites that use them.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::integration {

std::string broker_binary();
std::string cli_binary();

// "it<pid>-<n>": unique on the host while this process lives.
std::string unique_namespace();

// Removes /dev/shm/shmreg.<ns> and /dev/shm/shmreg-lock.<ns> if present.
void remove_namespace_files(const std::string& ns);

// Removes the files of "it<pid>-<n>" namespaces whose test process is gone:
// a test killed by a timeout never reaches its teardown.
void remove_namespaces_of_dead_tests();

// A raw client connection to a Unix socket.
class RawConnection {
 public:
  static std::optional<RawConnection> connect(const std::string& path);
  bool send(std::span<const std::uint8_t> bytes);
  // Exactly n bytes, or nullopt on EOF, error or timeout.
  std::optional<std::vector<std::uint8_t>> receive(std::size_t n, std::chrono::milliseconds timeout = kTimeout);
  // True once the peer has closed the connection (reads EOF or a reset);
  // bytes that arrive first are discarded.
  bool wait_for_close(std::chrono::milliseconds timeout = kTimeout);
  // Half-closes: the peer reads EOF, and may still answer.
  void shutdown_write();
  // One request frame of ops and its decoded reply, or nullopt.
  std::optional<std::vector<proto::OpResult>> call(const std::vector<proto::Op>& ops,
                                                   std::chrono::milliseconds timeout = kTimeout);
  // One ping frame and its reply: the broker's pid, or nullopt.
  std::optional<std::uint32_t> ping(std::chrono::milliseconds timeout = kTimeout);
  int fd() const { return fd_.get(); }

 private:
  explicit RawConnection(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
  std::uint32_t next_id_ = 1;
};

// One `shmreg-broker` process.
class BrokerProcess {
 public:
  BrokerProcess(std::string ns, std::string socket_path, std::string log_path);

  // Starts the broker and waits until it answers a ping on its socket with
  // its own pid; fails (with its log) if it exits first or times out.
  // max_open_files > 0 caps its RLIMIT_NOFILE.
  ::testing::AssertionResult start(const std::vector<std::string>& extra_args = {}, unsigned max_open_files = 0);
  // SIGTERM, then expects exit code 0.
  ::testing::AssertionResult stop();
  // SIGKILL: a crash.
  void kill_hard();
  pid_t pid() const { return process_.pid(); }
  bool running() const { return process_.running(); }
  // Everything the brokers of this object wrote to stderr.
  std::string log() const;
  std::vector<std::string> argv(const std::vector<std::string>& extra_args = {}) const;

 private:
  std::string ns_;
  std::string socket_;
  std::string log_path_;
  Subprocess process_;
  bool started_ = false;
};

// The fixture of most integration tests: one broker on a namespace and socket
// of the test's own.
class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest();
  ~BrokerTest() override;
  void SetUp() override;
  void TearDown() override;

  // `shmreg --namespace <ns> --socket <socket> args...`
  std::vector<std::string> cli_argv(const std::vector<std::string>& args) const;
  RunResult cli(const std::vector<std::string>& args) const { return run(cli_argv(args)); }
  // cli() that must exit 0; returns its stdout.
  std::string cli_ok(const std::vector<std::string>& args) const;
  // The pids in the PID<TAB>VALUE lines of `shmreg lookup`, with their values.
  std::vector<std::pair<pid_t, std::string>> cli_lookup(const std::string& reg, const std::string& key) const;
  // `shmreg count REG`, or -1 on any failure.
  long cli_count(const std::string& reg) const;

  const std::string& ns() const { return ns_; }
  const std::string& socket_path() const { return socket_; }
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

}  // namespace shmreg::integration
