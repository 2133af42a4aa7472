// Support code for the shmreg benchmarks: key and value synthesis, a small
// RNG, a cycle timer for per-operation latency, percentiles, and best-effort
// removal of the shared-memory names and temporary directories a run creates.
//
// Thread-safety: everything here is either pure or documented per function.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#else
#include <time.h>

#include <atomic>
#endif

namespace shmreg::bench {

inline constexpr std::size_t kKeyLen = 32;
inline constexpr std::size_t kValueLen = 64;

// The finaliser of splitmix64: a bijection on 64-bit words with good mixing.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// splitmix64: fast, seedable, and good enough for shuffles and index arrays.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  // Uniform in [0, n) by multiply-shift; the bias is below 2^-32 for n < 2^32.
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }

 private:
  std::uint64_t state_;
};

// Fisher-Yates over any random-access range of integers.
template <class Vec>
void shuffle(Vec& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = rng.below(static_cast<std::uint32_t>(i));
    std::swap(v[i - 1], v[j]);
  }
}

// The three disjoint key sets of a run: keys that are registered (hits),
// keys that never are (misses), and the keys the churn writer plays with.
enum class KeySet : unsigned { hit = 0, miss = 1, writer = 2 };

struct Key {
  alignas(8) char bytes[kKeyLen];
  std::string_view view() const noexcept { return {bytes, kKeyLen}; }
};

struct Value {
  alignas(8) char bytes[kValueLen];
  std::string_view view() const noexcept { return {bytes, kValueLen}; }
};

// Spreads the eight nibbles of v over eight bytes and maps each to 'a'..'p'.
constexpr std::uint64_t nibble_letters(std::uint32_t v) noexcept {
  std::uint64_t x = v;
  x = (x | (x << 16)) & 0x0000ffff0000ffffULL;
  x = (x | (x << 8)) & 0x00ff00ff00ff00ffULL;
  x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return x + 0x6161616161616161ULL;
}

// Key number i of a set: a fixed 16-byte prefix, then 16 letters encoding
// mix64 of a code that is 2i for hits, 2i+1 for misses and 2^40+i for the
// writer's keys. The letters are computed in registers in a few nanoseconds,
// so a lookup benchmark pays no cache miss to fetch the key it is about to
// look up (an application usually holds its key already). Distinct codes give
// distinct keys because mix64 and the letter encoding are bijections, and hit
// and miss keys interleave uniformly in sorted order, so a miss in a sorted
// store (LMDB) lands anywhere in the tree, not always past its end.
inline void make_key(Key& k, KeySet set, std::uint64_t i) noexcept {
  static constexpr char kPrefix[] = "shmreg/bench/id/";
  static_assert(sizeof kPrefix == 17);
  std::memcpy(k.bytes, kPrefix, 16);
  const std::uint64_t code = set == KeySet::hit    ? 2 * i
                             : set == KeySet::miss ? 2 * i + 1
                                                   : (std::uint64_t{1} << 40) + i;
  const std::uint64_t x = mix64(code);
  const std::uint64_t lo = nibble_letters(static_cast<std::uint32_t>(x));
  const std::uint64_t hi = nibble_letters(static_cast<std::uint32_t>(x >> 32));
  std::memcpy(k.bytes + 16, &lo, 8);
  std::memcpy(k.bytes + 24, &hi, 8);
}

// The value stored under key i: its first eight bytes hold `next`, the key
// index the dependent-chain benchmarks look up after this one; the rest is
// filler derived from i.
inline void make_value(Value& v, std::uint64_t i, std::uint64_t next) noexcept {
  std::memcpy(v.bytes, &next, 8);
  for (std::size_t w = 1; w < kValueLen / 8; ++w) {
    const std::uint64_t f = mix64(i * 8 + w);
    std::memcpy(v.bytes + 8 * w, &f, 8);
  }
}

inline std::uint64_t value_next(std::string_view value) noexcept {
  std::uint64_t next = 0;
  if (value.size() >= 8) std::memcpy(&next, value.data(), 8);
  return next;
}

// -- Timing one operation -----------------------------------------------------------
//
// timer_start() waits for every earlier instruction to finish, reads the
// clock, and keeps later instructions from starting before the read.
// timer_stop() reads the clock only after every earlier instruction has
// executed and every earlier load has completed (RDTSCP), then fences again so
// the next operation cannot start early. The pair therefore brackets exactly
// one operation; its own cost is measured with an empty bracket and subtracted.
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
inline std::uint64_t timer_now_ns() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}
inline std::uint64_t timer_start() noexcept { return timer_now_ns(); }
inline std::uint64_t timer_stop() noexcept { return timer_now_ns(); }
#endif

// Timer ticks per nanosecond, calibrated once (about 150 ms) against
// CLOCK_MONOTONIC_RAW. Thread-safe.
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

// Per-operation latency samples in timer ticks. Holds at most `cap` samples;
// once full it overwrites the oldest, so long runs keep their latest window.
//
// Quantiles account for a coarse counter: a sample of v ticks means a true
// duration somewhere within one step of v, so each sample is spread uniformly
// over [v - step/2, v + step/2] and the quantile is read off that smoothed
// distribution. The phase of the counter is unrelated to the operation, so
// this recovers quantiles to a fraction of a step; the mean needs no help.
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
    std::size_t samples = 0;
  };
  // Quantiles and mean in ns, after subtracting `overhead` ticks.
  Summary summarize(double overhead, double tpns) const;

 private:
  std::vector<std::uint32_t> buf_;
  std::size_t pos_ = 0;
  bool full_ = false;
};

// -- Cleanup ------------------------------------------------------------------------
//
// Everything a run creates outside its own memory (segment names, LMDB files
// and directories) is registered here as soon as it exists. Normal teardown
// removes each item itself; cleanup_all() also runs from a SIGINT, SIGTERM or
// SIGHUP handler so that an interrupted run leaves nothing behind. It calls
// only unlink, rmdir and shm_unlink (a plain unlink under glibc).
enum class CleanupKind { shm_object, file, dir };
void cleanup_register(CleanupKind kind, const std::string& name);
void cleanup_all() noexcept;
void install_cleanup_handlers();

}  // namespace shmreg::bench
