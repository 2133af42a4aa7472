// Percentiles of latency samples (see percentiles.hpp).
#include "percentiles.hpp"

#include "clock.hpp"

namespace shmreg::bench {

namespace {

// Nearest-rank percentile of a sorted vector.
double nearest_rank(const std::vector<std::int64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

// The q-quantile of sorted tick samples, each smeared uniformly over one step.
double smoothed_quantile(const std::vector<std::uint32_t>& v, double q, double step) {
  const std::size_t n = v.size();
  const double target = q * double(n);
  std::size_t below = 0;
  while (below < n) {
    const std::uint32_t value = v[below];
    const auto end = static_cast<std::size_t>(
        std::upper_bound(v.begin() + static_cast<std::ptrdiff_t>(below), v.end(), value) - v.begin());
    if (double(end) >= target) return double(value) - step / 2 + step * (target - double(below)) / double(end - below);
    below = end;
  }
  return double(v.back());
}

}  // namespace

Stats stats_of(std::vector<std::int64_t> s) {
  Stats st;
  st.n = s.size();
  if (s.empty()) return st;
  std::sort(s.begin(), s.end());
  st.p50 = nearest_rank(s, 0.50);
  st.p99 = nearest_rank(s, 0.99);
  st.min = static_cast<double>(s.front());
  st.max = static_cast<double>(s.back());
  long double sum = 0;
  for (auto x : s) sum += static_cast<long double>(x);
  st.mean = static_cast<double>(sum / static_cast<long double>(s.size()));
  return st;
}

LatencySamples::Summary LatencySamples::summarize(double overhead, double ticks_per_ns) const {
  const std::size_t n = full_ ? buf_.size() : pos_;
  Summary s;
  if (n == 0) return s;
  std::vector<std::uint32_t> v(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (const std::uint32_t x : v) sum += x;
  const double step = double(timer_step_ticks());
  auto ns = [&](double ticks) { return std::max(0.0, ticks - overhead) / ticks_per_ns; };
  s.p50 = ns(smoothed_quantile(v, 0.50, step));
  s.p90 = ns(smoothed_quantile(v, 0.90, step));
  s.p99 = ns(smoothed_quantile(v, 0.99, step));
  s.p999 = ns(smoothed_quantile(v, 0.999, step));
  s.mean = ns(sum / double(n));
  return s;
}

}  // namespace shmreg::bench
