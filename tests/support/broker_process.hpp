// A real `shmreg-broker` per test or benchmark, and raw bytes on its socket.
//
// - BrokerProcess: one broker process (fork+exec of the built binary) on a
//   namespace and socket the caller chooses; it may be stopped, crashed
//   (SIGKILL) and started again on the same namespace. start() waits until the
//   broker answers a ping with its own pid.
// - RawConnection: bytes on the broker's socket, for hostile-peer tests and
//   for waiting on a broker.
// - unique_namespace() and the clean-up of namespace files that tests leave
//   behind when a timeout kills them.
//
// No GoogleTest in here (benchmarks link it): failures come back as
// std::expected with a message that carries the broker's log. BrokerTest
// (broker_test.hpp) is the GoogleTest fixture over it.
//
// Thread-safety: for the caller's main thread.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::test {

std::string broker_binary();
// The whole content of a file ("" when it cannot be read): logs, lock files.
std::string file_text(const std::string& path);
std::string cli_binary();

// "it<pid>-<n>": unique on the host while this process lives.
std::string unique_namespace();

// The segment and lock file of ns in a broker's runtime directory dir (the
// directory of its socket; proto/paths.hpp).
std::string segment_path(const std::string& dir, const std::string& ns);
std::string lock_path(const std::string& dir, const std::string& ns);

// Removes the segment and the lock file of ns in dir if present.
void remove_namespace_files(const std::string& dir, const std::string& ns);

// Removes the segments and lock files of "it<pid>-<n>" namespaces whose test
// process is gone, from every TempDir left behind: a test killed by a timeout
// never reaches its teardown.
void remove_namespaces_of_dead_tests();

// A raw client connection to a Unix socket.
class RawConnection {
 public:
  static std::optional<RawConnection> connect(const std::string& path);
  // A socket connected elsewhere (by a child, say: the broker names whoever
  // called connect as the peer).
  static RawConnection adopt(sys::UniqueFd fd) { return RawConnection(std::move(fd)); }
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
  explicit RawConnection(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  sys::UniqueFd fd_;
  std::uint32_t next_id_ = 1;
};

// One `shmreg-broker` process.
class BrokerProcess {
 public:
  BrokerProcess(std::string ns, std::string socket_path, std::string log_path);

  // Starts the broker and waits until it answers a ping on its socket with
  // its own pid; fails (with its log) if it exits first or times out.
  // max_open_files > 0 caps its RLIMIT_NOFILE.
  std::expected<void, std::string> start(const std::vector<std::string>& extra_args = {}, unsigned max_open_files = 0);
  // SIGTERM, then expects exit code 0; else the error says what happened.
  std::expected<void, std::string> stop();
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

}  // namespace shmreg::test
