// The key hash of the segment format.
//
// Writer and readers must agree on it bit for bit, so it is part of the layout:
// changing it changes kHashId, which is folded into the ABI signature. It is a
// 64-bit multiply-fold hash over 8-byte little-endian words; quality matters
// only for spreading keys over partitions, buckets and tags.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shmreg::shm {

inline constexpr std::uint32_t kHashId = 1;

namespace hash_detail {
inline constexpr std::uint64_t kP0 = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t kP1 = 0xd6e8feb86659fd93ULL;
inline constexpr std::uint64_t kP2 = 0xa0761d6478bd642fULL;

__extension__ typedef unsigned __int128 u128;

inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
}  // namespace hash_detail

inline std::uint64_t hash_key(const void* data, std::size_t len) noexcept {
  using namespace hash_detail;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = kP0 ^ (static_cast<std::uint64_t>(len) * kP1);
  std::size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    std::uint64_t a, b;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + i + 8, 8);
    h = fold_mul(a ^ kP1 ^ h, b ^ kP2);
  }
  if (i + 8 <= len) {
    std::uint64_t a;
    std::memcpy(&a, p + i, 8);
    h = fold_mul(a ^ kP2 ^ h, kP0);
    i += 8;
  }
  if (i < len) {
    std::uint64_t a = 0;
    std::memcpy(&a, p + i, len - i);
    h = fold_mul(a ^ kP0 ^ h, kP1);
  }
  return fold_mul(h ^ (h >> 29), kP2);
}

}  // namespace shmreg::shm
