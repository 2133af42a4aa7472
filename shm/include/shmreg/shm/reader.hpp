// The reader half of the segment: lock-free lookups over a read-only mapping.
//
// SegmentReader maps a namespace's segment PROT_READ and answers every query
// from it without a syscall, a lock, or a write to shared memory. Each answer
// is validated with the sequence words described in layout.hpp; a read that
// raced with the writer is retried, and after kMaxAttempts retries the call
// fails with Errc::retry_exhausted instead of spinning for ever. Every offset,
// index and length taken from the segment is bounds-checked first, so any bytes
// at all in the segment give Errc::corrupt, never a fault or an endless loop.
//
// Geometry is read once. open() copies the header's geometry (SegmentGeometry)
// and registry_by_id() copies a registry's descriptor into its RegistryView;
// each copy is checked, and from then on addressing uses only the copy: a
// later change of those bytes in the segment (a bit flip, a hostile writer)
// cannot move a table or resize it under a reader. What is read live after
// that (index words, record fields and links, owner slots, counters, meta
// lengths, event sequences) is checked against the copy before each use: an
// index or a link against the record or owner capacity, a length against
// max_key, max_value or the meta block, a counter against the capacity it
// counts. Every walk of a chain has a bound from the copy, so a cycle ends in
// Errc::corrupt, and no live value is ever a divisor. docs/segment-format.md
// lists every field as "read once" or "live" with its check.
//
// An abandoned file. When the broker leaves this file for a new one at the
// namespace's name (the name was removed while it ran), it marks this one
// (SegmentWriter::mark_superseded): lookups see a bit of the partition word
// they load anyway, the other calls check the header once each, and every
// read then fails with Errc::superseded; open the namespace again.
//
// Consistency: each call returns a state the registry really had at some
// moment during the call (per key for lookups; per record for iteration,
// which is not a snapshot of the whole registry).
//
// Thread-safety: a SegmentReader is immutable after open(); any number of
// threads may call its const methods at once.
//
// Usage:
//   auto r = SegmentReader::open(dir + "/myns.segment");
//   auto reg = r->registry("services");
//   std::string value;
//   if (auto hit = r->lookup_value(*reg, "db", value); hit && *hit) use(value);
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/errc.hpp"
#include "shmreg/shm/geometry.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::shm {

// Zero-copy view of one entry. key and value point into the segment and are
// valid only inside the callback that receives them; the bytes may be torn,
// in which case the callback is run again with fresh views.
// pid is the owner's pid on its host; host is empty for an owner of this
// host and names the host of a remote owner (an entry the broker mirrors
// from the cluster; layout.hpp, kIdentityRemote). host points into the
// segment's host table and is valid as key and value are.
struct EntryView {
  std::string_view key;
  std::string_view value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
  std::string_view host{};
};

struct Entry {
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
  std::string host{};  // empty: this host's process
  friend bool operator==(const Entry&, const Entry&) = default;
};

// pid is the owner word (layout.hpp): a remote owner's has kRemoteOwnerBit,
// and host names its host.
struct OwnerInfo {
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t identity_kind = kIdentityNone;
  std::uint64_t identity = 0;
  std::uint32_t entry_count = 0;
  std::string host{};
};

struct HeaderInfo {
  std::uint32_t layout_version = 0;
  std::uint64_t abi_signature = 0;
  std::uint64_t segment_size = 0;
  std::uint64_t created_unix_ns = 0;
  std::uint64_t generation = 0;
  std::uint64_t commit_seq = 0;
  std::uint32_t writer_pid = 0;
  std::uint32_t txn_state = 0;
  std::uint32_t registry_count = 0;
  std::uint32_t owner_capacity = 0;
  std::uint32_t owner_count = 0;
  std::uint64_t arena_size = 0;
  std::uint64_t arena_used = 0;
};

// A validated copy of one registry's constant geometry. Cheap to copy; stays
// valid as long as the SegmentReader that produced it.
class RegistryView {
 public:
  std::uint32_t id() const noexcept { return id_; }
  std::string_view name() const noexcept { return {name_, name_len_}; }
  RegistryKind kind() const noexcept { return kind_; }
  std::uint32_t partitions() const noexcept { return partitions_; }
  std::uint32_t max_key() const noexcept { return max_key_; }
  std::uint32_t max_value() const noexcept { return max_value_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t record_capacity() const noexcept { return record_capacity_; }
  // The events its ring keeps (a power of two).
  std::uint32_t event_capacity() const noexcept { return event_capacity_; }
  // The arena bytes it takes (registry_footprint), what it costs the segment.
  std::uint64_t bytes() const noexcept { return bytes_; }
  // The uid the registry was created for; kNamespaceUid: the configuration's.
  std::uint32_t creator_uid() const noexcept { return creator_uid_; }

 private:
  friend class SegmentReader;
  friend struct ReaderAccess;
  const RegistryDesc* desc_ = nullptr;
  const std::byte* records_ = nullptr;
  const PartitionData* parts_ = nullptr;
  const std::byte* index_ = nullptr;
  const std::byte* meta_ = nullptr;
  const std::byte* events_ = nullptr;
  std::uint32_t event_capacity_ = 0, event_size_ = 0;
  std::uint32_t id_ = 0, partitions_ = 0, max_key_ = 0, max_value_ = 0, capacity_ = 0;
  std::uint32_t record_size_ = 0, record_capacity_ = 0, buckets_ = 0;
  // Lines (1..4) of each home record a lookup prefetches
  // (ReaderAccess::prefetch_home); 0 when the pool stays in the caches.
  std::uint32_t home_prefetch_lines_ = 0;
  RegistryKind kind_ = RegistryKind::unique;
  std::uint32_t creator_uid_ = kNamespaceUid;
  std::uint32_t name_len_ = 0;
  std::uint64_t bytes_ = 0;
  char name_[kMaxNameLen + 1] = {};
};

class SegmentReader {
 public:
  static constexpr int kMaxAttempts = 1000;
  // A lookup prefetches its key's home records (layout.hpp, home_slot) once
  // the registry's record pool exceeds this, up to 4 lines of each.
  static constexpr std::uint64_t kHomePrefetchMinPool = std::uint64_t{1} << 20;

  // Maps an open descriptor read-only and checks the header; the caller has
  // checked who owns the file (libshmreg and the CLI do). Does not keep fd.
  static Result<SegmentReader> open_fd(int fd) noexcept;
  // Opens path O_RDONLY|O_NOFOLLOW, then as open_fd; no owner check (tests,
  // benchmarks).
  static Result<SegmentReader> open(std::string_view path) noexcept;

  Result<RegistryView> registry(std::string_view name) const noexcept;
  Result<RegistryView> registry_by_id(std::uint32_t id) const noexcept;
  Result<std::vector<RegistryView>> registries() const;

  // Calls fn(std::span<const EntryView>) with every entry under key (at most
  // one on a unique registry; possibly none), then validates; if the views were
  // torn, fn runs again. Returns the number of entries fn last saw.
  template <class F>
  Result<std::size_t> lookup(const RegistryView& reg, std::string_view key, F&& fn) const;

  // Many lookups in one call, software-pipelined: the index buckets and
  // records of the keys kBatchDepth and 2 x kBatchDepth ahead are fetched
  // while one key is read, so the cache misses of many keys overlap. Calls
  // fn(std::size_t i, std::span<const EntryView>) for every i in order, with
  // what lookup(keys[i]) would have shown (an empty span: no entry), each
  // answer validated as a single lookup is; fn may run again for the same i
  // when its views were torn. Returns how many keys had entries; on an error
  // (corrupt, superseded, retry_exhausted) stops at the key that failed.
  static constexpr std::size_t kBatchDepth = 8;
  template <class F>
  Result<std::size_t> lookup_batch(const RegistryView& reg, std::span<const std::string_view> keys, F&& fn) const;

  // Copying forms.
  Result<bool> lookup_value(const RegistryView& reg, std::string_view key, std::string& value,
                            std::uint32_t* pid = nullptr) const;
  Result<std::vector<Entry>> lookup_copy(const RegistryView& reg, std::string_view key) const;
  Result<std::vector<std::string>> keys(const RegistryView& reg, std::uint32_t pid) const;
  Result<std::vector<Entry>> values(const RegistryView& reg, std::string_view key, std::uint32_t pid) const;
  Result<std::uint64_t> count(const RegistryView& reg) const noexcept;
  // Calls fn(const Entry&) for every live entry, walking the registry's index
  // (reader_walk.cpp). Not a snapshot, but exact for what stays: an entry
  // present for the whole walk is seen exactly once (with one of the values
  // it had meanwhile, however often it was updated); one added or removed
  // during the walk may or may not be seen. Each partition's entries are
  // validated before fn sees any of them.
  Result<std::size_t> for_each(const RegistryView& reg, const std::function<void(const Entry&)>& fn) const;
  Result<std::vector<std::pair<std::string, std::string>>> meta(const RegistryView& reg) const;
  // The owner queue of a unique key: the primary owner first, then those
  // waiting, in order (empty when the key is free).
  Result<std::vector<Entry>> owner_queue(const RegistryView& reg, std::string_view key) const;
  Result<std::vector<OwnerInfo>> owners() const;
  // True once the broker has left this file for a new one at the namespace's
  // name (SegmentHeader::superseded): every read fails with
  // Errc::superseded, and the namespace must be opened again.
  bool superseded() const noexcept;
  // The live header fields, except the constant geometry (segment_size,
  // owner_capacity, arena_size), which is the copy checked at open.
  HeaderInfo header() const noexcept;
  // The header geometry copied and checked at open; what every read uses.
  const SegmentGeometry& geometry() const noexcept { return geo_; }

  const std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }

 private:
  friend struct ReaderAccess;
  SegmentReader(MappedSegment seg, const SegmentGeometry& geo) noexcept;
  // Reads and checks the geometry of a fresh mapping (open, open_fd).
  static Result<SegmentReader> from_mapping(MappedSegment seg) noexcept;
  // Sets pid and host from a record's owner word: a local pid as it is, a
  // remote owner's pid and its host slot's name (empty if the slot's length
  // is out of range). Called between loading the record's seq and checking
  // it again: the host slot cannot change while the record stays published.
  void set_owner(std::uint32_t word, std::uint32_t& pid, std::string_view& host) const noexcept {
    if (!is_remote_owner(word)) [[likely]] {
      pid = word;
      host = {};
      return;
    }
    const HostSlot& hs = hosts_[remote_host_slot(word)];
    const std::uint32_t len = load_relaxed(hs.name_len);
    pid = remote_pid(word);
    host = {hs.name, len <= kMaxHostLen ? len : 0u};
  }
  // The owner slot of a live pid, or nullptr; probes at most owner_capacity slots.
  const OwnerSlot* find_owner(std::uint32_t pid) const noexcept;
  enum class Found { no, yes, retry, corrupt, superseded };
  // Errc::superseded when the broker has abandoned this file; the calls that
  // do not probe an index (iteration, meta) check it once each.
  Status check_live() const noexcept;
  Found find_index_entry(const RegistryView& reg, std::uint32_t p, std::uint64_t h, std::string_view key,
                         std::uint32_t want_state, std::uint32_t& record, std::uint32_t& seq) const noexcept;
  // lookup() after the hash: the batch computes it once, ahead of time.
  template <class F>
  Result<std::size_t> lookup_hashed(const RegistryView& reg, std::string_view key, std::uint64_t h, F& fn) const;
  Result<std::size_t> lookup_duplicate(const RegistryView& reg, std::uint32_t key_node, std::uint32_t seq,
                                       std::vector<EntryView>& out) const noexcept;
  // for_each's walk of one partition's index (reader_walk.cpp): its entries
  // are out's first n, for the n returned; out's strings are reused.
  Result<std::size_t> walk_partition(const RegistryView& reg, std::uint32_t p, std::vector<Entry>& out) const;

  MappedSegment seg_;
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  SegmentGeometry geo_;
  const OwnerSlot* owners_ = nullptr;
  const HostSlot* hosts_ = nullptr;  // kMaxHosts (the geometry's host_capacity)
};

}  // namespace shmreg::shm

#include "shmreg/shm/reader_inl.hpp"
#include "shmreg/shm/reader_batch_inl.hpp"
