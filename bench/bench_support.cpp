// Timer calibration, latency summaries and cleanup for the shmreg benchmarks.
#include "bench_support.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>

namespace shmreg::bench {

namespace {

std::uint64_t monotonic_raw_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

}  // namespace

double ticks_per_ns() {
  static const double value = [] {
#if defined(__x86_64__) || defined(__i386__)
    // Median of three 50 ms windows, so that one disturbed window cannot skew it.
    std::array<double, 3> r{};
    for (double& x : r) {
      const std::uint64_t n0 = monotonic_raw_ns();
      const std::uint64_t t0 = timer_start();
      std::uint64_t n1 = n0;
      while (n1 - n0 < 50'000'000ULL) n1 = monotonic_raw_ns();
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
    const std::uint64_t t1 = timer_stop();
    x = static_cast<std::uint32_t>(t1 - t0);
  }
  std::sort(v.begin(), v.end());
  const std::size_t keep = kRounds - kRounds / 100;
  double sum = 0;
  for (std::size_t i = 0; i < keep; ++i) sum += v[i];
  return sum / double(keep);
}

LatencySamples::Summary LatencySamples::summarize(double overhead, double tpns) const {
  const std::size_t n = full_ ? buf_.size() : pos_;
  Summary s;
  s.samples = n;
  if (n == 0) return s;
  std::vector<std::uint32_t> v(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (const std::uint32_t x : v) sum += x;
  const double step = double(timer_step_ticks());
  // The q-quantile of the samples, each smeared uniformly over one step.
  auto quantile = [&](double q) {
    const double target = q * double(n);
    std::size_t below = 0;
    while (below < n) {
      const std::uint32_t value = v[below];
      const auto it = std::upper_bound(v.begin() + static_cast<std::ptrdiff_t>(below), v.end(), value);
      const auto end = static_cast<std::size_t>(it - v.begin());
      if (double(end) >= target) {
        const double frac = (target - double(below)) / double(end - below);
        return double(value) - step / 2 + step * frac;
      }
      below = end;
    }
    return double(v.back());
  };
  auto ns = [&](double ticks) { return std::max(0.0, ticks - overhead) / tpns; };
  s.p50 = ns(quantile(0.50));
  s.p90 = ns(quantile(0.90));
  s.p99 = ns(quantile(0.99));
  s.p999 = ns(quantile(0.999));
  s.mean = ns(sum / double(n));
  return s;
}

// -- cleanup ---------------------------------------------------------------------------

namespace {

struct CleanupItem {
  CleanupKind kind;
  char name[512];
};

constexpr std::size_t kMaxCleanup = 64;
CleanupItem g_items[kMaxCleanup];
std::atomic<std::size_t> g_count{0};
std::mutex g_register_mutex;

extern "C" void on_fatal_signal(int sig) {
  cleanup_all();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void cleanup_register(CleanupKind kind, const std::string& name) {
  std::lock_guard lock(g_register_mutex);
  const std::size_t i = g_count.load(std::memory_order_relaxed);
  if (i >= kMaxCleanup || name.size() + 2 > sizeof g_items[i].name) return;
  g_items[i].kind = kind;
  std::size_t off = 0;
  if (kind == CleanupKind::shm_object && (name.empty() || name.front() != '/')) g_items[i].name[off++] = '/';
  std::memcpy(g_items[i].name + off, name.data(), name.size());
  g_items[i].name[off + name.size()] = '\0';
  g_count.store(i + 1, std::memory_order_release);
}

void cleanup_all() noexcept {
  // Files before the directories that hold them: items were registered in
  // creation order, so walk them backwards.
  for (std::size_t i = g_count.load(std::memory_order_acquire); i-- > 0;) {
    const CleanupItem& it = g_items[i];
    switch (it.kind) {
      case CleanupKind::shm_object: ::shm_unlink(it.name); break;
      case CleanupKind::file: ::unlink(it.name); break;
      case CleanupKind::dir: ::rmdir(it.name); break;
    }
  }
}

void install_cleanup_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace shmreg::bench
