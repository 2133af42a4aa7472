// SegmentReader: everything but the inline lookup path.
#include "shmreg/shm/reader.hpp"

#include <algorithm>
#include <cstring>

#include "reader_copy.hpp"
#include "shmreg/shm/meta_codec.hpp"

namespace shmreg::shm {

using reader_detail::copy_out;

namespace {

const SegmentHeader& header_of(const std::byte* base) noexcept {
  return *reinterpret_cast<const SegmentHeader*>(base);
}

}  // namespace

SegmentReader::SegmentReader(MappedSegment seg, const SegmentGeometry& geo) noexcept
    : seg_(std::move(seg)),
      base_(seg_.data()),
      size_(seg_.size()),
      geo_(geo),
      owners_(reinterpret_cast<const OwnerSlot*>(base_ + geo.owner_table_offset)),
      hosts_(reinterpret_cast<const HostSlot*>(base_ + geo.host_table_offset)) {}

Result<SegmentReader> SegmentReader::open(std::string_view path) noexcept {
  auto seg = MappedSegment::open(path, MappedSegment::Access::read_only);
  if (!seg) return fail(seg.error());
  return from_mapping(std::move(*seg));
}

Result<SegmentReader> SegmentReader::open_fd(int fd) noexcept {
  auto seg = MappedSegment::map(fd, MappedSegment::Access::read_only);
  if (!seg) return fail(seg.error());
  return from_mapping(std::move(*seg));
}

Result<SegmentReader> SegmentReader::from_mapping(MappedSegment seg) noexcept {
  auto geo = read_geometry(seg.data(), seg.size());
  if (!geo) return fail(geo.error());
  return SegmentReader(std::move(seg), *geo);
}

bool SegmentReader::superseded() const noexcept { return load_acquire(header_of(base_).superseded) != 0; }

Status SegmentReader::check_live() const noexcept {
  if (superseded()) return fail(Errc::superseded);
  return {};
}

HeaderInfo SegmentReader::header() const noexcept {
  const SegmentHeader& h = header_of(base_);
  HeaderInfo i;
  i.layout_version = load_relaxed(h.layout_version);
  i.abi_signature = load_relaxed(h.abi_signature);
  i.segment_size = geo_.segment_size;
  i.created_unix_ns = load_relaxed(h.created_unix_ns);
  i.generation = load_acquire(h.generation);
  i.commit_seq = load_acquire(h.commit_seq);
  i.writer_pid = load_relaxed(h.writer_pid);
  i.txn_state = load_relaxed(h.txn_state);
  i.registry_count = load_acquire(h.registry_count);
  i.owner_capacity = geo_.owner_capacity;
  i.owner_count = load_relaxed(h.owner_count);
  i.arena_size = geo_.arena_size;
  i.arena_used = load_acquire(h.arena_used);
  return i;
}

Result<RegistryView> SegmentReader::registry_by_id(std::uint32_t id) const noexcept {
  if (id >= kMaxRegistries) return fail(Errc::registry_not_found);
  const SegmentHeader& h = header_of(base_);
  const auto* dp = reinterpret_cast<const RegistryDesc*>(base_ + kHeaderSize) + id;
  const std::uint32_t state = load_acquire(dp->state);
  if (state == kRegistryFree) return fail(Errc::registry_not_found);
  if (state != kRegistryLive) return fail(Errc::corrupt);
  // A private copy of the constant fields; validated once, used from the copy.
  RegistryDesc d{};
  d.id = load_relaxed(dp->id);
  d.kind = load_relaxed(dp->kind);
  d.partitions = load_relaxed(dp->partitions);
  d.name_len = load_relaxed(dp->name_len);
  d.max_key = load_relaxed(dp->max_key);
  d.max_value = load_relaxed(dp->max_value);
  d.record_size = load_relaxed(dp->record_size);
  d.record_capacity = load_relaxed(dp->record_capacity);
  d.capacity = load_relaxed(dp->capacity);
  d.records_offset = load_relaxed(dp->records_offset);
  d.partitions_offset = load_relaxed(dp->partitions_offset);
  d.index_offset = load_relaxed(dp->index_offset);
  d.index_buckets = load_relaxed(dp->index_buckets);
  d.meta_offset = load_relaxed(dp->meta_offset);
  d.events_offset = load_relaxed(dp->events_offset);
  d.event_capacity = load_relaxed(dp->event_capacity);
  d.event_size = load_relaxed(dp->event_size);
  // arena_used is live: checked against the arena size copied at open, so
  // that the areas are checked against bounds inside the mapping.
  const std::uint64_t used = load_acquire(h.arena_used);
  if (d.id != id || used > geo_.arena_size || !check_registry_geometry(geo_.arena_offset, used, d))
    return fail(Errc::corrupt);
  RegistryView v;
  v.desc_ = dp;
  v.records_ = base_ + d.records_offset;
  v.parts_ = reinterpret_cast<const PartitionData*>(base_ + d.partitions_offset);
  v.index_ = base_ + d.index_offset;
  v.meta_ = base_ + d.meta_offset;
  v.events_ = base_ + d.events_offset;
  v.event_capacity_ = d.event_capacity;
  v.event_size_ = d.event_size;
  v.bytes_ = registry_footprint(d);
  v.id_ = id;
  v.partitions_ = d.partitions;
  v.max_key_ = d.max_key;
  v.max_value_ = d.max_value;
  v.capacity_ = d.capacity;
  v.record_size_ = d.record_size;
  v.record_capacity_ = d.record_capacity;
  v.buckets_ = d.index_buckets;
  // A pool the size of a core's L2 or less stays cached: nothing to prefetch.
  // Past that, a record's first lines (its head, key and a short value).
  if (std::uint64_t{d.record_capacity} * d.record_size > kHomePrefetchMinPool)
    v.home_prefetch_lines_ = std::min<std::uint32_t>(d.record_size / kCacheLine, 4);
  v.kind_ = static_cast<RegistryKind>(d.kind);
  v.creator_uid_ = load_relaxed(dp->creator_uid);
  v.name_len_ = d.name_len;
  std::memcpy(v.name_, dp->name, d.name_len);
  return v;
}

Result<RegistryView> SegmentReader::registry(std::string_view name) const noexcept {
  if (auto live = check_live(); !live) return fail(live.error());
  const auto* dir = reinterpret_cast<const RegistryDesc*>(base_ + kHeaderSize);
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i) {
    if (load_acquire(dir[i].state) == kRegistryFree) continue;
    auto v = registry_by_id(i);
    if (!v) return fail(v.error());
    if (v->name() == name) return v;
  }
  return fail(Errc::registry_not_found);
}

Result<std::vector<RegistryView>> SegmentReader::registries() const {
  if (auto live = check_live(); !live) return fail(live.error());
  std::vector<RegistryView> out;
  const auto* dir = reinterpret_cast<const RegistryDesc*>(base_ + kHeaderSize);
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i) {
    if (load_acquire(dir[i].state) == kRegistryFree) continue;
    auto v = registry_by_id(i);
    if (!v) return fail(v.error());
    out.push_back(*v);
  }
  return out;
}

Result<std::size_t> SegmentReader::lookup_duplicate(const RegistryView& reg, std::uint32_t key_node,
                                                    std::uint32_t seq, std::vector<EntryView>& out) const noexcept {
  out.clear();
  const RecordHeader* k = ReaderAccess::record(reg, key_node);
  const std::uint32_t key_len = load_relaxed(k->key_len);
  std::uint32_t e = load_relaxed(k->key_next);
  // Each record appears at most once in a chain, so a longer walk is a cycle.
  for (std::uint32_t steps = 0; e != 0; ++steps) {
    if (e > reg.record_capacity_ || steps >= reg.record_capacity_ || key_len > reg.max_key_) {
      fence_acquire();
      return fail(load_relaxed(k->seq) == seq ? Errc::corrupt : Errc::retry_exhausted);
    }
    const RecordHeader* rh = ReaderAccess::record(reg, e - 1);
    const std::uint32_t vlen = load_relaxed(rh->value_len);
    const auto* kp = reinterpret_cast<const char*>(ReaderAccess::payload(rh));
    if (vlen > reg.max_value_ || load_relaxed(rh->state) != kRecordEntry) {
      fence_acquire();
      return fail(load_relaxed(k->seq) == seq ? Errc::corrupt : Errc::retry_exhausted);
    }
    try {
      EntryView& v = out.emplace_back(EntryView{{kp, key_len}, {kp + pad8(key_len), vlen}, 0, load_relaxed(rh->version)});
      set_owner(load_relaxed(rh->owner_pid), v.pid, v.host);
    } catch (...) {
      return fail(Errc::corrupt);
    }
    e = load_relaxed(rh->key_next);
  }
  return out.size();
}

Result<bool> SegmentReader::lookup_value(const RegistryView& reg, std::string_view key, std::string& value,
                                         std::uint32_t* pid) const {
  auto n = lookup(reg, key, [&](std::span<const EntryView> views) {
    if (views.empty()) return;
    const EntryView& v = views.front();
    copy_out(value, reinterpret_cast<const std::uint64_t*>(v.value.data()), v.value.size());
    if (pid != nullptr) *pid = v.pid;
  });
  if (!n) return fail(n.error());
  return *n > 0;
}

Result<std::vector<Entry>> SegmentReader::lookup_copy(const RegistryView& reg, std::string_view key) const {
  std::vector<Entry> out;
  auto n = lookup(reg, key, [&](std::span<const EntryView> views) {
    out.clear();
    for (const EntryView& v : views) {
      Entry e;
      copy_out(e.key, reinterpret_cast<const std::uint64_t*>(v.key.data()), v.key.size());
      copy_out(e.value, reinterpret_cast<const std::uint64_t*>(v.value.data()), v.value.size());
      e.pid = v.pid;
      e.version = v.version;
      copy_out(e.host, reinterpret_cast<const std::uint64_t*>(v.host.data()), v.host.size());
      out.push_back(std::move(e));
    }
  });
  if (!n) return fail(n.error());
  return out;
}

Result<std::vector<Entry>> SegmentReader::values(const RegistryView& reg, std::string_view key,
                                                 std::uint32_t pid) const {
  auto all = lookup_copy(reg, key);
  if (!all) return fail(all.error());
  std::vector<Entry> out;
  for (auto& e : *all)
    if (e.pid == pid && e.host.empty()) out.push_back(std::move(e));
  return out;
}

Result<std::uint64_t> SegmentReader::count(const RegistryView& reg) const noexcept {
  if (auto live = check_live(); !live) return fail(live.error());
  const std::uint64_t n = load_acquire(reg.desc_->entry_count);
  if (n > reg.capacity_) return fail(Errc::corrupt);
  return n;
}

const OwnerSlot* SegmentReader::find_owner(std::uint32_t pid) const noexcept {
  const std::uint32_t cap = geo_.owner_capacity;
  std::uint32_t pos = static_cast<std::uint32_t>((std::uint64_t{pid} * 0x9e3779b97f4a7c15ULL >> 32) % cap);
  for (std::uint32_t n = 0; n < cap; ++n, pos = (pos + 1) % cap) {
    const std::uint32_t st = load_acquire(owners_[pos].state);
    if (st == kOwnerEmpty) break;
    if (st == kOwnerLive && load_relaxed(owners_[pos].pid) == pid) return &owners_[pos];
  }
  return nullptr;
}

Result<std::vector<std::string>> SegmentReader::keys(const RegistryView& reg, std::uint32_t pid) const {
  if (auto live = check_live(); !live) return fail(live.error());
  const OwnerSlot* slot = find_owner(pid);
  std::vector<std::string> out;
  if (slot == nullptr) return out;
  // Every registry's records, validated once per call, for following refs.
  std::vector<RegistryView> views(kMaxRegistries);
  std::vector<std::uint8_t> have(kMaxRegistries, 0);
  // A list without a cycle holds each record once, so it is no longer than the
  // records of the registries it reaches: a bound on the walk that a cycle in
  // corrupt links cannot stretch.
  std::uint64_t records_reached = 0;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ReaderAccess::backoff(attempt);
    out.clear();
    const std::uint32_t s1 = load_acquire(slot->seq);
    if (s1 & 1u) continue;
    if (load_relaxed(slot->state) != kOwnerLive || load_relaxed(slot->pid) != pid) {
      fence_acquire();
      if (load_relaxed(slot->seq) == s1) return out;
      continue;
    }
    RecordRef ref = load_relaxed(slot->head);
    const std::uint32_t listed = load_relaxed(slot->entry_count);
    bool broken = false;
    for (std::uint64_t steps = 0; ref != 0; ++steps) {
      const std::uint32_t rid = ref_registry(ref), idx = ref_record(ref);
      if (!have[rid]) {
        auto v = registry_by_id(rid);
        if (v) views[rid] = *v;
        have[rid] = v ? 1 : 2;
        if (v) records_reached += v->record_capacity_;
      }
      if (have[rid] != 1 || idx >= views[rid].record_capacity_ || steps >= listed || steps >= records_reached) {
        broken = true;
        break;
      }
      const RecordHeader* rh = ReaderAccess::record(views[rid], idx);
      if (rid == reg.id_ && load_relaxed(rh->state) == kRecordEntry) {
        const std::uint32_t kl = load_relaxed(rh->key_len);
        if (kl < 1 || kl > reg.max_key_) {
          broken = true;
          break;
        }
        std::string k;
        copy_out(k, ReaderAccess::payload(rh), kl);
        out.push_back(std::move(k));
      }
      ref = load_relaxed(rh->owner_next);
    }
    fence_acquire();
    if (load_relaxed(slot->seq) != s1) continue;
    if (broken) return fail(Errc::corrupt);
    return out;
  }
  return fail(Errc::retry_exhausted);
}

Result<std::vector<std::pair<std::string, std::string>>> SegmentReader::meta(const RegistryView& reg) const {
  if (auto live = check_live(); !live) return fail(live.error());
  std::vector<std::uint64_t> block(kMetaBlockSize / 8);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ReaderAccess::backoff(attempt);
    const std::uint32_t s1 = load_acquire(reg.desc_->meta_seq);
    if (s1 & 1u) continue;
    const std::uint32_t active = load_relaxed(reg.desc_->meta_active) & 1u;
    const std::uint32_t len = load_relaxed(reg.desc_->meta_len[active]);
    const bool len_ok = len <= kMetaBlockSize;
    if (len_ok)
      racy_copy_words(block.data(),
                      reinterpret_cast<const std::uint64_t*>(reg.meta_ + std::uint64_t{active} * kMetaBlockSize),
                      pad8(len) / 8);
    fence_acquire();
    if (load_relaxed(reg.desc_->meta_seq) != s1) continue;
    if (!len_ok) return fail(Errc::corrupt);
    // R: the private copy is consistent; a block that does not decode is corrupt.
    return decode_meta(std::span<const std::byte>(reinterpret_cast<const std::byte*>(block.data()), len));
  }
  return fail(Errc::retry_exhausted);
}

Result<std::vector<Entry>> SegmentReader::owner_queue(const RegistryView& reg, std::string_view key) const {
  std::vector<Entry> out;
  if (reg.kind_ != RegistryKind::unique || key.empty() || key.size() > reg.max_key_) return out;
  const std::uint64_t h = hash_key(key.data(), key.size());
  const std::uint32_t p = partition_of(h, reg.partitions_);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ReaderAccess::backoff(attempt);
    out.clear();
    std::uint32_t idx = 0, seq = 0;
    const Found f = find_index_entry(reg, p, h, key, kRecordEntry, idx, seq);
    if (f == Found::no) return out;
    if (f == Found::corrupt) return fail(Errc::corrupt);
    if (f == Found::superseded) return fail(Errc::superseded);
    if (f == Found::retry) continue;
    // The primary's seq guards the whole chain: read it all, then check.
    bool broken = false;
    std::uint32_t r = idx + 1;
    for (std::uint32_t steps = 0; r != 0; ++steps) {
      if (r > reg.record_capacity_ || steps >= reg.record_capacity_) {
        broken = true;
        break;
      }
      const RecordHeader* rh = ReaderAccess::record(reg, r - 1);
      Entry e;
      std::uint32_t state = kRecordFree;
      const std::uint32_t vl = load_relaxed(rh->value_len);
      if (vl > reg.max_value_) {
        broken = true;
        break;
      }
      copy_out(e.value, ReaderAccess::payload(rh) + pad8(key.size()) / 8, vl);
      e.key = std::string(key);
      std::string_view host;
      set_owner(load_relaxed(rh->owner_pid), e.pid, host);
      copy_out(e.host, reinterpret_cast<const std::uint64_t*>(host.data()), host.size());
      e.version = load_relaxed(rh->version);
      state = load_relaxed(rh->state);
      if (state != (steps == 0 ? kRecordEntry : kRecordQueued)) {
        broken = true;
        break;
      }
      out.push_back(std::move(e));
      r = load_relaxed(rh->key_next);
    }
    fence_acquire();
    if (load_relaxed(ReaderAccess::record(reg, idx)->seq) != seq) continue;
    // A promotion switches the index without touching the old primary's seq,
    // so a chain that looks wrong is retried; only a persistent one is corrupt.
    if (broken) {
      if (attempt + 1 < kMaxAttempts) continue;
      return fail(Errc::corrupt);
    }
    return out;
  }
  return fail(Errc::retry_exhausted);
}

Result<std::vector<OwnerInfo>> SegmentReader::owners() const {
  if (auto live = check_live(); !live) return fail(live.error());
  std::vector<OwnerInfo> out;
  for (std::uint32_t i = 0; i < geo_.owner_capacity; ++i) {
    const OwnerSlot& s = owners_[i];
    for (int attempt = 0;; ++attempt) {
      if (attempt >= kMaxAttempts) return fail(Errc::retry_exhausted);
      ReaderAccess::backoff(attempt);
      const std::uint32_t s1 = load_acquire(s.seq);
      if (s1 & 1u) continue;
      const std::uint32_t state = load_relaxed(s.state);
      OwnerInfo o{load_relaxed(s.pid), load_relaxed(s.uid), load_relaxed(s.identity_kind),
                  load_relaxed(s.identity), load_relaxed(s.entry_count)};
      std::uint32_t pid = 0;
      std::string_view host;
      set_owner(o.pid, pid, host);
      copy_out(o.host, reinterpret_cast<const std::uint64_t*>(host.data()), host.size());
      fence_acquire();
      if (load_relaxed(s.seq) != s1) continue;
      if (state == kOwnerLive) out.push_back(o);
      break;
    }
  }
  return out;
}

}  // namespace shmreg::shm
