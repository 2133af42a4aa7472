// Inline SegmentReader::lookup_batch: many lookups in one software-pipelined
// pass. Included by reader.hpp only, after reader_inl.hpp.
#pragma once

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/hash.hpp"

namespace shmreg::shm {

// The pipeline: key i is hashed and its index bucket requested kBatchDepth
// keys before it is read; kBatchDepth keys later the bucket has arrived, is
// scanned for the tag, and the record it names is requested; at the end of
// the second interval the full lookup runs over lines already in the cache.
// The prefetches only choose what to fetch early: every answer comes from
// lookup_hashed, validated as a single lookup is, so a prefetch that guessed
// wrong (a tag shared by two keys, a word the writer changed meanwhile)
// costs a miss, never an error. A pool small enough to stay in the caches
// (home_prefetch_lines_ 0) skips the prefetches.
template <class F>
Result<std::size_t> SegmentReader::lookup_batch(const RegistryView& reg, std::span<const std::string_view> keys,
                                                F&& fn) const {
  // Key i's hash is written at step i and read at step i + 2D: the ring
  // must hold more than 2D of them.
  constexpr std::size_t D = kBatchDepth, kRing = 4 * kBatchDepth;
  std::uint64_t hashes[kRing];
  const std::size_t n = keys.size();
  const bool pipelined = reg.home_prefetch_lines_ != 0;
  const std::uint32_t lines = reg.home_prefetch_lines_;
  std::size_t found = 0;
  for (std::size_t i = 0; i < n + 2 * D; ++i) {
    if (i < n) {
      const std::string_view k = keys[i];
      const bool fits = ReaderAccess::key_fits(reg, k);
      const std::uint64_t h = fits ? hash_key(k.data(), k.size()) : 0;
      hashes[i % kRing] = h;
      if (pipelined && fits) __builtin_prefetch(ReaderAccess::home_bucket(reg, h));
    }
    if (pipelined && i >= D && i - D < n && ReaderAccess::key_fits(reg, keys[i - D])) {
      const std::uint64_t h = hashes[(i - D) % kRing];
      const std::uint64_t* bucket = ReaderAccess::home_bucket(reg, h);
      std::uint32_t hit = 0;  // record + 1 of the first word with the key's tag
      for (std::uint32_t e = 0; e < kBucketEntries && hit == 0; ++e) {
        const std::uint64_t w = load_relaxed(bucket[e]);
        const auto low = static_cast<std::uint32_t>(w);
        if (static_cast<std::uint32_t>(w >> 32) == hash_tag(h) && low <= reg.record_capacity_) hit = low;
      }
      if (hit != 0)
        ReaderAccess::prefetch_lines(reinterpret_cast<const std::byte*>(ReaderAccess::record(reg, hit - 1)), lines);
    }
    if (i < 2 * D) continue;
    const std::size_t k = i - 2 * D;
    const std::string_view key = keys[k];
    bool called = false;
    auto one = [&](std::span<const EntryView> views) {
      called = true;
      fn(k, views);
    };
    Result<std::size_t> got = std::size_t{0};
    if (ReaderAccess::key_fits(reg, key)) got = lookup_hashed(reg, key, hashes[k % kRing], one);
    if (!got) return fail(got.error());
    if (!called) fn(k, std::span<const EntryView>());
    found += *got > 0;
  }
  return found;
}

}  // namespace shmreg::shm
