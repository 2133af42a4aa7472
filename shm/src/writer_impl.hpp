// Private state of SegmentWriter, shared by writer.cpp (operations) and
// writer_repair.cpp (attach and rebuild). Not installed.
//
// Thread-safety: single-threaded, like SegmentWriter.
#pragma once

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::shm {

using Clock = std::chrono::steady_clock;

struct FreedSlot {
  std::uint32_t record;
  std::uint32_t gen;  // the slot's gen when it was freed: stale once the slot is taken again
};

// The writer's private view of a registry's record pool (section 9 of
// docs/segment-format.md). A slot below the high water is free iff its gen
// is odd; gen moves on each time the slot is freed or taken. Each free slot
// has exactly one FreedSlot in `freed` whose gen matches; a slot taken out of
// FIFO order (its key's home pair) leaves a stale one behind, skipped when it
// reaches the front and dropped by compact() before stale ones outnumber the
// free slots. A home slot, like any other, is reused only after its grace
// period (freed_at).
struct RegistryState {
  std::deque<FreedSlot> freed;     // oldest first: the grace period runs in FIFO order
  std::vector<std::uint32_t> gen;           // per slot of the pool
  std::vector<Clock::time_point> freed_at;  // per slot: when it was last freed
  std::uint32_t free = 0;                   // free slots below the high water

  void reset(std::uint32_t record_capacity) {
    freed.clear();
    gen.assign(record_capacity, 0);
    freed_at.assign(record_capacity, Clock::time_point{});
    free = 0;
  }
  bool stale(const FreedSlot& f) const noexcept { return gen[f.record] != f.gen; }
  void compact() {
    std::erase_if(freed, [this](const FreedSlot& f) { return stale(f); });
  }
};

// Seqlock write section over one sequence word: odd on entry, next even on exit.
class SeqWriteGuard {
 public:
  explicit SeqWriteGuard(std::uint32_t& seq) noexcept : seq_(seq), start_(load_relaxed(seq) | 1u) {
    store_relaxed(seq_, start_);
    fence_release();
  }
  ~SeqWriteGuard() { store_release(seq_, start_ + 1); }
  SeqWriteGuard(const SeqWriteGuard&) = delete;
  SeqWriteGuard& operator=(const SeqWriteGuard&) = delete;

 private:
  std::uint32_t& seq_;
  std::uint32_t start_;
};

struct SegmentWriter::Impl {
  MappedSegment seg;
  WriterOptions opts;
  std::byte* base = nullptr;
  SegmentHeader* hdr = nullptr;
  RegistryDesc* dir = nullptr;
  OwnerSlot* owners = nullptr;
  std::uint32_t owner_cap = 0;
  HostSlot* hosts = nullptr;  // kMaxHosts of them
  std::array<RegistryState, kMaxRegistries> regs{};
  bool repaired = false;
  std::uint32_t meta_blocks_reset = 0;  // by repair_meta_blocks at attach
  int fault_steps = 0;
  // A removal that a crash interrupted, re-run once attach has repaired.
  struct Redo {
    std::uint32_t op, registry, pid;
    std::string key;                     // kOpRemove
    std::vector<std::uint32_t> records;  // kOpRemoveSome
  };
  std::optional<Redo> redo;
  // Per-uid use (quotas), kept by link_owner, unlink_owner, replace_owner_ref
  // and create_registry; rebuilt from the segment by rebuild_private_state.
  std::unordered_map<std::uint32_t, UidUsage> usage;

  explicit Impl(MappedSegment s, const WriterOptions& o) : seg(std::move(s)), opts(o) {
    base = seg.data();
    hdr = reinterpret_cast<SegmentHeader*>(base);
    dir = reinterpret_cast<RegistryDesc*>(base + hdr->registry_dir_offset);
    owners = reinterpret_cast<OwnerSlot*>(base + hdr->owner_table_offset);
    owner_cap = hdr->owner_capacity;
    hosts = reinterpret_cast<HostSlot*>(base + hdr->host_table_offset);
  }

  // -- fault injection (tests) and transactions ------------------------------
  void fault_step() noexcept {
    if (opts.fault_point > 0 && ++fault_steps == opts.fault_point) ::_exit(kFaultExitCode);
  }
  void txn_begin(std::uint32_t op, std::uint32_t registry = 0, std::uint32_t pid = 0,
                 std::string_view key = {}) noexcept {
    hdr->txn_registry = registry;
    hdr->txn_pid = pid;
    hdr->txn_key_len = static_cast<std::uint32_t>(key.size());
    // An empty key may have a null data(), which memcpy must not get.
    if (!key.empty()) std::memcpy(hdr->txn_key, key.data(), key.size());
    // The intent must be in memory before txn_state says a write is under way,
    // and txn_state before any change the write makes.
    fence_release();
    store_relaxed(hdr->txn_state, op);
    fence_release();
  }
  void txn_end() noexcept {
    store_release(hdr->txn_state, kTxnIdle);
    fetch_add_release(hdr->commit_seq, std::uint64_t{1});
    if (!wakes_deferred) wake_watchers();
  }

  // -- events --------------------------------------------------------------------
  // Registries that published events in the current write; their futex words
  // are bumped and woken once, at the end of the write.
  std::array<std::uint8_t, kMaxRegistries> touched{};
  bool wakes_deferred = false;      // SegmentWriter::defer_wakes until flush_wakes
  std::uint64_t batch_time_ns = 0;  // meanwhile: the events' time, read once (0: not yet)
  void publish_event(RegistryDesc& d, std::uint32_t type, std::string_view key, std::uint32_t pid,
                     std::uint32_t old_pid, std::uint64_t version) noexcept;
  void wake_watchers() noexcept;

  // -- addressing --------------------------------------------------------------
  RegistryDesc* live_registry(std::uint32_t id) const noexcept {
    if (id >= kMaxRegistries || load_relaxed(dir[id].state) != kRegistryLive) return nullptr;
    return &dir[id];
  }
  RecordHeader& rec(const RegistryDesc& d, std::uint32_t idx) const noexcept {
    return *reinterpret_cast<RecordHeader*>(base + d.records_offset +
                                            std::uint64_t{idx} * d.record_size);
  }
  std::uint64_t* payload(const RegistryDesc& d, std::uint32_t idx) const noexcept {
    return reinterpret_cast<std::uint64_t*>(&rec(d, idx) + 1);
  }
  std::string_view rec_key(const RegistryDesc& d, std::uint32_t idx) const noexcept {
    return {reinterpret_cast<const char*>(payload(d, idx)), rec(d, idx).key_len};
  }
  std::string_view rec_value(const RegistryDesc& d, std::uint32_t idx) const noexcept {
    const RecordHeader& r = rec(d, idx);
    return {reinterpret_cast<const char*>(payload(d, idx)) + pad8(r.key_len), r.value_len};
  }
  // The live registry `id` when key (1..max_key bytes) and value fit it, else
  // the error a write reports: registry_not_found, invalid_argument,
  // key_too_long or value_too_long.
  Result<RegistryDesc*> writable(std::uint32_t id, std::string_view key, std::string_view value) const noexcept;
  // The record of key's index entry in d (a unique entry or a duplicate
  // key's node), or nullopt when the key is absent or out of d's range.
  std::optional<std::uint32_t> key_record(const RegistryDesc& d, std::string_view key) const noexcept;
  // One kOpRemoveSome write: removes each listed record that is still a live
  // entry of pid, so that a redo after a crash skips those already gone.
  // REQUIRES: live registry id; records.size() <= kMaxRemoveSome.
  void remove_some(std::uint32_t id, std::uint32_t pid, std::span<const std::uint32_t> records) noexcept;
  PartitionData& part(const RegistryDesc& d, std::uint32_t p) const noexcept {
    return reinterpret_cast<PartitionData*>(base + d.partitions_offset)[p];
  }
  std::uint64_t* index_words(const RegistryDesc& d, std::uint32_t p, std::uint32_t buf) const noexcept {
    return reinterpret_cast<std::uint64_t*>(
        base + d.index_offset +
        (std::uint64_t{p} * 2 + buf) * d.index_buckets * sizeof(IndexBucket));
  }
  std::uint32_t index_total(const RegistryDesc& d) const noexcept {
    return d.index_buckets * kBucketEntries;
  }
  RecordHeader& rec_by_ref(RecordRef r) const noexcept {
    return rec(dir[ref_registry(r)], ref_record(r));
  }

  // -- records -----------------------------------------------------------------
  std::size_t free_records(std::uint32_t id) const noexcept;
  std::uint32_t alloc_record(std::uint32_t id) noexcept;  // REQUIRES: free_records(id) > 0
  // As alloc_record, but a free slot of hash h's home pairs first
  // (home_slot in layout.hpp): for the records the index points at.
  std::uint32_t alloc_home(std::uint32_t id, std::uint64_t h) noexcept;  // REQUIRES: as alloc_record
  // The oldest free slot in `freed`; REQUIRES: regs[id].free > 0.
  std::uint32_t take_oldest(std::uint32_t id) noexcept;
  void free_record(std::uint32_t id, std::uint32_t idx) noexcept;
  struct RecordFill {
    std::uint32_t state;
    std::string_view key;
    std::string_view value;
    std::uint32_t owner_slot;  // index + 1, 0 for a key node
    std::uint32_t owner_pid;
    std::uint64_t version;
    std::uint64_t hash;
    std::uint32_t key_next;
    std::uint32_t key_node;
    std::uint32_t aux;
  };
  void fill_record(const RegistryDesc& d, std::uint32_t idx, const RecordFill& f) noexcept;

  // -- index ---------------------------------------------------------------------
  // Finds the live entry of partition p whose record satisfies `match`.
  template <class Match>
  std::uint64_t* find_entry(const RegistryDesc& d, std::uint32_t p, std::uint64_t h,
                            Match&& match) const noexcept {
    const std::uint32_t total = index_total(d);
    std::uint64_t* words = index_words(d, p, load_relaxed(part(d, p).active) & 1u);
    std::uint32_t pos = static_cast<std::uint32_t>(h & (d.index_buckets - 1)) * kBucketEntries;
    const std::uint32_t tag = hash_tag(h);
    for (std::uint32_t n = 0; n < total; ++n, pos = (pos + 1) & (total - 1)) {
      const std::uint64_t w = load_relaxed(words[pos]);
      if (w == 0) return nullptr;
      const auto low = static_cast<std::uint32_t>(w);
      if (low != 0 && static_cast<std::uint32_t>(w >> 32) == tag && match(low - 1)) return &words[pos];
    }
    return nullptr;
  }
  std::uint64_t* find_key(const RegistryDesc& d, std::uint32_t p, std::uint64_t h,
                          std::string_view key) const noexcept {
    return find_entry(d, p, h, [&](std::uint32_t idx) { return rec_key(d, idx) == key; });
  }
  bool index_has_room(const RegistryDesc& d, std::uint32_t p) const noexcept;
  void index_insert(const RegistryDesc& d, std::uint32_t p, std::uint64_t h, std::uint32_t idx) noexcept;
  void index_remove(const RegistryDesc& d, std::uint32_t p, std::uint64_t* word) noexcept;
  void index_rebuild(const RegistryDesc& d, std::uint32_t p) noexcept;

  // -- owners ------------------------------------------------------------------
  std::uint32_t owner_home(std::uint32_t pid) const noexcept {
    return static_cast<std::uint32_t>((std::uint64_t{pid} * 0x9e3779b97f4a7c15ULL >> 32) % owner_cap);
  }
  long find_owner(std::uint32_t pid) const noexcept;  // slot index or -1
  long free_owner_slot(std::uint32_t pid) const noexcept;
  std::uint32_t acquire_owner(const OwnerIdentity& o) noexcept;  // REQUIRES: room checked
  void release_owner(std::uint32_t slot) noexcept;
  void link_owner(std::uint32_t slot, RecordRef ref) noexcept;
  void unlink_owner(std::uint32_t slot, RecordRef ref) noexcept;
  // Puts `to` in the place of `from` in the slot's list, in one seq section,
  // so that no reader ever sees both (or neither).
  void replace_owner_ref(std::uint32_t slot, RecordRef from, RecordRef to) noexcept;
  // -- hosts of remote owners (writer_remote.cpp) ----------------------------------
  long find_host(std::string_view name) const noexcept;  // live host slot or -1
  // The live slot of name, filled now if there is none; -1 when the table is
  // full. A slot filled here has no owners until acquire_owner counts one;
  // a caller that then fails calls drop_host_if_unused.
  long acquire_host(std::string_view name) noexcept;
  // Adds (+1) or takes away (-1) an owner slot of host slot h; frees the host
  // slot when its last one goes.
  void count_host_owner(std::uint32_t h, int sign) noexcept;
  void drop_host_if_unused(std::uint32_t h) noexcept;
  // At every attach: settles host slots' seqs, recounts their owners from
  // the owner table, frees those without owners (a crash between filling a
  // slot and the insert that needed it), and sets the header's host_count.
  void repair_hosts() noexcept;

  // Adds a record of the owner in slot to its uid's use (sign +1) or takes
  // it away (-1). The static owner counts for no uid.
  void count_record(std::uint32_t slot, const RecordHeader& r, int sign) noexcept;
  // The arena bytes registry d took (SegmentWriter::footprint of its spec).
  static std::uint64_t footprint_of(const RegistryDesc& d) noexcept {
    return registry_footprint(d);
  }
  void rebuild_usage();

  // -- whole entries -------------------------------------------------------------
  // Removes one record: an entry (event: kEventUnregister or kEventOwnerDied,
  // or kEventOwnerChanged when a queued owner takes over) or a queued record.
  void remove_record(std::uint32_t id, std::uint32_t idx, std::uint32_t event) noexcept;
  // Publishes `value` with `aux` in place of the unique entry `old` that the
  // index word `found` points at, in one release store (update_value,
  // set_static). REQUIRES: free_records(id) >= 1. Returns the new version.
  std::uint64_t replace_unique(std::uint32_t id, std::uint64_t* found, std::uint32_t old,
                               std::string_view value, std::uint32_t aux) noexcept;
  // The same for the entry `old` in the chain of duplicate key node kn.
  std::uint64_t replace_in_chain(std::uint32_t id, std::uint32_t kn, std::uint32_t old,
                                 std::string_view value, std::uint32_t aux) noexcept;
  // The primary entry whose owner queue holds record `queued`.
  std::uint32_t primary_of(const RegistryDesc& d, std::uint32_t queued) const noexcept;

  Status write_meta(RegistryDesc& d, const MetaPairs& m) noexcept;
  Result<MetaPairs> current_meta(const RegistryDesc& d) const;

  // -- attach and repair (writer_repair.cpp) ----------------------------------------
  void rebuild_private_state() noexcept;
  void repair_derived() noexcept;
  // Clears the superseded mark (header and partition bits) of a file that a
  // broker attaches again.
  void clear_superseded() noexcept;
  // Makes every live registry's active meta block one that decodes: the
  // other block if it does, else an empty list. Returns how many it changed.
  std::uint32_t repair_meta_blocks() noexcept;
};

}  // namespace shmreg::shm
