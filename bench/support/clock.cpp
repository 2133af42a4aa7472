// Calibration of the benchmarks' clocks (see clock.hpp).
#include "clock.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "keys.hpp"

namespace shmreg::bench {

std::int64_t clock_overhead_ns() {
  static const std::int64_t cached = [] {
    std::vector<std::int64_t> d(20000);
    for (auto& x : d) {
      const std::int64_t a = now_ns();
      x = now_ns() - a;
    }
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
    return d[d.size() / 2];
  }();
  return cached;
}

double ticks_per_ns() {
  static const double value = [] {
#if defined(__x86_64__) || defined(__i386__)
    auto raw_ns = [] {
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
      return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
    };
    // Median of three 50 ms windows, so that one disturbed window cannot skew it.
    std::array<double, 3> r{};
    for (double& x : r) {
      const std::uint64_t n0 = raw_ns();
      const std::uint64_t t0 = timer_start();
      std::uint64_t n1 = n0;
      while (n1 - n0 < 50'000'000ULL) n1 = raw_ns();
      const std::uint64_t t1 = timer_stop();
      x = double(t1 - t0) / double(n1 - n0);
    }
    std::sort(r.begin(), r.end());
    return r[1];
#else
    return 1.0;
#endif
  }();
  return value;
}

std::uint64_t timer_step_ticks() {
  static const std::uint64_t value = [] {
    constexpr std::size_t kReadings = 4096;
    std::vector<std::uint64_t> t(kReadings);
    Rng rng(12345);
    for (auto& x : t) {
      // Irregular gaps, so that readings cannot share a residue by accident.
      for (volatile std::uint32_t spin = rng.below(64); spin != 0;) spin = spin - 1;
      x = timer_start();
    }
    std::uint64_t best = 1;
    std::vector<std::uint32_t> count;
    for (std::uint64_t s = 2; s <= 1024; ++s) {
      count.assign(s, 0);
      std::uint32_t top = 0;
      for (const std::uint64_t x : t) top = std::max(top, ++count[x % s]);
      if (top >= kReadings * 99 / 100) best = s;
    }
    return best;
  }();
  return value;
}

double timer_overhead_ticks() {
  constexpr std::size_t kRounds = 20000;
  std::vector<std::uint32_t> v(kRounds);
  for (auto& x : v) {
    const std::uint64_t t0 = timer_start();
    x = static_cast<std::uint32_t>(timer_stop() - t0);
  }
  std::sort(v.begin(), v.end());
  const std::size_t keep = kRounds - kRounds / 100;
  double sum = 0;
  for (std::size_t i = 0; i < keep; ++i) sum += v[i];
  return sum / double(keep);
}

}  // namespace shmreg::bench
