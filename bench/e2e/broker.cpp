// The broker under test (see e2e.hpp): one private shmreg-broker process for
// the whole run, with the registries the cases use.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "e2e.hpp"
#include "shmreg/shm/segment.hpp"
#include "shmreg/sys/paths.hpp"

namespace shmreg::bench::e2e {

namespace {

Broker g_broker;
bool g_started = false;
std::string g_tmpdir, g_log_path;

std::string log_tail(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) out += "\n  " + lines[i];
  return out;
}

// Room for a thousand owners: the segment's owner table and the fds (one
// connection and two pidfds per connected owner).
std::vector<std::string> broker_argv(const Broker& b) {
  const Options& o = options();
  std::vector<std::string> argv{"shmreg-broker", "--namespace", b.ns, "--socket", b.socket, "--owner-capacity",
                                std::to_string(std::max<std::uint32_t>(16384, 4 * o.mass_owners))};
  if (o.broker_verbose) argv.emplace_back("-v");
  return argv;
}

// The experiments of --broker-nice and --broker-rt.
void apply_scheduling(pid_t pid) {
  const Options& o = options();
  if (o.broker_nice != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), o.broker_nice) != 0)
    std::fprintf(stderr, "shmreg-bench-e2e: cannot renice the broker: %s\n", std::strerror(errno));
  if (o.broker_rt > 0) {
    sched_param sp{};
    sp.sched_priority = o.broker_rt;
    if (::sched_setscheduler(pid, SCHED_FIFO, &sp) != 0)
      std::fprintf(stderr, "shmreg-bench-e2e: cannot make the broker SCHED_FIFO: %s\n", std::strerror(errno));
  }
}

// Forks and execs the broker with its output in the log; -1 on failure.
pid_t spawn_broker(const Broker& b) {
  std::vector<std::string> args = broker_argv(b);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // If the benchmark dies, the broker stops (cleanly: SIGTERM) too.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  const int log = ::open(g_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log >= 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
  }
  ::execv(options().broker_path.c_str(), argv.data());
  ::_exit(127);
}

// Starts the broker and waits until it answers a ping; empty on success.
std::string launch(Broker& b) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/shmreg-e2e.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return std::string("mkdtemp: ") + std::strerror(errno);
  g_tmpdir = tmpl;
  b.socket = g_tmpdir + "/broker.sock";
  g_log_path = options().broker_log.empty() ? g_tmpdir + "/broker.log" : options().broker_log;
  if (::access(options().broker_path.c_str(), X_OK) != 0)
    return "no broker binary at '" + options().broker_path + "' (pass --broker=PATH)";
  b.pid = spawn_broker(b);
  if (b.pid < 0) return std::string("fork: ") + std::strerror(errno);
  apply_scheduling(b.pid);
  for (const std::int64_t deadline = now_ns() + 10'000'000'000; now_ns() < deadline; ::usleep(2000)) {
    if (::waitpid(b.pid, nullptr, WNOHANG) == b.pid) {
      b.pid = -1;
      return "the broker exited at start; its log:" + log_tail(g_log_path);
    }
    if (::access(b.socket.c_str(), F_OK) != 0) continue;
    auto c = shmreg::Client::open({b.ns, b.socket});
    if (c && c->ping()) {
      b.client.emplace(std::move(*c));
      return {};
    }
  }
  return "the broker did not answer within 10 s; its log:" + log_tail(g_log_path);
}

std::string create_registries(const shmreg::Client& c) {
  const Options& o = options();
  const std::pair<std::string_view, std::uint32_t> specs[] = {
      {kRegRegister, 8192},
      {kRegLookup, 2 * o.keys + 1024},
      {kRegReap, 4096},
      {kRegMass, 2 * o.mass_owners + 1024},
      {kRegHandover, 4096},
      {kRegSend, 64},
  };
  for (const auto& [name, capacity] : specs) {
    shmreg::RegistryOptions ro;
    ro.unique = true;
    ro.max_key = 64;
    ro.max_value = 128;
    ro.capacity = capacity;
    if (auto r = c.create_registry(name, ro); !r) return "create_registry " + std::string(name) + ": " + r.error().message;
  }
  return {};
}

}  // namespace

Broker& broker() {
  if (g_started) return g_broker;
  g_started = true;
  Broker& b = g_broker;
  b.ns = options().ns.empty() ? "e2e-" + std::to_string(::getpid()) : options().ns;
  if (!shm::validate_namespace(b.ns)) {
    b.error = "invalid namespace '" + b.ns + "'";
    return b;
  }
  // A segment left by an earlier run that was killed: start afresh.
  (void)shm::MappedSegment::remove(shm::segment_object_name(b.ns));
  b.error = launch(b);
  if (b.error.empty()) b.error = create_registries(*b.client);
  return b;
}

void stop_broker() {
  if (!g_started) return;
  Broker& b = g_broker;
  b.client.reset();
  if (b.pid > 0) {
    ::kill(b.pid, SIGTERM);
    const std::int64_t deadline = now_ns() + 5'000'000'000;
    while (::waitpid(b.pid, nullptr, WNOHANG) == 0) {
      if (now_ns() > deadline) {
        kill_and_reap(b.pid);
        break;
      }
      ::usleep(2000);
    }
    b.pid = -1;
  }
  if (!b.ns.empty()) {
    (void)shm::MappedSegment::remove(shm::segment_object_name(b.ns));
    ::unlink(sys::namespace_lock_path(b.ns).c_str());
  }
  if (g_tmpdir.empty()) return;
  std::error_code ec;
  if (options().keep_tmp)
    std::fprintf(stderr, "shmreg-bench-e2e: kept the broker's log in %s\n", g_log_path.c_str());
  else
    std::filesystem::remove_all(g_tmpdir, ec);
}

}  // namespace shmreg::bench::e2e
