// SegmentReader::for_each: every entry of a registry, walked through its
// index rather than its record array.
//
// Why the index. An update moves an entry: the writer fills a new record,
// switches the key's index word to it with one release store, then frees the
// old record (writer.cpp, replace_unique). A walk over the record array that
// is between the two records while that happens sees neither of them (the new
// one lies behind it, the old one is freed before the walk gets there) or,
// the other way round, both. A live key's index word, by contrast, stays in
// its place until a rebuild, and names the old record or the new one, never
// neither.
//
// So the walk goes partition by partition over the active index buffer,
// reads the record each word names under that record's seq, and then checks
// that the word still names it (else reads the word again). A partition
// whose seq moved meanwhile (a rebuild switched its buffers) is walked again
// from its start; the partitions do not wait for each other.
//
// What it promises: an entry present from the walk's start to its end is
// seen exactly once, with one of the values it had meanwhile; an entry added
// or removed during the walk may or may not be seen. A unique key removed and
// registered again while the walk passes its partition could be met twice,
// once per registration; only the later one (the higher version) is kept.
//
// Against a corrupt segment every loop is bounded (kMaxAttempts, the words of
// a partition, a chain's record_capacity steps), and so is what a walk
// copies: a partition that yields more than twice the pool's records (words
// or chains sharing records) is reported corrupt.
#include <string_view>
#include <unordered_map>

#include "reader_copy.hpp"
#include "shmreg/shm/reader.hpp"

namespace shmreg::shm {

using reader_detail::copy_out;

namespace {

// What one index word gave: nothing (an empty word or a tombstone), its
// entries, a torn read (read the word again), or a word that names what it
// must not: a retired buffer's (the partition's seq will have moved) or
// corruption (it will not have).
enum class Slot { empty, ok, torn, stale };

constexpr std::uint32_t kPrefetchAhead = 24;

void prefetch_record(const RegistryView& reg, std::uint64_t word) {
  const auto low = static_cast<std::uint32_t>(word);
  if (low == 0 || low > reg.record_capacity()) return;
  __builtin_prefetch(ReaderAccess::record(reg, low - 1));
}

// A unique key met twice in one partition (removed and registered again
// behind the walk): the later registration stays. Works on the first n
// entries of part; returns how many are kept (moved to the front).
std::size_t keep_latest(std::vector<Entry>& part, std::size_t n) {
  if (n < 2) return n;
  std::unordered_map<std::string_view, std::size_t> latest;
  bool twice = false;
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, fresh] = latest.try_emplace(part[i].key, i);
    if (fresh) continue;
    twice = true;
    if (part[i].version > part[it->second].version) it->second = i;
  }
  if (!twice) return n;
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < n; ++i)
    if (latest.at(part[i].key) == i) kept.push_back(i);
  for (std::size_t k = 0; k < kept.size(); ++k)
    if (kept[k] != k) std::swap(part[k], part[kept[k]]);
  return kept.size();
}

}  // namespace

Result<std::size_t> SegmentReader::for_each(const RegistryView& reg,
                                            const std::function<void(const Entry&)>& fn) const {
  if (auto live = check_live(); !live) return fail(live.error());
  // Reused from partition to partition, so that the strings keep their room.
  std::vector<Entry> part;
  std::size_t n = 0;
  for (std::uint32_t p = 0; p < reg.partitions_; ++p) {
    auto got = walk_partition(reg, p, part);
    if (!got) return fail(got.error());
    for (std::size_t i = 0; i < *got; ++i) fn(part[i]);
    n += *got;
  }
  return n;
}

Result<std::size_t> SegmentReader::walk_partition(const RegistryView& reg, std::uint32_t p,
                                                  std::vector<Entry>& out) const {
  const PartitionData& pd = reg.parts_[p];
  const bool unique = reg.kind_ == RegistryKind::unique;
  const std::uint32_t total = reg.buckets_ * kBucketEntries;
  std::vector<EntryView> views;
  std::size_t used = 0;  // out's first `used` entries are this walk's
  const std::size_t max_entries = std::size_t{2} * reg.record_capacity_;
  auto next = [&]() -> Entry& {
    if (used == out.size()) out.emplace_back();
    return out[used++];
  };

  // One word at pos of words: its entries appended to out.
  auto read_word = [&](const std::uint64_t* words, std::uint32_t pos) {
    const std::uint64_t w = load_acquire(words[pos]);
    const auto low = static_cast<std::uint32_t>(w);
    if (w == 0 || low == 0) return Slot::empty;
    if (low > reg.record_capacity_) return Slot::stale;
    const RecordHeader* rh = ReaderAccess::record(reg, low - 1);
    const std::uint32_t rs = load_acquire(rh->seq);
    if (rs & 1u) return Slot::torn;
    const std::size_t mark = used;
    Slot result = Slot::ok;
    if (load_relaxed(rh->state) != (unique ? kRecordEntry : kRecordKeyNode)) {
      result = Slot::stale;
    } else if (unique) {
      const std::uint32_t kl = load_relaxed(rh->key_len), vl = load_relaxed(rh->value_len);
      if (kl < 1 || kl > reg.max_key_ || vl > reg.max_value_) {
        result = Slot::stale;
      } else {
        Entry& e = next();
        copy_out(e.key, ReaderAccess::payload(rh), kl);
        copy_out(e.value, ReaderAccess::payload(rh) + pad8(kl) / 8, vl);
        std::string_view host;
        set_owner(load_relaxed(rh->owner_pid), e.pid, host);
        copy_out(e.host, reinterpret_cast<const std::uint64_t*>(host.data()), host.size());
        e.version = load_relaxed(rh->version);
      }
    } else if (auto n = lookup_duplicate(reg, low - 1, rs, views); !n) {
      result = n.error() == Errc::retry_exhausted ? Slot::torn : Slot::stale;
    } else {
      for (const EntryView& v : views) {
        Entry& e = next();
        copy_out(e.key, reinterpret_cast<const std::uint64_t*>(v.key.data()), v.key.size());
        copy_out(e.value, reinterpret_cast<const std::uint64_t*>(v.value.data()), v.value.size());
        e.pid = v.pid;
        e.version = v.version;
        copy_out(e.host, reinterpret_cast<const std::uint64_t*>(v.host.data()), v.host.size());
      }
    }
    // The copy is the record's if its seq did not move, and the record is
    // still the word's if the word did not either.
    fence_acquire();
    if (load_acquire(words[pos]) != w || load_relaxed(rh->seq) != rs) result = Slot::torn;
    if (result != Slot::ok) used = mark;
    return result;
  };

  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ReaderAccess::backoff(attempt);
    used = 0;
    const std::uint32_t s1 = load_acquire(pd.seq);
    if (s1 & 1u) continue;
    const std::uint32_t active = load_acquire(pd.active);
    if (active & kActiveSuperseded) return fail(Errc::superseded);
    const std::uint64_t* words = ReaderAccess::index_words(reg, p, active & 1u);
    Slot last = Slot::ok;
    for (std::uint32_t pos = 0; pos < total && last != Slot::stale && last != Slot::torn; ++pos) {
      // The words are in hash order, the records they name scattered: ask for
      // a record some words ahead, so that a large registry's walk is not one
      // cache miss per entry. A hint only; nothing is read from it.
      if (pos + kPrefetchAhead < total) prefetch_record(reg, load_relaxed(words[pos + kPrefetchAhead]));
      last = read_word(words, pos);
      for (int again = 1; last == Slot::torn && again < kMaxAttempts; ++again) {
        ReaderAccess::backoff(again);
        last = read_word(words, pos);
      }
      // More entries than the pool has records, twice over, with no rebuild
      // meanwhile: words or chains that share records (a corrupt segment),
      // which would otherwise be copied words x chain length times.
      if (used > max_entries) last = Slot::stale;
    }
    fence_acquire();
    if (load_relaxed(pd.seq) != s1) continue;  // rebuilt under the walk: walk it again
    if (last == Slot::stale) return fail(Errc::corrupt);
    if (last == Slot::torn) return fail(Errc::retry_exhausted);
    return unique ? keep_latest(out, used) : used;
  }
  return fail(Errc::retry_exhausted);
}

}  // namespace shmreg::shm
