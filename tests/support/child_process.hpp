// Child processes for the tests and benchmarks, with deadlines and no fixed
// sleeps. No GoogleTest in here: benchmarks link it too.
//
// - run(): runs a short-lived process (the CLI) to completion and captures its
//   exit status, stdout and stderr.
// - Subprocess: a long-lived exec'd process (a broker, `shmreg register -- CMD`).
// - ForkedChild: a function run in a forked child, talking to the test through
//   a line-oriented channel. The child starts with only stdio, its channel and
//   the fds the caller keeps open, and dies with the test process
//   (PR_SET_PDEATHSIG), so that a crashed test leaves no strays behind.
// - ChildProcess, their base: waits on a pidfd with a deadline, and kills and
//   reaps at destruction whatever is still running.
// - wait_until(): polls a predicate until it holds or a deadline passes. Tests
//   assert what happened by the deadline, never how long it took.
//
// Thread-safety: for the test's main thread. Children are forked from it; the
// suites start no threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long anything may take before the test gives up on it. Generous: the
// suites share a small machine with other builds; no assertion depends on it.
inline constexpr std::chrono::milliseconds kTimeout = 20s;

// Polls pred every couple of milliseconds until it returns true or timeout
// passes; returns pred's last answer.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = kTimeout);

// The milliseconds left until deadline, as poll(2) takes them (0 when past).
int poll_timeout_ms(Clock::time_point deadline);

// sys::Pipe::make(), throwing std::runtime_error when pipe2 fails: a test
// cannot go on without its pipe.
sys::Pipe make_pipe();

// The second uid of the access tests (CI runs as root): nobody/nogroup.
inline constexpr uid_t kNobodyUid = 65534;
inline constexpr gid_t kNobodyGid = 65534;

// Drops every privilege of the calling (forked) process to nobody/nogroup:
// supplementary groups, then real/effective/saved gid and uid. False, with
// errno set, when one step fails; the caller must then not go on.
bool become_nobody();

// Where TempDirs are made: the system's temporary directory when its path is
// short, else /tmp.
std::string temp_base_dir();
inline constexpr std::string_view kTempDirPrefix = "shmreg-it-";

// A directory from mkdtemp, mode 0755 (so that a process run as nobody can
// reach a socket or a segment in it, while only root can create entries),
// removed with its contents at destruction.
class TempDir {
 public:
  // In base (default: temp_base_dir()); a benchmark passes a tmpfs.
  explicit TempDir(const std::string& base = temp_base_dir());
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads whole lines from an fd it does not own, with a deadline.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its '\n'; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = kTimeout);

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

// "exited with code 3", "killed by SIGKILL".
std::string describe_wait_status(int status);

// A child process of the test, killed (SIGKILL) and reaped at destruction if
// it is still there.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  bool signal(int sig) const noexcept;
  // True until the process has exited (a zombie counts as exited).
  bool running() const noexcept;
  // Waits for the exit and reaps; the wait status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = kTimeout);
  // SIGKILL, then wait.
  std::optional<int> kill_and_wait(std::chrono::milliseconds timeout = kTimeout);
  // Takes charge of a child the caller forked.
  void adopt(pid_t pid);

 private:
  pid_t pid_ = -1;
  sys::UniqueFd pidfd_;
  bool reaped_ = true;
};

struct SpawnOptions {
  std::string stdout_path;  // empty: /dev/null (unless stdout_pipe)
  std::string stderr_path;  // empty: /dev/null
  bool stdout_pipe = false;
  bool stdin_pipe = false;  // else /dev/null
  unsigned max_open_files = 0;  // > 0: RLIMIT_NOFILE (soft and hard) of the process
};

// An exec'd process.
class Subprocess : public ChildProcess {
 public:
  static Subprocess spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  // With stdout_pipe: the next line it printed.
  std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout = kTimeout);
  // With stdin_pipe: closing it gives the process EOF.
  void close_stdin() { stdin_.reset(); }
  int stdin_fd() const { return stdin_.get(); }

 private:
  sys::UniqueFd stdin_;
  sys::UniqueFd stdout_;
  std::optional<LineReader> stdout_reader_;
};

struct RunResult {
  int status = 0;           // wait status
  bool timed_out = false;   // killed at the deadline
  std::string out;
  std::string err;
  // The exit code, or -1 when the process did not exit normally.
  int exit_code() const;
  std::string describe() const;  // for failure messages
};

// Runs argv to completion (stdin /dev/null), capturing both outputs.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = kTimeout);

// The child's end of a ForkedChild's channel.
class ChildChannel {
 public:
  ChildChannel(int from_parent, int to_parent) : in_(from_parent), out_(to_parent), reader_(from_parent) {}
  bool send(std::string_view line);
  // Blocks for the next line; nullopt when the parent closed the channel.
  std::optional<std::string> receive();

 private:
  int in_;
  int out_;
  LineReader reader_;
};

// In a child: sends msg to the test and returns code, for
// `return child_report(ch, "what went wrong");`.
inline int child_report(ChildChannel& ch, std::string_view msg, int code = 1) {
  ch.send(msg);
  return code;
}

// A function run in a forked child. The child ends with _exit(body(channel));
// it never returns into GoogleTest. Only stdio, the channel and keep_fds stay
// open in the child.
class ForkedChild : public ChildProcess {
 public:
  static ForkedChild start(const std::function<int(ChildChannel&)>& body, std::vector<int> keep_fds = {});
  bool send(std::string_view line);
  std::optional<std::string> receive(std::chrono::milliseconds timeout = kTimeout);
  // send() then receive().
  std::optional<std::string> request(std::string_view line, std::chrono::milliseconds timeout = kTimeout);

 private:
  sys::UniqueFd to_child_;
  sys::UniqueFd from_child_;
  std::optional<LineReader> reader_;
};

}  // namespace shmreg::test
