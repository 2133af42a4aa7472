// shmreg-bench-e2e: end-to-end latencies of shmreg against a real broker
// process, next to the kernel floors they are built on (a raw Unix-socket
// round trip, raw pidfd readiness) and next to peers (Redis, D-Bus).
//
// Every case times each operation on its own (CLOCK_MONOTONIC through the
// vDSO), keeps every sample, and reports p50 and p99 as user counters in
// nanoseconds. The samples are also kept for the whole run, so that main()
// can print ratios between cases measured in the same run and check the bars
// of the issue.
//
// Thread-safety: single-threaded. The benchmark forks echo servers and a
// watcher, spawns helper processes (owners, victims, owner-queue members) and
// never runs benchmark threads.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "shmreg/shmreg.hpp"

namespace shmreg::e2e {

// -- Options -----------------------------------------------------------------------------

struct Options {
  std::string broker_path;   // the shmreg-broker binary
  std::string cli_path;      // the shmreg CLI (mass death through `shmreg register ... -- CMD`)
  std::string helper_path;   // shmreg-bench-e2e-helper: victims and owners
  std::string ns;            // the broker's namespace; empty: e2e-<pid>
  std::string broker_log;    // where the broker's stderr goes; empty: a file in its temporary directory
  bool broker_verbose = false;  // pass -v to the broker (logs every connection)
  int broker_nice = 0;       // nice value given to the broker (an experiment; 0: as inherited)
  int broker_rt = 0;         // > 0: run the broker SCHED_FIFO at this priority (an experiment)
  std::string redis_socket;  // empty: the Redis cases are skipped
  std::string dbus_address;  // empty: the D-Bus cases are skipped
  std::uint32_t rt_ops = 5000;         // samples per round-trip case
  std::uint32_t lookup_ops = 200000;   // samples per lookup case
  std::uint32_t keys = 1000;           // keys registered for the lookup cases
  std::uint32_t reap_rounds = 300;     // owners killed one at a time
  std::uint32_t handover_rounds = 200; // primary owners killed with a process waiting in their queue
  std::uint32_t mass_owners = 1000;    // owners killed at once
  std::uint32_t mass_rounds = 5;       // rounds of mass death
  std::vector<std::string> placements{"any", "same", "split"};
  bool keep_tmp = false;
};

Options& options();

// -- Time and samples ------------------------------------------------------------------------

inline std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The cost of one now_ns() pair: the floor under every sample.
std::int64_t clock_overhead_ns();

struct Stats {
  std::size_t n = 0;
  double p50 = 0, p99 = 0, mean = 0, min = 0, max = 0;  // nanoseconds
};

Stats stats_of(std::vector<std::int64_t> samples);

// Records the samples of one case: sets p50_ns/p99_ns (and a few more)
// counters on `state`, and pools them under `key` for the summary.
void report(benchmark::State& state, const std::string& key, const std::vector<std::int64_t>& samples);

// Pools samples under `key` for the summary only (no counters).
void pool(const std::string& key, const std::vector<std::int64_t>& samples);

// Pooled samples of every case run so far, by key.
const std::map<std::string, std::vector<std::int64_t>>& all_samples();

// One task's scheduler accounting, from /proc/<pid>/schedstat (pid 0: the
// calling thread): ns on CPU, ns runnable but waiting for a CPU, times run.
struct Sched {
  std::int64_t cpu = 0, wait = 0, slices = 0;
};
Sched sched_of(pid_t pid);

// CPU time per operation on each side of a round trip, from the kernel's
// per-task accounting (/proc/<pid>/schedstat: nanoseconds on CPU, nanoseconds
// runnable but waiting for a CPU, times scheduled in). Started before the
// timed loop; finish() sets the counters cli_cpu_ns, srv_cpu_ns, srv_wait_ns,
// cli_runs and srv_runs (per operation) and keeps them for the summary.
class CpuMeter {
 public:
  explicit CpuMeter(pid_t server);  // starts measuring
  void pause();                     // untimed work follows
  void resume();
  void finish(benchmark::State& state, const std::string& key, std::size_t ops);

 private:
  pid_t server_;
  bool running_ = false;
  std::int64_t cli_start_ = 0, srv_start_ = 0, wait_start_ = 0;
  std::int64_t cli_slices_start_ = 0, srv_slices_start_ = 0;
  std::int64_t cli_cpu_ = 0, srv_cpu_ = 0, srv_wait_ = 0;  // accumulated
  std::int64_t cli_slices_ = 0, srv_slices_ = 0;
};

struct CpuSplit {
  double client_cpu = 0, server_cpu = 0, server_wait = 0;  // ns per operation
  double client_slices = 0, server_slices = 0;             // times scheduled in, per operation
};
const std::map<std::string, CpuSplit>& cpu_splits();

// -- Placement of client and server on CPUs ----------------------------------------------------
//
// any:   nobody is pinned; the scheduler decides (the default of a deployment).
// same:  client and server pinned to one CPU: a round trip is two context switches.
// split: client on one CPU and server on another: a round trip is two cross-CPU
//        wake-ups (on a VM, each can be a halted vCPU being woken by the host).
enum class Placement { any, same, split };

std::string_view to_string(Placement p) noexcept;
std::optional<Placement> placement_from(std::string_view s) noexcept;
std::vector<Placement> placements();

// Applies a placement to the calling thread and to the server process for the
// guard's lifetime; restores both to every allowed CPU on destruction.
class PlacementGuard {
 public:
  PlacementGuard(Placement p, pid_t server);
  ~PlacementGuard();
  PlacementGuard(const PlacementGuard&) = delete;
  PlacementGuard& operator=(const PlacementGuard&) = delete;
  // Empty on success, else why it could not be applied.
  const std::string& error() const noexcept { return error_; }
  // The CPU the server was pinned to, or -1 (placement any).
  int server_cpu() const noexcept { return server_cpu_; }

 private:
  pid_t server_;
  int server_cpu_ = -1;
  std::string error_;
};

// Pins another process to one CPU (for helpers that must share the server's).
bool pin_process(pid_t pid, int cpu) noexcept;

// -- Processes ----------------------------------------------------------------------------------

// Writes and reads all of n bytes, retrying on EINTR and short transfers.
bool write_all(int fd, const void* p, std::size_t n) noexcept;
bool read_all(int fd, void* p, std::size_t n) noexcept;

// pidfd_open(2) and a blocking wait for the pidfd to turn readable.
int pidfd_open(pid_t pid) noexcept;

// The pid of the process at the other end of a connected Unix socket.
pid_t peer_pid(int socket_fd) noexcept;

// SIGKILLs (if still running) and reaps a child.
void kill_and_reap(pid_t pid) noexcept;

// Helper processes. Victims and owners are shmreg-bench-e2e-helper (helper.cpp),
// a small program that links libshmreg and nothing else, like a minimal
// application. They are not forks of the benchmark: a fork would carry a copy
// of its address space, and the kernel tears that down at SIGKILL before it
// reports the death on the pidfd, so it would be timed as if it were reaping.
//
// queue_primary and queue_waiter take their key with Client::request_name and
// are ready only once the broker has made them its primary owner, or queued
// them behind one.
struct HelperSpec {
  enum class Mode { victim, owner, queue_primary, queue_waiter, echo } mode = Mode::victim;
  std::uint32_t rss_mb = 0;
  std::string registry, key;     // all but victim
  std::uint8_t queue_flags = 0;  // queue_primary and queue_waiter: kAllowReplacement...
  std::string reply_key{};       // echo: where it sends back what it receives
};

// Starts a helper in process group pgid (-1: ours, 0: a new group it leads),
// with ready_fd as its fd 3. Returns its pid, or -1.
pid_t spawn_helper(const HelperSpec& spec, pid_t pgid, int ready_fd);

// Reads `count` readiness bytes from fd; true when all are '1'.
bool await_ready(int fd, std::size_t count, int timeout_ms);

// -- The broker under test ------------------------------------------------------------------------

// A private shmreg-broker: its own namespace, socket and temporary directory.
struct Broker {
  pid_t pid = -1;
  std::string ns;
  std::string socket;
  std::string tmpdir;
  std::string log_path;
  std::optional<shmreg::Client> client;  // the benchmark process's own client
  std::string error;                     // why it is unavailable, if it is
};

// Starts the broker (once); later calls return the same one.
Broker& broker();
// Stops it and removes its segment, lock file and temporary directory.
void stop_broker();

// Registry names used by the cases.
inline constexpr std::string_view kRegRegister = "e2e_register";
inline constexpr std::string_view kRegLookup = "e2e_lookup";
inline constexpr std::string_view kRegReap = "e2e_reap";
inline constexpr std::string_view kRegMass = "e2e_mass";
inline constexpr std::string_view kRegHandover = "e2e_handover";
inline constexpr std::string_view kRegSend = "e2e_send";

// Key and value shapes shared by shmreg and the peers: 32-byte keys, 64-byte values.
inline constexpr std::size_t kKeyLen = 32;
inline constexpr std::size_t kValueLen = 64;
std::string make_key(std::string_view prefix, std::uint64_t i);
std::string make_value(std::uint64_t i);

// A uniform random sequence of indexes in [0, n), built before timing.
std::vector<std::uint32_t> random_indexes(std::uint32_t n, std::size_t count, std::uint64_t seed);

// -- Case registration ----------------------------------------------------------------------------
//
// Google Benchmark runs cases in registration order; main() registers group by
// group (and placement by placement), so that each shmreg case runs right next
// to its floor and its peers. Groups that have no server to place are
// registered once, with Placement::any. The owner-queue handover cases run in
// group reap, right after the reap they are built on.
enum class Group { round_trip, lookup, reap, mass_death };

void register_shmreg_cases(Group g, Placement p);
void register_raw_cases(Group g, Placement p);
void register_peer_cases(Group g, Placement p);

}  // namespace shmreg::e2e
