// What a benchmark case reports beyond Google Benchmark's own time: latency
// percentiles and the CPU time each side of a round trip spent, as user
// counters. Counters are all a case reports; scripts/bench-check.py reads
// them from the JSON output and prints the ratios and bars.
//
// Thread-safety: for the benchmark thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "percentiles.hpp"

namespace shmreg::bench {

// Sets p50_ns, p99_ns and max_ns from per-operation samples in ns.
void report_latency(benchmark::State& state, const std::vector<std::int64_t>& samples);

// Sets p50_ns, p90_ns, p99_ns, p999_ns, mean_ns and timer_ns from cycle-counter
// samples, the cost of an empty bracket (overhead_ticks) subtracted.
void report_ticks(benchmark::State& state, const LatencySamples& samples, double overhead_ticks);

// One task's scheduler accounting, from /proc/<pid>/schedstat (pid 0: the
// calling thread): ns on CPU, ns runnable but waiting for a CPU, times run.
struct Sched {
  std::int64_t cpu = 0, wait = 0, slices = 0;
};
Sched sched_of(pid_t pid);

// CPU time per operation on each side of a round trip, from the kernel's
// per-task accounting. Started before the timed loop; finish() sets the
// counters cli_cpu_ns, srv_cpu_ns, srv_wait_ns, cli_runs and srv_runs (per
// operation).
class CpuMeter {
 public:
  explicit CpuMeter(pid_t server);  // starts measuring
  void pause();                     // untimed work follows
  void resume();
  void finish(benchmark::State& state, std::size_t ops);

 private:
  pid_t server_;
  bool running_ = false;
  Sched cli_start_, srv_start_;
  Sched cli_, srv_;  // accumulated
};

}  // namespace shmreg::bench
