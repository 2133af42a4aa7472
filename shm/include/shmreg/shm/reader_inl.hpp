// Inline hot path of SegmentReader (lookups). Included by reader.hpp only.
#pragma once

#include <sched.h>

#include <cstring>

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/hash.hpp"

namespace shmreg::shm {

struct ReaderAccess {
  static const RegistryDesc* desc(const RegistryView& r) noexcept { return r.desc_; }
  static const std::byte* events(const RegistryView& r) noexcept { return r.events_; }
  static std::uint64_t event_capacity(const RegistryView& r) noexcept { return r.event_capacity_; }
  static std::uint64_t event_size(const RegistryView& r) noexcept { return r.event_size_; }
  static const PartitionData* parts(const RegistryView& r) noexcept { return r.parts_; }
  static std::uint32_t buckets(const RegistryView& r) noexcept { return r.buckets_; }
  static const RecordHeader* record(const RegistryView& r, std::uint32_t idx) noexcept {
    return reinterpret_cast<const RecordHeader*>(r.records_ + std::uint64_t{idx} * r.record_size_);
  }
  static const std::uint64_t* payload(const RecordHeader* h) noexcept {
    return reinterpret_cast<const std::uint64_t*>(h + 1);
  }
  static const std::uint64_t* index_words(const RegistryView& r, std::uint32_t p, std::uint32_t buf) noexcept {
    return reinterpret_cast<const std::uint64_t*>(
        r.index_ + (std::uint64_t{p} * 2 + buf) * r.buckets_ * sizeof(IndexBucket));
  }
  // The bucket where key hash h's probe starts, in its partition's active
  // buffer as of now (a relaxed load: for prefetching, not for answers).
  static const std::uint64_t* home_bucket(const RegistryView& r, std::uint64_t h) noexcept {
    const std::uint32_t p = partition_of(h, r.partitions_);
    return index_words(r, p, load_relaxed(r.parts_[p].active) & 1u) + (h & (r.buckets_ - 1)) * kBucketEntries;
  }
  // Whether key can be in the registry at all (lookups answer "none" else).
  static bool key_fits(const RegistryView& r, std::string_view key) noexcept {
    return !key.empty() && key.size() <= r.max_key_;
  }
  // Starts fetching the four records of key hash h's two home pairs
  // (home_slot), where the writer places the record the index points at when
  // it can, so that they arrive while the probe waits for the index bucket.
  [[gnu::always_inline]] static inline void prefetch_home(const RegistryView& r, std::uint64_t h) noexcept {
    const std::uint32_t lines = r.home_prefetch_lines_;
    if (lines == 0) return;
    const std::byte* a = r.records_ + std::uint64_t{home_slot(h, r.record_capacity_, 0)} * r.record_size_;
    const std::byte* b = r.records_ + std::uint64_t{home_slot(h, r.record_capacity_, 1)} * r.record_size_;
    prefetch_lines(a, lines);
    prefetch_lines(a + r.record_size_, lines);
    prefetch_lines(b, lines);
    prefetch_lines(b + r.record_size_, lines);
  }
  // Starts fetching the first `lines` (1 to 4) lines at p. Always inlined,
  // and straight-line: GCC counts a prefetch as no effect, so it may drop a
  // call that was not inlined, or a loop whose only work is prefetching (seen
  // with GCC 12 at -O2).
  [[gnu::always_inline]] static inline void prefetch_lines(const std::byte* p, std::uint32_t lines) noexcept {
    __builtin_prefetch(p);
    if (lines > 1) __builtin_prefetch(p + kCacheLine);
    if (lines > 2) __builtin_prefetch(p + 2 * kCacheLine);
    if (lines > 3) __builtin_prefetch(p + 3 * kCacheLine);
  }
  // Compares key with a record's padded key words, loaded atomically. The
  // mask keeps the comparison exact whatever the padding bytes hold.
  static bool key_equals(const std::uint64_t* words, std::string_view key) noexcept {
    const std::size_t full = key.size() / 8, rest = key.size() % 8;
    for (std::size_t i = 0; i < full; ++i) {
      std::uint64_t q;
      std::memcpy(&q, key.data() + 8 * i, 8);
      if (load_relaxed(words[i]) != q) return false;
    }
    if (rest != 0) {
      std::uint64_t q = 0;
      std::memcpy(&q, key.data() + 8 * full, rest);
      const std::uint64_t mask = (std::uint64_t{1} << (8 * rest)) - 1;
      if ((load_relaxed(words[full]) & mask) != q) return false;
    }
    return true;
  }
  // Contended retries give the writer the CPU now and then; on 2 cores a
  // spinning reader can otherwise starve a writer that holds a seq odd.
  static void backoff(int attempt) noexcept {
    if (attempt >= 8 && (attempt & 7) == 0) ::sched_yield();
  }
};

inline SegmentReader::Found SegmentReader::find_index_entry(const RegistryView& reg, std::uint32_t p,
                                                            std::uint64_t h, std::string_view key,
                                                            std::uint32_t want_state, std::uint32_t& record,
                                                            std::uint32_t& seq) const noexcept {
  const PartitionData& pd = reg.parts_[p];
  const std::uint32_t s1 = load_acquire(pd.seq);
  // The abandoned file's mark rides on the word the probe loads anyway.
  const std::uint32_t active = load_acquire(pd.active);
  if (active & kActiveSuperseded) return Found::superseded;
  const std::uint64_t* words = ReaderAccess::index_words(reg, p, active & 1u);
  const std::uint32_t total = reg.buckets_ * kBucketEntries;
  const std::uint32_t tag = hash_tag(h);
  std::uint32_t pos = static_cast<std::uint32_t>(h & (reg.buckets_ - 1)) * kBucketEntries;
  bool passed_record = false;  // the probe went past a record that carried our tag
  for (std::uint32_t n = 0; n < total; ++n, pos = (pos + 1) & (total - 1)) {
    const std::uint64_t w = load_acquire(words[pos]);
    if (w == 0) break;
    const auto low = static_cast<std::uint32_t>(w);
    if (low == 0 || static_cast<std::uint32_t>(w >> 32) != tag) continue;
    if (low > reg.record_capacity_) return Found::corrupt;
    const RecordHeader* rh = ReaderAccess::record(reg, low - 1);
    const std::uint32_t rs = load_acquire(rh->seq);
    if (rs & 1u) return Found::retry;
    if (load_relaxed(rh->state) != want_state || load_relaxed(rh->key_len) != key.size() ||
        !ReaderAccess::key_equals(ReaderAccess::payload(rh), key)) {
      // Not our key, or no longer a live record. If the index entry changed
      // meanwhile (update_value switched it, or a removal tombstoned it before
      // the record was freed), what we read may be stale for a key that is
      // present: start over rather than report a miss. The word is loaded with
      // acquire before the record's seq is checked again, so that a word that
      // came back to this record (freed and reused for the same key) shows up
      // as a changed seq.
      fence_acquire();
      if (load_acquire(words[pos]) != w || load_relaxed(rh->seq) != rs) return Found::retry;
      passed_record = true;
      continue;
    }
    // The word must still name this record now that its seq is read. A slot
    // freed and filled again for the same key (its home pair makes that the
    // usual case) matches the key before the write that fills it has
    // published it: a stale word would return a value not yet published,
    // which a crash could then undo.
    fence_acquire();
    if (load_acquire(words[pos]) != w) return Found::retry;
    record = low - 1;
    seq = rs;
    return Found::yes;
  }
  fence_acquire();
  const std::uint32_t s2 = load_relaxed(pd.seq);
  // A buffer retired by one rebuild is intact, which is enough to say that no
  // word for the key was there. It is not enough once the probe went past a
  // record: the retired word may point at a record that an update has since
  // replaced (and freed) through the new buffer, where the word did change.
  if (passed_record) return s2 == s1 && (s1 & 1u) == 0 ? Found::no : Found::retry;
  return s2 - (s1 & ~1u) <= 2 ? Found::no : Found::retry;
}

template <class F>
Result<std::size_t> SegmentReader::lookup(const RegistryView& reg, std::string_view key, F&& fn) const {
  if (!ReaderAccess::key_fits(reg, key)) return std::size_t{0};
  const std::uint64_t h = hash_key(key.data(), key.size());
  // The bucket first, ahead of the home records' lines: a miss needs only it
  // (misses 5-10 % faster at 1M, hits unchanged).
  if (reg.home_prefetch_lines_ != 0) __builtin_prefetch(ReaderAccess::home_bucket(reg, h));
  ReaderAccess::prefetch_home(reg, h);
  return lookup_hashed(reg, key, h, fn);
}

template <class F>
Result<std::size_t> SegmentReader::lookup_hashed(const RegistryView& reg, std::string_view key, std::uint64_t h,
                                                 F& fn) const {
  const std::uint32_t p = partition_of(h, reg.partitions_);
  const bool unique = reg.kind_ == RegistryKind::unique;
  // Once fn has seen views that a retry then found torn, it must see the final
  // answer too, even when that answer is "no entries" (an empty span).
  bool fn_saw_torn = false;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ReaderAccess::backoff(attempt);
    std::uint32_t idx = 0, seq = 0;
    switch (find_index_entry(reg, p, h, key, unique ? kRecordEntry : kRecordKeyNode, idx, seq)) {
      case Found::no:
        if (fn_saw_torn) fn(std::span<const EntryView>());
        return std::size_t{0};
      case Found::retry: continue;
      case Found::corrupt: return fail(Errc::corrupt);
      case Found::superseded: return fail(Errc::superseded);
      case Found::yes: break;
    }
    const RecordHeader* rh = ReaderAccess::record(reg, idx);
    if (unique) {
      const std::uint32_t vlen = load_relaxed(rh->value_len);
      const auto* kp = reinterpret_cast<const char*>(ReaderAccess::payload(rh));
      EntryView v{{kp, key.size()}, {kp + pad8(key.size()), vlen <= reg.max_value_ ? vlen : 0u}, 0,
                  load_relaxed(rh->version)};
      set_owner(load_relaxed(rh->owner_pid), v.pid, v.host);
      if (vlen <= reg.max_value_) fn(std::span<const EntryView>(&v, 1));
      fence_acquire();
      if (load_relaxed(rh->seq) != seq) {
        fn_saw_torn |= vlen <= reg.max_value_;
        continue;
      }
      if (vlen > reg.max_value_) return fail(Errc::corrupt);
      return std::size_t{1};
    }
    thread_local std::vector<EntryView> views;
    auto n = lookup_duplicate(reg, idx, seq, views);
    if (!n) {
      if (n.error() == Errc::retry_exhausted) continue;
      return fail(n.error());
    }
    if (!views.empty() || fn_saw_torn) fn(std::span<const EntryView>(views));
    fence_acquire();
    if (load_relaxed(rh->seq) != seq) {
      fn_saw_torn |= !views.empty();
      continue;
    }
    return views.size();
  }
  return fail(Errc::retry_exhausted);
}

}  // namespace shmreg::shm
