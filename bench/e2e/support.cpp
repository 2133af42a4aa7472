// Support code of shmreg-bench-e2e (see e2e.hpp).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "e2e.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::e2e {

Options& options() {
  static Options o;
  return o;
}

// -- Time and samples --------------------------------------------------------------------------

std::int64_t clock_overhead_ns() {
  static const std::int64_t cached = [] {
    std::vector<std::int64_t> d(20000);
    for (auto& x : d) {
      const std::int64_t a = now_ns();
      const std::int64_t b = now_ns();
      x = b - a;
    }
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
    return d[d.size() / 2];
  }();
  return cached;
}

namespace {

// Nearest-rank percentile of a sorted vector.
double percentile(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

std::map<std::string, std::vector<std::int64_t>>& pooled() {
  static std::map<std::string, std::vector<std::int64_t>> m;
  return m;
}

}  // namespace

Stats stats_of(std::vector<std::int64_t> s) {
  Stats st;
  st.n = s.size();
  if (s.empty()) return st;
  std::sort(s.begin(), s.end());
  st.p50 = percentile(s, 0.50);
  st.p99 = percentile(s, 0.99);
  st.min = static_cast<double>(s.front());
  st.max = static_cast<double>(s.back());
  long double sum = 0;
  for (auto x : s) sum += static_cast<long double>(x);
  st.mean = static_cast<double>(sum / static_cast<long double>(s.size()));
  return st;
}

void report(benchmark::State& state, const std::string& key, const std::vector<std::int64_t>& samples) {
  const Stats st = stats_of(samples);
  state.counters["p50_ns"] = benchmark::Counter(st.p50);
  state.counters["p99_ns"] = benchmark::Counter(st.p99);
  state.counters["max_ns"] = benchmark::Counter(st.max);
  pool(key, samples);
}

void pool(const std::string& key, const std::vector<std::int64_t>& samples) {
  auto& v = pooled()[key];
  v.insert(v.end(), samples.begin(), samples.end());
}

const std::map<std::string, std::vector<std::int64_t>>& all_samples() { return pooled(); }

Sched sched_of(pid_t pid) {
  const std::string path = pid == 0 ? "/proc/thread-self/schedstat" : "/proc/" + std::to_string(pid) + "/schedstat";
  std::ifstream in(path);
  Sched s;
  long long cpu = 0, wait = 0, slices = 0;
  if (in >> cpu >> wait >> slices) s = {cpu, wait, slices};
  return s;
}

namespace {

std::map<std::string, CpuSplit>& splits() {
  static std::map<std::string, CpuSplit> m;
  return m;
}

}  // namespace

CpuMeter::CpuMeter(pid_t server) : server_(server) { resume(); }

void CpuMeter::resume() {
  if (running_) return;
  running_ = true;
  const Sched c = sched_of(0);
  cli_start_ = c.cpu;
  cli_slices_start_ = c.slices;
  if (server_ > 0) {
    const Sched sv = sched_of(server_);
    srv_start_ = sv.cpu;
    wait_start_ = sv.wait;
    srv_slices_start_ = sv.slices;
  }
}

void CpuMeter::pause() {
  if (!running_) return;
  running_ = false;
  const Sched c = sched_of(0);
  cli_cpu_ += c.cpu - cli_start_;
  cli_slices_ += c.slices - cli_slices_start_;
  if (server_ > 0) {
    const Sched sv = sched_of(server_);
    srv_cpu_ += sv.cpu - srv_start_;
    srv_wait_ += sv.wait - wait_start_;
    srv_slices_ += sv.slices - srv_slices_start_;
  }
}

void CpuMeter::finish(benchmark::State& state, const std::string& key, std::size_t ops) {
  pause();
  if (ops == 0) return;
  const double n = static_cast<double>(ops);
  CpuSplit sp;
  sp.client_cpu = static_cast<double>(cli_cpu_) / n;
  sp.server_cpu = static_cast<double>(srv_cpu_) / n;
  sp.server_wait = static_cast<double>(srv_wait_) / n;
  sp.client_slices = static_cast<double>(cli_slices_) / n;
  sp.server_slices = static_cast<double>(srv_slices_) / n;
  state.counters["cli_runs"] = benchmark::Counter(sp.client_slices);
  state.counters["srv_runs"] = benchmark::Counter(sp.server_slices);
  state.counters["cli_cpu_ns"] = benchmark::Counter(sp.client_cpu);
  state.counters["srv_cpu_ns"] = benchmark::Counter(sp.server_cpu);
  state.counters["srv_wait_ns"] = benchmark::Counter(sp.server_wait);
  splits()[key] = sp;
}

const std::map<std::string, CpuSplit>& cpu_splits() { return splits(); }


// -- Placement -------------------------------------------------------------------------------------

std::string_view to_string(Placement p) noexcept {
  switch (p) {
    case Placement::any: return "any";
    case Placement::same: return "same";
    case Placement::split: return "split";
  }
  return "?";
}

std::optional<Placement> placement_from(std::string_view s) noexcept {
  if (s == "any") return Placement::any;
  if (s == "same") return Placement::same;
  if (s == "split") return Placement::split;
  return std::nullopt;
}

std::vector<Placement> placements() {
  std::vector<Placement> out;
  for (const auto& s : options().placements)
    if (auto p = placement_from(s)) out.push_back(*p);
  return out;
}

namespace {

// The CPUs this process may run on, as found at start.
const cpu_set_t& initial_cpus() {
  static const cpu_set_t set = [] {
    cpu_set_t s;
    CPU_ZERO(&s);
    if (::sched_getaffinity(0, sizeof s, &s) != 0) CPU_SET(0, &s);
    return s;
  }();
  return set;
}

std::vector<int> cpu_list() {
  std::vector<int> v;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &initial_cpus())) v.push_back(c);
  return v;
}

bool pin(pid_t pid, int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  return ::sched_setaffinity(pid, sizeof s, &s) == 0;
}

}  // namespace

PlacementGuard::PlacementGuard(Placement p, pid_t server) : server_(server) {
  (void)initial_cpus();
  if (p == Placement::any) return;
  const auto cpus = cpu_list();
  if (p == Placement::split && cpus.size() < 2) {
    error_ = "placement 'split' needs two CPUs";
    return;
  }
  const int client_cpu = cpus.front();
  server_cpu_ = p == Placement::same ? cpus.front() : cpus[1];
  if (!pin(0, client_cpu) || (server_ > 0 && !pin(server_, server_cpu_)))
    error_ = std::string("sched_setaffinity: ") + std::strerror(errno);
}

bool pin_process(pid_t pid, int cpu) noexcept { return pin(pid, cpu); }

PlacementGuard::~PlacementGuard() {
  ::sched_setaffinity(0, sizeof(cpu_set_t), &initial_cpus());
  if (server_ > 0) ::sched_setaffinity(server_, sizeof(cpu_set_t), &initial_cpus());
}

// -- Processes ---------------------------------------------------------------------------------------

bool write_all(int fd, const void* p, std::size_t n) noexcept {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, std::size_t n) noexcept {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

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

// -- Helpers -------------------------------------------------------------------------------------------

namespace {

}  // namespace

pid_t spawn_helper(const HelperSpec& spec, pid_t pgid, int ready_fd) {
  const Broker& b = broker();
  const std::string& exe = options().helper_path;
  const char* mode = "victim";
  switch (spec.mode) {
    case HelperSpec::Mode::victim: break;
    case HelperSpec::Mode::owner: mode = "owner"; break;
    case HelperSpec::Mode::queue_primary: mode = "primary"; break;
    case HelperSpec::Mode::queue_waiter: mode = "queued"; break;
    case HelperSpec::Mode::echo: mode = "echo"; break;
  }
  std::vector<std::string> args{"shmreg-bench-e2e-helper", mode, std::to_string(spec.rss_mb)};
  if (spec.mode != HelperSpec::Mode::victim) {
    args.insert(args.end(), {b.ns, b.socket, spec.registry, spec.key, make_value(0)});
  }
  if (spec.mode == HelperSpec::Mode::queue_primary || spec.mode == HelperSpec::Mode::queue_waiter)
    args.push_back(std::to_string(spec.queue_flags));
  if (spec.mode == HelperSpec::Mode::echo) args.push_back(spec.reply_key);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, ready_fd, 3);
  if (pgid >= 0) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, pgid);
  }
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
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

// -- Keys ---------------------------------------------------------------------------------------------

std::string make_key(std::string_view prefix, std::uint64_t i) {
  std::string k(prefix);
  char digits[24];
  const int n = std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(i));
  k.append(digits, static_cast<std::size_t>(n));
  if (k.size() < kKeyLen) k.insert(prefix.size(), kKeyLen - k.size(), '.');
  return k;
}

std::string make_value(std::uint64_t i) {
  std::string v = "endpoint=unix:/run/e2e/" + std::to_string(i) + ";";
  v.resize(kValueLen, 'v');
  return v;
}

std::vector<std::uint32_t> random_indexes(std::uint32_t n, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint32_t> dist(0, n - 1);
  std::vector<std::uint32_t> v(count);
  for (auto& x : v) x = dist(rng);
  return v;
}

// -- The broker ------------------------------------------------------------------------------------------

namespace {

Broker g_broker;
bool g_started = false;

std::string log_tail(const std::string& path) {
  std::ifstream in(path);
  std::string line, out;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  const std::size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
  for (std::size_t i = from; i < lines.size(); ++i) out += "\n  " + lines[i];
  return out;
}

void start_broker(Broker& b) {
  const Options& o = options();
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/shmreg-e2e.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    b.error = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  b.tmpdir = tmpl;
  b.ns = o.ns.empty() ? "e2e-" + std::to_string(::getpid()) : o.ns;
  if (!shm::validate_namespace(b.ns)) {
    b.error = "invalid namespace '" + b.ns + "'";
    return;
  }
  // A segment left by an earlier run that was killed: start afresh.
  (void)shm::MappedSegment::remove(shm::segment_object_name(b.ns));
  b.socket = b.tmpdir + "/broker.sock";
  b.log_path = o.broker_log.empty() ? b.tmpdir + "/broker.log" : o.broker_log;
  if (::access(o.broker_path.c_str(), X_OK) != 0) {
    b.error = "no broker binary at '" + o.broker_path + "' (pass --broker=PATH)";
    return;
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    b.error = std::string("fork: ") + std::strerror(errno);
    return;
  }
  if (pid == 0) {
    // If the benchmark dies, the broker stops (cleanly: SIGTERM) too.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    const int log = ::open(b.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    // Room for a thousand owners: the segment's owner table and the fds
    // (one connection and two pidfds per connected owner).
    const std::string owner_cap = std::to_string(std::max<std::uint32_t>(16384, 4 * o.mass_owners));
    const char* argv[] = {"shmreg-broker",  "--namespace",      b.ns.c_str(),      "--socket",
                          b.socket.c_str(), "--owner-capacity", owner_cap.c_str(), o.broker_verbose ? "-v" : nullptr,
                          nullptr};
    ::execv(o.broker_path.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  b.pid = pid;
  if (o.broker_nice != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), o.broker_nice) != 0)
    std::fprintf(stderr, "shmreg-bench-e2e: cannot renice the broker: %s\n", std::strerror(errno));
  if (o.broker_rt > 0) {
    sched_param sp{};
    sp.sched_priority = o.broker_rt;
    if (::sched_setscheduler(pid, SCHED_FIFO, &sp) != 0)
      std::fprintf(stderr, "shmreg-bench-e2e: cannot make the broker SCHED_FIFO: %s\n", std::strerror(errno));
  }

  const std::int64_t deadline = now_ns() + 10'000'000'000;
  while (now_ns() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      b.pid = -1;
      b.error = "the broker exited at start; its log:" + log_tail(b.log_path);
      return;
    }
    if (::access(b.socket.c_str(), F_OK) == 0) {
      auto c = shmreg::Client::open({b.ns, b.socket});
      if (c && c->ping()) {
        b.client.emplace(std::move(*c));
        break;
      }
    }
    ::usleep(2000);
  }
  if (!b.client) {
    b.error = "the broker did not answer within 10 s; its log:" + log_tail(b.log_path);
    return;
  }

  struct Spec {
    std::string_view name;
    std::uint32_t capacity;
  };
  const Spec specs[] = {
      {kRegRegister, 8192},
      {kRegLookup, 2 * o.keys + 1024},
      {kRegReap, 4096},
      {kRegMass, 2 * o.mass_owners + 1024},
      {kRegHandover, 4096},
      {kRegSend, 64},
  };
  for (const Spec& s : specs) {
    shmreg::RegistryOptions ro;
    ro.unique = true;
    ro.max_key = 64;
    ro.max_value = 128;
    ro.capacity = s.capacity;
    if (auto r = b.client->create_registry(s.name, ro); !r) {
      b.error = "create_registry " + std::string(s.name) + ": " + r.error().message;
      return;
    }
  }
}

}  // namespace

Broker& broker() {
  if (!g_started) {
    g_started = true;
    start_broker(g_broker);
  }
  return g_broker;
}

void stop_broker() {
  if (!g_started) return;
  Broker& b = g_broker;
  b.client.reset();
  if (b.pid > 0) {
    ::kill(b.pid, SIGTERM);
    const std::int64_t deadline = now_ns() + 5'000'000'000;
    int status = 0;
    while (::waitpid(b.pid, &status, WNOHANG) == 0) {
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
    std::error_code ec;
    std::filesystem::remove("/dev/shm/shmreg-lock." + b.ns, ec);
  }
  if (!b.tmpdir.empty()) {
    std::error_code ec;
    if (options().keep_tmp)
      std::fprintf(stderr, "shmreg-bench-e2e: kept the broker's log in %s\n", b.log_path.c_str());
    else
      std::filesystem::remove_all(b.tmpdir, ec);
  }
}

}  // namespace shmreg::e2e
