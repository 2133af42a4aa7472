// Child processes for the tests and benchmarks (see child_process.hpp).
#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "shmreg/sys/io.hpp"
#include "shmreg/sys/pidfd.hpp"

namespace shmreg::test {

namespace {

[[noreturn]] void fail_setup(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// In a freshly forked child: die with the test process, and close every fd
// above stderr except `keep`.
void prepare_child(pid_t parent, std::vector<int> keep) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(125);  // the parent died before prctl
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (const int fd : keep) {
    if (fd < 3) continue;
    if (static_cast<unsigned>(fd) > from) ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(from, ~0u, 0);
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

sys::UniqueFd open_output(const std::string& path) {
  const char* p = path.empty() ? "/dev/null" : path.c_str();
  sys::UniqueFd fd(::open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) fail_setup("open " + std::string(p));
  return fd;
}

}  // namespace

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);  // a polling interval, not a wait for an outcome
  }
  return pred();
}

int poll_timeout_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// -- Pipes, TempDir, LineReader ------------------------------------------------------------------

sys::Pipe make_pipe() {
  sys::Pipe p = sys::Pipe::make();
  if (!p.read) fail_setup("pipe2");
  return p;
}

bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setresgid(kNobodyGid, kNobodyGid, kNobodyGid) == 0 &&
         ::setresuid(kNobodyUid, kNobodyUid, kNobodyUid) == 0;
}

std::string temp_base_dir() {
  std::error_code ec;
  const auto system_tmp = std::filesystem::temp_directory_path(ec);
  // A socket path must fit sockaddr_un (108 bytes); keep the directory short.
  return !ec && system_tmp.string().size() < 48 ? system_tmp.string() : std::string("/tmp");
}

TempDir::TempDir(const std::string& base) {
  std::string tmpl = base + "/" + std::string(kTempDirPrefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) fail_setup("mkdtemp");
  if (::chmod(tmpl.c_str(), 0755) != 0) fail_setup("chmod");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::optional<std::string> LineReader::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (eof_) {
      if (buffer_.empty()) return std::nullopt;
      std::string rest = std::move(buffer_);
      buffer_.clear();
      return rest;
    }
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    // poll_timeout_ms waits a minute at most at a time: a longer deadline
    // (a child waiting for its next command) polls again.
    if (n == 0 && Clock::now() < deadline) continue;
    if (n <= 0) return std::nullopt;  // timeout
    char buf[4096];
    const ssize_t r = ::read(fd_, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      eof_ = true;
      continue;
    }
    buffer_.append(buf, static_cast<std::size_t>(r));
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name != nullptr ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "wait status " + std::to_string(status);
}

// -- ChildProcess --------------------------------------------------------------------------------

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), pidfd_(std::move(o.pidfd_)), reaped_(o.reaped_) {
  o.reaped_ = true;
  o.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (!reaped_) (void)kill_and_wait();
    pid_ = o.pid_;
    pidfd_ = std::move(o.pidfd_);
    reaped_ = o.reaped_;
    o.reaped_ = true;
    o.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void ChildProcess::adopt(pid_t pid) {
  pid_ = pid;
  reaped_ = false;
  pidfd_ = sys::open_pidfd(pid);
  if (!pidfd_) fail_setup("pidfd_open");
}

bool ChildProcess::signal(int sig) const noexcept { return !reaped_ && ::kill(pid_, sig) == 0; }

bool ChildProcess::running() const noexcept {
  if (reaped_) return false;
  pollfd p{pidfd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return std::nullopt;
  pollfd p{pidfd_.get(), POLLIN, 0};
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const int n = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return std::nullopt;
    break;
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  reaped_ = true;
  pidfd_.reset();
  return status;
}

std::optional<int> ChildProcess::kill_and_wait(std::chrono::milliseconds timeout) {
  signal(SIGKILL);
  return wait(timeout);
}

// -- Subprocess and run() ------------------------------------------------------------------------

Subprocess Subprocess::spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::vector<char*> args = c_argv(argv);
  sys::UniqueFd out_file, err_file = open_output(options.stderr_path), null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::optional<sys::Pipe> out_pipe, in_pipe;
  if (options.stdout_pipe)
    out_pipe = make_pipe();
  else
    out_file = open_output(options.stdout_path);
  if (options.stdin_pipe) in_pipe = make_pipe();
  const int in_fd = in_pipe ? in_pipe->read.get() : null_in.get();
  const int out_fd = out_pipe ? out_pipe->write.get() : out_file.get();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail_setup("fork");
  if (pid == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_file.get(), 2);
    prepare_child(parent, {});
    if (options.max_open_files > 0) {
      const rlimit lim{options.max_open_files, options.max_open_files};
      if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(126);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  Subprocess p;
  p.adopt(pid);
  if (out_pipe) {
    p.stdout_ = std::move(out_pipe->read);
    p.stdout_reader_.emplace(p.stdout_.get());
  }
  if (in_pipe) p.stdin_ = std::move(in_pipe->write);
  return p;
}

std::optional<std::string> Subprocess::read_stdout_line(std::chrono::milliseconds timeout) {
  if (!stdout_reader_) return std::nullopt;
  return stdout_reader_->read_line(timeout);
}

int RunResult::exit_code() const { return !timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

std::string RunResult::describe() const {
  return (timed_out ? std::string("timed out") : describe_wait_status(status)) + "\n--- stdout:\n" + out +
         "--- stderr:\n" + err;
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  std::vector<char*> args = c_argv(argv);
  sys::Pipe out = make_pipe(), err = make_pipe();
  sys::UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail_setup("fork");
  if (pid == 0) {
    ::dup2(null_in.get(), 0);
    ::dup2(out.write.get(), 1);
    ::dup2(err.write.get(), 2);
    prepare_child(parent, {});
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ChildProcess adopted;
  adopted.adopt(pid);
  out.write.reset();
  err.write.reset();

  RunResult result;
  const auto deadline = Clock::now() + timeout;
  std::string* sinks[2] = {&result.out, &result.err};
  int fds[2] = {out.read.get(), err.read.get()};
  bool open[2] = {true, true};
  // Read until both pipes close. A grandchild may keep them open (a CMD that
  // inherited stdout), so once the process itself has exited, drain what is
  // there without waiting for EOF.
  while (open[0] || open[1]) {
    pollfd p[2] = {{open[0] ? fds[0] : -1, POLLIN, 0}, {open[1] ? fds[1] : -1, POLLIN, 0}};
    const int n = ::poll(p, 2, std::min(poll_timeout_ms(deadline), 50));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      if (!adopted.running() || Clock::now() >= deadline) {
        for (int i = 0; i < 2; ++i) {
          if (!open[i]) continue;
          ::fcntl(fds[i], F_SETFL, O_NONBLOCK);
          char buf[4096];
          ssize_t r;
          while ((r = ::read(fds[i], buf, sizeof buf)) > 0) sinks[i]->append(buf, static_cast<std::size_t>(r));
          open[i] = false;
        }
      }
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || p[i].revents == 0) continue;
      char buf[4096];
      const ssize_t r = ::read(fds[i], buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        open[i] = false;
      else
        sinks[i]->append(buf, static_cast<std::size_t>(r));
    }
  }
  auto status = adopted.wait(std::chrono::milliseconds(poll_timeout_ms(deadline)));
  if (!status) {
    result.timed_out = true;
    status = adopted.kill_and_wait();
  }
  result.status = status.value_or(0);
  return result;
}

// -- ForkedChild ---------------------------------------------------------------------------------

bool ChildChannel::send(std::string_view line) {
  std::string l(line);
  l.push_back('\n');
  return sys::write_all(out_, l.data(), l.size());
}

std::optional<std::string> ChildChannel::receive() { return reader_.read_line(std::chrono::hours(24)); }

ForkedChild ForkedChild::start(const std::function<int(ChildChannel&)>& body, std::vector<int> keep_fds) {
  sys::Pipe down = make_pipe(), up = make_pipe();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail_setup("fork");
  if (pid == 0) {
    keep_fds.push_back(down.read.get());
    keep_fds.push_back(up.write.get());
    prepare_child(parent, keep_fds);
    int code = 99;
    try {
      ChildChannel channel(down.read.get(), up.write.get());
      code = body(channel);
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  ForkedChild c;
  c.adopt(pid);
  c.to_child_ = std::move(down.write);
  c.from_child_ = std::move(up.read);
  c.reader_.emplace(c.from_child_.get());
  return c;
}

bool ForkedChild::send(std::string_view line) {
  std::string l(line);
  l.push_back('\n');
  return sys::write_all(to_child_.get(), l.data(), l.size());
}

std::optional<std::string> ForkedChild::receive(std::chrono::milliseconds timeout) {
  if (!reader_) return std::nullopt;
  return reader_->read_line(timeout);
}

std::optional<std::string> ForkedChild::request(std::string_view line, std::chrono::milliseconds timeout) {
  if (!send(line)) return std::nullopt;
  return receive(timeout);
}

}  // namespace shmreg::test
