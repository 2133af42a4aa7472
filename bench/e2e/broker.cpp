// The broker under test (see e2e.hpp): one private shmreg-broker process for
// the whole run, started and stopped by the tests' harness (BrokerProcess),
// with the registries the cases use.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "broker_process.hpp"
#include "e2e.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::bench::e2e {

namespace {

Broker g_broker;
bool g_started = false;
std::optional<test::TempDir> g_dir;
std::optional<test::BrokerProcess> g_process;
std::string g_log_path;

// Room for a thousand owners: the segment's owner table and the fds (one
// connection and two pidfds per connected owner).
std::vector<std::string> broker_args() {
  const Options& o = options();
  std::vector<std::string> args{"--owner-capacity", std::to_string(std::max<std::uint32_t>(16384, 4 * o.mass_owners))};
  if (o.broker_verbose) args.emplace_back("-v");
  return args;
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

// Where the broker's output goes: --broker-log, else beside the temporary
// directory when it is to be kept (--keep-tmp), else inside it.
std::string log_path() {
  const Options& o = options();
  if (!o.broker_log.empty()) return o.broker_log;
  if (!o.keep_tmp) return g_dir->path() + "/broker.log";
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/shmreg-e2e-broker." +
         std::to_string(::getpid()) + ".log";
}

// Starts the broker and opens this process's client; empty on success.
std::string launch(Broker& b) {
  try {
    // The broker's runtime directory: on tmpfs, as /run/shmreg and
    // $XDG_RUNTIME_DIR are in production, so that the segment's pages cost
    // what they cost there.
    g_dir.emplace(::access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : test::temp_base_dir());
  } catch (const std::exception& e) {
    return std::string("temporary directory: ") + e.what();
  }
  b.socket = g_dir->path() + "/broker.sock";
  g_log_path = log_path();
  g_process.emplace(b.ns, b.socket, g_log_path);
  if (auto started = g_process->start(broker_args()); !started) return started.error();
  b.pid = g_process->pid();
  apply_scheduling(b.pid);
  auto c = shmreg::Client::open({b.ns, b.socket});
  if (!c) return "open a client: " + c.error().message;
  b.client.emplace(std::move(*c));
  return {};
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
  b.error = launch(b);
  if (b.error.empty()) b.error = create_registries(*b.client);
  return b;
}

void stop_broker() {
  if (!g_started) return;
  Broker& b = g_broker;
  b.client.reset();
  if (g_process && g_process->running()) {
    if (auto stopped = g_process->stop(); !stopped) {
      std::fprintf(stderr, "shmreg-bench-e2e: %s\n", stopped.error().c_str());
      g_process->kill_hard();
    }
  }
  b.pid = -1;
  if (g_dir && !b.ns.empty() && shm::validate_namespace(b.ns)) test::remove_namespace_files(g_dir->path(), b.ns);
  if (options().keep_tmp && options().broker_log.empty())
    std::fprintf(stderr, "shmreg-bench-e2e: kept the broker's log in %s\n", g_log_path.c_str());
  g_process.reset();
  g_dir.reset();
}

}  // namespace shmreg::bench::e2e
