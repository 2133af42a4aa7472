// The processes shmreg-bench-e2e starts and kills (see e2e.hpp).
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "e2e.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::bench::e2e {

Options& options() {
  static Options o;
  return o;
}

pid_t peer_pid(int socket_fd) noexcept {
  ucred c{};
  socklen_t len = sizeof c;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return -1;
  return c.pid;
}

void kill_and_reap(pid_t pid) noexcept {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void HelperProcess::reap() noexcept {
  if (pid_ <= 0) return;
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

namespace {

std::vector<std::string> helper_args(const HelperSpec& spec) {
  static constexpr const char* kModes[] = {"victim", "owner", "primary", "queued", "echo"};
  std::vector<std::string> args{"shmreg-bench-e2e-helper", kModes[static_cast<int>(spec.mode)],
                                std::to_string(spec.rss_mb)};
  if (spec.mode == HelperSpec::Mode::victim) return args;
  const Broker& b = broker();
  args.insert(args.end(), {b.ns, b.socket, spec.registry, spec.key, value_string(0)});
  if (spec.mode == HelperSpec::Mode::queue_primary || spec.mode == HelperSpec::Mode::queue_waiter)
    args.push_back(std::to_string(spec.queue_flags));
  if (spec.mode == HelperSpec::Mode::echo) args.push_back(spec.reply_key);
  return args;
}

}  // namespace

pid_t spawn_process(const std::string& path, std::vector<std::string> args, pid_t pgid, int ready_fd) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  if (ready_fd >= 0) posix_spawn_file_actions_adddup2(&fa, ready_fd, 3);
  if (pgid >= 0) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, pgid);
  }
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

pid_t spawn_helper(const HelperSpec& spec, pid_t pgid, int ready_fd) {
  return spawn_process(options().helper_path, helper_args(spec), pgid, ready_fd);
}

bool await_ready(int fd, std::size_t count, int timeout_ms) {
  std::size_t seen = 0;
  const std::int64_t deadline = now_ns() + std::int64_t{timeout_ms} * 1'000'000;
  char buf[256];
  while (seen < count) {
    const auto left_ms = (deadline - now_ns()) / 1'000'000;
    if (left_ms <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, count - seen));
    if (n <= 0) return false;
    for (ssize_t k = 0; k < n; ++k)
      if (buf[k] != '1') return false;
    seen += static_cast<std::size_t>(n);
  }
  return true;
}

pid_t start_ready_helper(const HelperSpec& spec, std::string& error, pid_t pgid) {
  sys::Pipe ready = sys::Pipe::make();
  if (!ready.read) {
    error = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  const pid_t pid = spawn_helper(spec, pgid, ready.write.get());
  ready.write.reset();
  if (pid > 0 && await_ready(ready.read.get(), 1, 10000)) return pid;
  kill_and_reap(pid);
  switch (spec.mode) {
    case HelperSpec::Mode::queue_primary: error = "the first helper process did not become the key's primary owner"; break;
    case HelperSpec::Mode::queue_waiter: error = "the second helper process was not queued behind the primary owner"; break;
    default: error = "the helper process did not get ready"; break;
  }
  return -1;
}

void add_case(const std::string& name, std::function<void(benchmark::State&)> fn, std::uint32_t iterations,
              benchmark::TimeUnit unit) {
  benchmark::RegisterBenchmark(("e2e/" + name).c_str(), [fn](benchmark::State& s) { fn(s); })
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(unit);
}

}  // namespace shmreg::bench::e2e
