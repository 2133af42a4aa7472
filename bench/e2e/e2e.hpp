// shmreg-bench-e2e: end-to-end latencies of shmreg against a real broker
// process, next to the kernel floors they are built on (a raw Unix-socket
// round trip, raw pidfd readiness) and next to peers (Redis, D-Bus).
//
// Every case times each operation on its own (CLOCK_MONOTONIC through the
// vDSO) and reports p50, p99 and max as user counters in nanoseconds, with
// whatever else the summary needs (the broker's CPU time, the batch mean of a
// lookup) as further counters. scripts/bench-check.py e2e reads the JSON
// output and prints the ratios between cases of the same run and the bars.
//
// Thread-safety: single-threaded. The benchmark forks echo servers and a
// watcher, spawns helper processes (owners, victims, owner-queue members) and
// never runs benchmark threads.
#pragma once

#include <algorithm>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "clock.hpp"
#include "counters.hpp"
#include "keys.hpp"
#include "percentiles.hpp"
#include "pinning.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::bench::e2e {

// -- Options -----------------------------------------------------------------------------

struct Options {
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
  std::vector<Placement> placements{Placement::any, Placement::same, Placement::split};
  bool keep_tmp = false;
};

Options& options();

// -- Processes ----------------------------------------------------------------------------------

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

// posix_spawn of path with args (args[0] included) in process group pgid
// (-1: ours, 0: a new group it leads), with ready_fd (if >= 0) as its fd 3.
// Returns its pid, or -1.
pid_t spawn_process(const std::string& path, std::vector<std::string> args, pid_t pgid, int ready_fd);

// Starts a helper in process group pgid (-1: ours, 0: a new group it leads),
// with ready_fd as its fd 3. Returns its pid, or -1.
pid_t spawn_helper(const HelperSpec& spec, pid_t pgid, int ready_fd);

// Reads `count` readiness bytes from fd; true when all are '1'.
bool await_ready(int fd, std::size_t count, int timeout_ms);

// Starts one helper in pgid and waits until it is ready; -1 (and `error`)
// if it is not.
pid_t start_ready_helper(const HelperSpec& spec, std::string& error, pid_t pgid = -1);

// A helper process: SIGKILLed and reaped when it goes out of scope.
class HelperProcess {
 public:
  explicit HelperProcess(pid_t pid) noexcept : pid_(pid) {}
  ~HelperProcess() { kill_and_reap(pid_); }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;
  pid_t pid() const noexcept { return pid_; }
  // Reaps it after the caller has killed it (a reaped pid may be reused: forget it).
  void reap() noexcept;

 private:
  pid_t pid_;
};

// Times each iteration's op() (true: it succeeded) with one clock pair,
// keeping every sample; returns false at the first failed op.
template <class Op>
bool time_each(benchmark::State& state, std::vector<std::int64_t>& samples, Op&& op) {
  for (auto _ : state) {
    const std::int64_t t0 = now_ns();
    const bool ok = op();
    const std::int64_t t1 = now_ns();
    if (!ok) return false;
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  return true;
}

// The batched writes (register_batch, redis/SET_pipelined_1000): entries per
// batch, and batches per case.
inline constexpr std::size_t kBatchEntries = 1000;
inline constexpr std::uint32_t kBatchRounds = 60;

// entries_per_s: kBatchEntries over the median batch time.
inline void report_entries_per_second(benchmark::State& state, const std::vector<std::int64_t>& samples,
                                      std::size_t entries) {
  std::vector<std::int64_t> sorted(samples);
  std::sort(sorted.begin(), sorted.end());
  if (sorted.empty() || sorted[sorted.size() / 2] <= 0) return;
  state.counters["entries_per_s"] = benchmark::Counter(double(entries) * 1e9 / double(sorted[sorted.size() / 2]));
}

// -- The broker under test ------------------------------------------------------------------------

// A private shmreg-broker: its own namespace, socket and temporary directory.
struct Broker {
  pid_t pid = -1;
  std::string ns;
  std::string socket;
  std::optional<shmreg::Client> client;  // the benchmark process's own client
  std::string error;                     // why it is unavailable, if it is
};

// Starts the broker (once) and creates the registries below; later calls
// return the same one.
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

// -- Case registration ----------------------------------------------------------------------------
//
// Google Benchmark runs cases in registration order; main() registers group by
// group (and placement by placement), so that each shmreg case runs right next
// to its floor and its peers. Groups that have no server to place are
// registered once, with Placement::any. The owner-queue handover cases run in
// group reap, right after the reap they are built on.
enum class Group { round_trip, lookup, reap, mass_death };

// Registers "e2e/<name>": timed per operation (manual time), a fixed number
// of iterations.
void add_case(const std::string& name, std::function<void(benchmark::State&)> fn, std::uint32_t iterations,
              benchmark::TimeUnit unit = benchmark::kMicrosecond);

void register_shmreg_cases(Group g, Placement p);
void register_raw_cases(Group g, Placement p);
void register_peer_cases(Group g, Placement p);

}  // namespace shmreg::bench::e2e
