// Keys and values for every shmreg benchmark, and the random draws over them.
//
// Keys are 32 bytes and values 64, in every benchmark and for every peer, so
// that figures compare. Lookups draw keys uniformly at random from the whole
// key set through an index array built before timing starts
// (random_indexes), so the draw itself costs no time inside a timed loop.
//
// Thread-safety: pure functions; an Rng belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(static_cast<std::uint32_t>(i))]);
}

// `count` indexes drawn uniformly from [0, n): the order in which a timed
// loop visits the key set.
std::vector<std::uint32_t> random_indexes(std::uint32_t n, std::size_t count, std::uint64_t seed);

// -- Fixed-size keys, made in registers (the segment-level lookup benchmark) --------

// The three disjoint key sets of a run: keys that are registered (hits),
// keys that never are (misses), and the keys a churn writer plays with.
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

// -- Named keys (benchmarks through the client API and the peers) -------------------

// `prefix`, dots, then i as 16 hex digits: kKeyLen bytes for a short prefix,
// readable in a broker log, and distinct per prefix and i.
std::string key_string(std::string_view prefix, std::uint64_t i);

// A value of kValueLen bytes that looks like an endpoint, distinct per i.
std::string value_string(std::uint64_t i);

}  // namespace shmreg::bench
