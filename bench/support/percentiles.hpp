// Percentiles of latency samples, the one way every benchmark computes them.
//
// stats_of: nanosecond samples from CLOCK_MONOTONIC, nearest-rank percentiles.
// LatencySamples: cycle-counter samples of single lookups, whose quantiles
// account for a coarse counter (see clock.hpp): a sample of v ticks means a
// true duration somewhere within one step of v, so each sample is spread
// uniformly over [v - step/2, v + step/2] and the quantile is read off that
// smoothed distribution. The phase of the counter is unrelated to the
// operation, so this recovers quantiles to a fraction of a step.
//
// Thread-safety: stats_of is pure; a LatencySamples belongs to one thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace shmreg::bench {

struct Stats {
  std::size_t n = 0;
  double p50 = 0, p99 = 0, mean = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<std::int64_t> samples);

// Holds at most `cap` samples; once full it overwrites the oldest, so long
// runs keep their latest window.
class LatencySamples {
 public:
  explicit LatencySamples(std::size_t expected, std::size_t cap = std::size_t{1} << 22)
      : buf_(std::max<std::size_t>(1, std::min(expected, cap))) {}
  void add(std::uint64_t ticks) noexcept {
    buf_[pos_] = ticks > 0xffffffffULL ? 0xffffffffU : static_cast<std::uint32_t>(ticks);
    if (++pos_ == buf_.size()) {
      pos_ = 0;
      full_ = true;
    }
  }
  struct Summary {
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, mean = 0;
  };
  // Quantiles and mean in ns, after subtracting `overhead` ticks.
  Summary summarize(double overhead, double ticks_per_ns) const;

 private:
  std::vector<std::uint32_t> buf_;
  std::size_t pos_ = 0;
  bool full_ = false;
};

}  // namespace shmreg::bench
