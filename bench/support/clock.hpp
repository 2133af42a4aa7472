// The clocks of the benchmarks: CLOCK_MONOTONIC for operations that take
// microseconds, a fenced cycle counter for single lookups that take tens of
// nanoseconds.
//
// timer_start() waits for every earlier instruction to finish, reads the
// counter, and keeps later instructions from starting before the read.
// timer_stop() reads it only after every earlier instruction has executed and
// every earlier load has completed (RDTSCP), then fences again so the next
// operation cannot start early. The pair brackets exactly one operation; its
// own cost is measured with an empty bracket and subtracted.
//
// Thread-safety: every function may be called from any thread; the
// calibrations run once and are cached.
#pragma once

#include <time.h>

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#else
#include <atomic>
#endif

namespace shmreg::bench {

// CLOCK_MONOTONIC through the vDSO, in ns.
inline std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The median cost of one now_ns() pair: the floor under every sample.
std::int64_t clock_overhead_ns();

#if defined(__x86_64__) || defined(__i386__)
inline std::uint64_t timer_start() noexcept {
  _mm_lfence();
  const std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}
inline std::uint64_t timer_stop() noexcept {
  unsigned aux = 0;
  const std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}
#else
inline std::uint64_t timer_fenced_ns() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const auto t = static_cast<std::uint64_t>(now_ns());
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return t;
}
inline std::uint64_t timer_start() noexcept { return timer_fenced_ns(); }
inline std::uint64_t timer_stop() noexcept { return timer_fenced_ns(); }
#endif

// Timer ticks per nanosecond, calibrated once (about 150 ms) against
// CLOCK_MONOTONIC_RAW.
double ticks_per_ns();

// The counter's granularity in ticks. Some counters advance in coarse steps
// (on a virtualised AMD EPYC the TSC moves 26 ticks at a time, 10 ns); every
// reading then falls on one lattice, and a single timed operation is only
// known to within one step. Detected once: the largest step s <= 1024 such
// that nearly all readings share one residue mod s; 1 for a fine counter.
std::uint64_t timer_step_ticks();

// Cost of an empty timer_start()/timer_stop() bracket in ticks: the mean of
// many brackets with the slowest 1% dropped. The mean, unlike the median, is
// not rounded to the counter's step.
double timer_overhead_ticks();

}  // namespace shmreg::bench
