// Counters of the benchmark cases (see counters.hpp).
#include "counters.hpp"

#include <fstream>
#include <string>

#include "clock.hpp"

namespace shmreg::bench {

void report_latency(benchmark::State& state, const std::vector<std::int64_t>& samples) {
  const Stats st = stats_of(samples);
  state.counters["p50_ns"] = benchmark::Counter(st.p50);
  state.counters["p99_ns"] = benchmark::Counter(st.p99);
  state.counters["max_ns"] = benchmark::Counter(st.max);
}

void report_ticks(benchmark::State& state, const LatencySamples& samples, double overhead_ticks) {
  const double tpns = ticks_per_ns();
  const LatencySamples::Summary s = samples.summarize(overhead_ticks, tpns);
  state.counters["p50_ns"] = s.p50;
  state.counters["p90_ns"] = s.p90;
  state.counters["p99_ns"] = s.p99;
  state.counters["p999_ns"] = s.p999;
  state.counters["mean_ns"] = s.mean;
  state.counters["timer_ns"] = overhead_ticks / tpns;
}

Sched sched_of(pid_t pid) {
  std::ifstream in(pid == 0 ? "/proc/thread-self/schedstat" : "/proc/" + std::to_string(pid) + "/schedstat");
  Sched s;
  long long cpu = 0, wait = 0, slices = 0;
  if (in >> cpu >> wait >> slices) s = {cpu, wait, slices};
  return s;
}

CpuMeter::CpuMeter(pid_t server) : server_(server) { resume(); }

void CpuMeter::resume() {
  if (running_) return;
  running_ = true;
  cli_start_ = sched_of(0);
  if (server_ > 0) srv_start_ = sched_of(server_);
}

void CpuMeter::pause() {
  if (!running_) return;
  running_ = false;
  auto add = [](Sched& total, const Sched& from, const Sched& to) {
    total.cpu += to.cpu - from.cpu;
    total.wait += to.wait - from.wait;
    total.slices += to.slices - from.slices;
  };
  add(cli_, cli_start_, sched_of(0));
  if (server_ > 0) add(srv_, srv_start_, sched_of(server_));
}

void CpuMeter::finish(benchmark::State& state, std::size_t ops) {
  pause();
  if (ops == 0) return;
  const double n = static_cast<double>(ops);
  state.counters["cli_runs"] = benchmark::Counter(static_cast<double>(cli_.slices) / n);
  state.counters["srv_runs"] = benchmark::Counter(static_cast<double>(srv_.slices) / n);
  state.counters["cli_cpu_ns"] = benchmark::Counter(static_cast<double>(cli_.cpu) / n);
  state.counters["srv_cpu_ns"] = benchmark::Counter(static_cast<double>(srv_.cpu) / n);
  state.counters["srv_wait_ns"] = benchmark::Counter(static_cast<double>(srv_.wait) / n);
}

}  // namespace shmreg::bench
