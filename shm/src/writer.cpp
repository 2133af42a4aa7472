// SegmentWriter: formatting, registries, and the all-or-nothing write operations.
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "shmreg/shm/hash.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "shmreg/shm/spec_rules.hpp"
#include "writer_impl.hpp"

namespace shmreg::shm {

namespace {

std::uint64_t now_unix_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

std::uint32_t next_pow2(std::uint64_t n) noexcept {
  std::uint64_t p = 1;
  while (p < n) p <<= 1;
  return static_cast<std::uint32_t>(p);
}

struct RegistryGeometry {
  std::uint32_t record_size, record_capacity, index_buckets, event_size;
  std::uint64_t records_bytes, partitions_bytes, index_bytes, meta_bytes, events_bytes;
  std::uint64_t total() const noexcept {
    return records_bytes + partitions_bytes + index_bytes + meta_bytes + events_bytes;
  }
};

RegistryGeometry geometry_for(const RegistrySpec& s) noexcept {
  RegistryGeometry g{};
  g.record_size = static_cast<std::uint32_t>(
      pad_to(sizeof(RecordHeader) + pad8(s.max_key) + pad8(s.max_value), kCacheLine));
  // A duplicate registry also needs one key node per distinct key. A unique
  // one needs a spare slot: update_value publishes the new record while the
  // old one is still live, and must work in a full registry too.
  const std::uint64_t cap =
      s.kind == RegistryKind::duplicate ? std::uint64_t{s.capacity} * 2 : std::uint64_t{s.capacity} + 1;
  g.record_capacity = static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, kMaxRecordsPerRegistry));
  // Keys spread over partitions at random: size each partition's index for
  // twice its share plus a margin for the imbalance, so load stays <= ~1/2.
  const double share = std::ceil(double(s.capacity) / s.partitions);
  const double slack = s.partitions > 1 ? 6.0 * std::sqrt(share) : 0.0;
  g.index_buckets = std::max<std::uint32_t>(2, next_pow2(std::uint64_t((2 * share + slack + 16) / kBucketEntries) + 1));
  g.records_bytes = pad_to(std::uint64_t{g.record_capacity} * g.record_size, 4096);
  g.partitions_bytes = pad_to(std::uint64_t{s.partitions} * sizeof(PartitionData), kCacheLine);
  g.index_bytes = std::uint64_t{s.partitions} * 2 * g.index_buckets * sizeof(IndexBucket);
  g.meta_bytes = 2 * kMetaBlockSize;
  g.event_size = static_cast<std::uint32_t>(pad_to(sizeof(EventHeader) + pad8(s.max_key), kCacheLine));
  g.events_bytes = pad_to(std::uint64_t{s.event_capacity} * g.event_size, kCacheLine);
  return g;
}

// The rules themselves are spec_rules.cpp's, which also words them.
bool valid_spec(const RegistrySpec& s) noexcept { return !broken_rule(s); }

bool same_spec(const RegistryDesc& d, const RegistrySpec& s) noexcept {
  return d.kind == static_cast<std::uint32_t>(s.kind) && d.partitions == s.partitions &&
         d.max_key == s.max_key && d.max_value == s.max_value && d.capacity == s.capacity &&
         d.event_capacity == s.event_capacity;
}

}  // namespace

// -- construction -----------------------------------------------------------------

SegmentWriter::SegmentWriter(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
SegmentWriter::SegmentWriter(SegmentWriter&&) noexcept = default;
SegmentWriter& SegmentWriter::operator=(SegmentWriter&&) noexcept = default;
SegmentWriter::~SegmentWriter() = default;

Result<SegmentWriter> SegmentWriter::create(std::string_view path, const CreateOptions& o) noexcept {
  return create_at(AT_FDCWD, path, o);
}

Result<SegmentWriter> SegmentWriter::create_at(int dir_fd, std::string_view name, const CreateOptions& o) noexcept {
  if (o.owner_capacity == 0 || o.owner_capacity > (1u << 22)) return fail(Errc::invalid_argument);
  const std::uint64_t owners_off = kHeaderSize + std::uint64_t{kMaxRegistries} * sizeof(RegistryDesc);
  const std::uint64_t hosts_off = pad_to(owners_off + std::uint64_t{o.owner_capacity} * sizeof(OwnerSlot), kCacheLine);
  const std::uint64_t arena_off = pad_to(hosts_off + std::uint64_t{kMaxHosts} * sizeof(HostSlot), 4096);
  if (o.size < kMinSegmentSize || arena_off >= o.size) return fail(Errc::invalid_argument);

  auto seg = MappedSegment::create(dir_fd, name, o.size, o.mode);
  if (!seg) return fail(seg.error());
  // The object is fresh from posix_fallocate, hence zero: every table starts empty.
  auto* h = reinterpret_cast<SegmentHeader*>(seg->data());
  h->layout_version = kLayoutVersion;
  h->header_size = kHeaderSize;
  h->abi_signature = abi_signature();
  h->segment_size = o.size;
  h->created_unix_ns = now_unix_ns();
  h->generation = 1;
  h->next_version = 1;
  h->writer_pid = static_cast<std::uint32_t>(::getpid());
  h->registry_dir_offset = kHeaderSize;
  h->registry_capacity = kMaxRegistries;
  h->owner_table_offset = owners_off;
  h->owner_capacity = o.owner_capacity;
  h->host_table_offset = hosts_off;
  h->host_capacity = kMaxHosts;
  h->arena_offset = arena_off;
  h->arena_size = o.size - arena_off;
  // Magic last: a reader that sees it sees a complete header.
  store_release(h->magic, kMagic);
  return SegmentWriter(std::make_unique<Impl>(std::move(*seg), o.writer));
}

const std::byte* SegmentWriter::data() const noexcept { return impl_->base; }
std::size_t SegmentWriter::size() const noexcept { return impl_->seg.size(); }
std::uint64_t SegmentWriter::generation() const noexcept { return load_relaxed(impl_->hdr->generation); }
bool SegmentWriter::repaired_at_attach() const noexcept { return impl_->repaired; }
std::uint32_t SegmentWriter::meta_blocks_reset_at_attach() const noexcept { return impl_->meta_blocks_reset; }

// -- registries ---------------------------------------------------------------------

Result<std::uint32_t> SegmentWriter::find_registry(std::string_view name) const noexcept {
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i) {
    const RegistryDesc& d = impl_->dir[i];
    if (load_relaxed(d.state) == kRegistryLive && std::string_view(d.name, d.name_len) == name) return i;
  }
  return fail(Errc::registry_not_found);
}

Result<std::uint32_t> SegmentWriter::create_registry(const RegistrySpec& s) noexcept {
  Impl& w = *impl_;
  if (!valid_spec(s)) return fail(Errc::invalid_argument);
  if (auto found = find_registry(s.name)) {
    if (same_spec(w.dir[*found], s)) return *found;
    return fail(Errc::registry_exists);
  }
  std::uint32_t id = kMaxRegistries;
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i)
    if (load_relaxed(w.dir[i].state) == kRegistryFree) {
      id = i;
      break;
    }
  if (id == kMaxRegistries) return fail(Errc::too_many_registries);
  if (auto ok = check_meta(s.meta); !ok) return fail(ok.error());

  const RegistryGeometry g = geometry_for(s);
  const std::uint64_t used = load_relaxed(w.hdr->arena_used);
  const std::uint64_t start = pad_to(used, 4096);
  if (start > w.hdr->arena_size || g.total() > w.hdr->arena_size - start) return fail(Errc::segment_full);

  w.txn_begin(kOpCreateRegistry);
  const std::uint64_t off = w.hdr->arena_offset + start;
  // A broker that crashed while creating may have left bytes here.
  std::memset(w.base + off, 0, g.total());
  RegistryDesc& d = w.dir[id];
  std::memset(&d, 0, sizeof d);
  d.id = id;
  d.kind = static_cast<std::uint32_t>(s.kind);
  d.partitions = s.partitions;
  d.name_len = static_cast<std::uint32_t>(s.name.size());
  d.max_key = s.max_key;
  d.max_value = s.max_value;
  d.record_size = g.record_size;
  d.record_capacity = g.record_capacity;
  d.capacity = s.capacity;
  d.records_offset = off;
  d.partitions_offset = off + g.records_bytes;
  d.index_offset = d.partitions_offset + g.partitions_bytes;
  d.index_buckets = g.index_buckets;
  d.meta_offset = d.index_offset + g.index_bytes;
  d.events_offset = d.meta_offset + g.meta_bytes;
  d.event_capacity = s.event_capacity;
  d.event_size = g.event_size;
  d.creator_uid = s.creator_uid;
  std::memcpy(d.name, s.name.data(), s.name.size());
  if (!s.meta.empty()) {
    // Block 0, active from the start: in place before the registry is Live.
    // check_meta passed above, so the encoding cannot fail.
    const auto len = encode_meta(s.meta, std::span<std::byte, kMetaBlockSize>(w.base + d.meta_offset, kMetaBlockSize));
    d.meta_len[0] = len.value_or(0);
  }
  w.regs[id].reset(g.record_capacity);
  store_release(w.hdr->arena_used, start + g.total());
  w.fault_step();  // a crash here leaves no registry (nor its meta)
  store_release(d.state, kRegistryLive);
  w.fault_step();  // and here, the whole registry with its meta
  store_release(w.hdr->registry_count, load_relaxed(w.hdr->registry_count) + 1);
  w.txn_end();
  if (s.creator_uid != kNamespaceUid) {
    UidUsage& u = w.usage[s.creator_uid];
    ++u.registries;
    u.registry_bytes += Impl::footprint_of(d);
  }
  return id;
}

std::uint64_t SegmentWriter::footprint(const RegistrySpec& s) noexcept {
  if (!valid_spec(s) || !check_meta(s.meta)) return 0;
  return pad_to(geometry_for(s).total(), 4096);
}

std::uint64_t SegmentWriter::arena_free() const noexcept {
  const std::uint64_t size = impl_->hdr->arena_size;
  return size - std::min(size, pad_to(load_relaxed(impl_->hdr->arena_used), 4096));
}

// -- records ------------------------------------------------------------------------

std::size_t SegmentWriter::Impl::free_records(std::uint32_t id) const noexcept {
  const RegistryDesc& d = dir[id];
  return regs[id].free + (d.record_capacity - load_relaxed(d.records_high_water));
}

std::uint32_t SegmentWriter::Impl::take_oldest(std::uint32_t id) noexcept {
  RegistryState& st = regs[id];
  while (st.stale(st.freed.front())) st.freed.pop_front();
  const std::uint32_t idx = st.freed.front().record;
  st.freed.pop_front();
  ++st.gen[idx];
  --st.free;
  return idx;
}

std::uint32_t SegmentWriter::Impl::alloc_record(std::uint32_t id) noexcept {
  RegistryDesc& d = dir[id];
  RegistryState& st = regs[id];
  while (!st.freed.empty() && st.stale(st.freed.front())) st.freed.pop_front();
  if (!st.freed.empty() && Clock::now() - st.freed_at[st.freed.front().record] >= opts.grace) return take_oldest(id);
  const std::uint64_t hw = load_relaxed(d.records_high_water);
  if (hw < d.record_capacity) {
    store_release(d.records_high_water, hw + 1);
    return static_cast<std::uint32_t>(hw);
  }
  // Every slot is live or in its grace period: reuse the oldest early. Readers
  // stay correct (the record seq changes); they may just retry once.
  return take_oldest(id);
}

// A free slot of the key's home pairs, past its grace period, when there is
// one: the emptier pair first, so that the next key homed there finds room
// too. The pairs are what a lookup prefetches while it waits for the index
// bucket (home_slot in layout.hpp). Else the oldest free slot, as any record.
std::uint32_t SegmentWriter::Impl::alloc_home(std::uint32_t id, std::uint64_t h) noexcept {
  RegistryDesc& d = dir[id];
  RegistryState& st = regs[id];
  const std::uint64_t hw = load_relaxed(d.records_high_water);
  std::optional<Clock::time_point> now;  // read only if a freed slot is a candidate
  auto is_free = [&](std::uint32_t s) {
    if (s >= d.record_capacity) return false;
    if (s >= hw) return true;
    if ((st.gen[s] & 1u) == 0) return false;
    if (!now) now = Clock::now();
    return *now - st.freed_at[s] >= opts.grace;
  };
  const std::uint32_t a = home_slot(h, d.record_capacity, 0), b = home_slot(h, d.record_capacity, 1);
  const int free_a = int(is_free(a)) + int(is_free(a + 1)), free_b = int(is_free(b)) + int(is_free(b + 1));
  if (free_a == 0 && free_b == 0) return alloc_record(id);
  const std::uint32_t first = free_a >= free_b ? a : b;
  const std::uint32_t s = is_free(first) ? first : first + 1;
  if (s < hw) {
    ++st.gen[s];
    --st.free;
    return s;
  }
  // Never used: the high water moves past it, and the slots it jumps over
  // join the free pool at its front, past any grace period (nobody ever
  // read them), so that the FIFO stays ordered by the time of freeing.
  const auto long_ago = now.value_or(Clock::now()) - opts.grace;  // past the period, whatever the epoch
  for (auto g = s; g-- > static_cast<std::uint32_t>(hw);) {
    ++st.gen[g];
    st.freed_at[g] = long_ago;
    st.freed.push_front({g, st.gen[g]});
    ++st.free;
  }
  store_release(d.records_high_water, std::uint64_t{s} + 1);
  return s;
}

void SegmentWriter::Impl::free_record(std::uint32_t id, std::uint32_t idx) noexcept {
  RecordHeader& r = rec(dir[id], idx);
  {
    SeqWriteGuard g(r.seq);
    store_relaxed(r.state, kRecordFree);
  }
  RegistryState& st = regs[id];
  const auto now = Clock::now();
  ++st.gen[idx];
  ++st.free;
  st.freed_at[idx] = now;
  st.freed.push_back({idx, st.gen[idx]});
  if (st.freed.size() > 2 * std::size_t{st.free} + 64) st.compact();
}

void SegmentWriter::Impl::fill_record(const RegistryDesc& d, std::uint32_t idx, const RecordFill& f) noexcept {
  RecordHeader& r = rec(d, idx);
  SeqWriteGuard g(r.seq);
  store_relaxed(r.state, f.state);
  store_relaxed(r.key_len, static_cast<std::uint32_t>(f.key.size()));
  store_relaxed(r.value_len, static_cast<std::uint32_t>(f.value.size()));
  store_relaxed(r.owner_slot, f.owner_slot);
  store_relaxed(r.owner_pid, f.owner_pid);
  store_relaxed(r.version, f.version);
  store_relaxed(r.hash, f.hash);
  store_relaxed(r.owner_next, RecordRef{0});
  store_relaxed(r.owner_prev, RecordRef{0});
  store_relaxed(r.key_next, f.key_next);
  store_relaxed(r.key_prev, std::uint32_t{0});
  store_relaxed(r.key_node, f.key_node);
  store_relaxed(r.aux, f.aux);
  std::uint64_t* p = payload(d, idx);
  racy_store_bytes(p, f.key.data(), f.key.size());
  racy_store_bytes(p + pad8(f.key.size()) / 8, f.value.data(), f.value.size());
}

// -- index ----------------------------------------------------------------------------

bool SegmentWriter::Impl::index_has_room(const RegistryDesc& d, std::uint32_t p) const noexcept {
  return part(d, p).live + 1 <= index_total(d) / 8 * 7;
}

void SegmentWriter::Impl::index_insert(const RegistryDesc& d, std::uint32_t p, std::uint64_t h,
                                       std::uint32_t idx) noexcept {
  PartitionData& pd = part(d, p);
  const std::uint32_t total = index_total(d);
  if (pd.live + pd.tombstones + 1 > total / 8 * 7) index_rebuild(d, p);
  std::uint64_t* words = index_words(d, p, pd.active & 1u);
  std::uint32_t pos = static_cast<std::uint32_t>(h & (d.index_buckets - 1)) * kBucketEntries;
  for (std::uint32_t n = 0; n < total; ++n, pos = (pos + 1) & (total - 1)) {
    const std::uint64_t w = load_relaxed(words[pos]);
    if (w == 0 || static_cast<std::uint32_t>(w) == 0) {
      if (w != 0) --pd.tombstones;
      ++pd.live;
      store_release(words[pos], make_entry(hash_tag(h), idx));
      return;
    }
  }
}

void SegmentWriter::Impl::index_remove(const RegistryDesc& d, std::uint32_t p, std::uint64_t* word) noexcept {
  PartitionData& pd = part(d, p);
  const std::uint32_t total = index_total(d);
  std::uint64_t* words = index_words(d, p, pd.active & 1u);
  auto pos = static_cast<std::uint32_t>(word - words);
  store_release(words[pos], make_tombstone(static_cast<std::uint32_t>(load_relaxed(*word) >> 32)));
  --pd.live;
  ++pd.tombstones;
  // A tombstone followed by an empty entry ends no probe that could reach
  // past it, so it can become empty; so can the tombstones just before it.
  if (load_relaxed(words[(pos + 1) & (total - 1)]) != 0) return;
  for (std::uint32_t n = 0; n < total; ++n) {
    const std::uint64_t w = load_relaxed(words[pos]);
    if (w == 0 || static_cast<std::uint32_t>(w) != 0) break;
    store_release(words[pos], std::uint64_t{0});
    --pd.tombstones;
    pos = (pos + total - 1) & (total - 1);
  }
}

void SegmentWriter::Impl::index_rebuild(const RegistryDesc& d, std::uint32_t p) noexcept {
  PartitionData& pd = part(d, p);
  const std::uint32_t total = index_total(d);
  const std::uint32_t from = pd.active & 1u, to = from ^ 1u;
  std::uint64_t* src = index_words(d, p, from);
  std::uint64_t* dst = index_words(d, p, to);
  {
    SeqWriteGuard g(pd.seq);
    for (std::uint32_t i = 0; i < total; ++i) store_relaxed(dst[i], std::uint64_t{0});
    std::uint32_t live = 0;
    for (std::uint32_t i = 0; i < total; ++i) {
      const std::uint64_t w = load_relaxed(src[i]);
      if (static_cast<std::uint32_t>(w) == 0) continue;
      const std::uint64_t h = rec(d, static_cast<std::uint32_t>(w) - 1).hash;
      std::uint32_t pos = static_cast<std::uint32_t>(h & (d.index_buckets - 1)) * kBucketEntries;
      while (load_relaxed(dst[pos]) != 0) pos = (pos + 1) & (total - 1);
      store_relaxed(dst[pos], w);
      ++live;
    }
    pd.live = live;
    pd.tombstones = 0;
    store_release(pd.active, to);
  }
}

// -- owners ------------------------------------------------------------------------------

long SegmentWriter::Impl::find_owner(std::uint32_t pid) const noexcept {
  std::uint32_t pos = owner_home(pid);
  for (std::uint32_t n = 0; n < owner_cap; ++n, pos = (pos + 1) % owner_cap) {
    const std::uint32_t st = load_relaxed(owners[pos].state);
    if (st == kOwnerEmpty) return -1;
    if (st == kOwnerLive && owners[pos].pid == pid) return pos;
  }
  return -1;
}

long SegmentWriter::Impl::free_owner_slot(std::uint32_t pid) const noexcept {
  std::uint32_t pos = owner_home(pid);
  for (std::uint32_t n = 0; n < owner_cap; ++n, pos = (pos + 1) % owner_cap)
    if (load_relaxed(owners[pos].state) != kOwnerLive) return pos;
  return -1;
}

std::uint32_t SegmentWriter::Impl::acquire_owner(const OwnerIdentity& o) noexcept {
  if (long found = find_owner(o.pid); found >= 0) return static_cast<std::uint32_t>(found);
  const auto slot = static_cast<std::uint32_t>(free_owner_slot(o.pid));
  OwnerSlot& s = owners[slot];
  {
    SeqWriteGuard g(s.seq);
    store_relaxed(s.pid, o.pid);
    store_relaxed(s.uid, o.uid);
    store_relaxed(s.identity, o.value);
    store_relaxed(s.identity_kind, o.kind);
    store_relaxed(s.entry_count, std::uint32_t{0});
    store_relaxed(s.head, RecordRef{0});
    store_relaxed(s.first_seen_ns, now_unix_ns());
    store_release(s.state, kOwnerLive);
  }
  store_release(hdr->owner_count, load_relaxed(hdr->owner_count) + 1);
  if (o.kind == kIdentityRemote) count_host_owner(static_cast<std::uint32_t>(o.value), +1);
  return slot;
}

void SegmentWriter::Impl::release_owner(std::uint32_t slot) noexcept {
  const bool remote = owners[slot].identity_kind == kIdentityRemote;
  const auto host = static_cast<std::uint32_t>(owners[slot].identity);
  {
    SeqWriteGuard g(owners[slot].seq);
    store_release(owners[slot].state, kOwnerTombstone);
  }
  store_release(hdr->owner_count, load_relaxed(hdr->owner_count) - 1);
  // After the owner slot: a reader that saw the slot live reads the host's
  // name before the host slot can be freed.
  if (remote) count_host_owner(host, -1);
  // Same trailing-tombstone cleanup as the index.
  std::uint32_t pos = slot;
  if (load_relaxed(owners[(pos + 1) % owner_cap].state) != kOwnerEmpty) return;
  for (std::uint32_t n = 0; n < owner_cap; ++n) {
    if (load_relaxed(owners[pos].state) != kOwnerTombstone) break;
    SeqWriteGuard g(owners[pos].seq);
    store_release(owners[pos].state, kOwnerEmpty);
    pos = (pos + owner_cap - 1) % owner_cap;
  }
}

void SegmentWriter::Impl::link_owner(std::uint32_t slot, RecordRef ref) noexcept {
  OwnerSlot& s = owners[slot];
  RecordHeader& r = rec_by_ref(ref);
  SeqWriteGuard g(s.seq);
  const RecordRef head = s.head;
  store_relaxed(r.owner_next, head);
  store_relaxed(r.owner_prev, RecordRef{0});
  if (head != 0) store_relaxed(rec_by_ref(head).owner_prev, ref);
  store_relaxed(s.head, ref);
  store_relaxed(s.entry_count, s.entry_count + 1);
  count_record(slot, r, +1);
}

void SegmentWriter::Impl::unlink_owner(std::uint32_t slot, RecordRef ref) noexcept {
  OwnerSlot& s = owners[slot];
  RecordHeader& r = rec_by_ref(ref);
  SeqWriteGuard g(s.seq);
  const RecordRef next = r.owner_next, prev = r.owner_prev;
  if (prev != 0)
    store_relaxed(rec_by_ref(prev).owner_next, next);
  else
    store_relaxed(s.head, next);
  if (next != 0) store_relaxed(rec_by_ref(next).owner_prev, prev);
  store_relaxed(s.entry_count, s.entry_count - 1);
  count_record(slot, r, -1);
}

void SegmentWriter::Impl::replace_owner_ref(std::uint32_t slot, RecordRef from, RecordRef to) noexcept {
  OwnerSlot& s = owners[slot];
  const RecordHeader& old = rec_by_ref(from);
  RecordHeader& r = rec_by_ref(to);
  SeqWriteGuard g(s.seq);
  const RecordRef next = old.owner_next, prev = old.owner_prev;
  store_relaxed(r.owner_next, next);
  store_relaxed(r.owner_prev, prev);
  if (prev != 0)
    store_relaxed(rec_by_ref(prev).owner_next, to);
  else
    store_relaxed(s.head, to);
  if (next != 0) store_relaxed(rec_by_ref(next).owner_prev, to);
  count_record(slot, old, -1);
  count_record(slot, r, +1);
}

void SegmentWriter::Impl::count_record(std::uint32_t slot, const RecordHeader& r, int sign) noexcept {
  const OwnerSlot& s = owners[slot];
  if (s.identity_kind == kIdentityStatic || s.identity_kind == kIdentityRemote) return;
  UidUsage& u = usage[s.uid];
  const auto delta = static_cast<std::uint64_t>(static_cast<std::int64_t>(sign));
  u.entries += delta;
  u.value_bytes += delta * r.value_len;
}

// -- whole entries --------------------------------------------------------------------------

void SegmentWriter::Impl::publish_event(RegistryDesc& d, std::uint32_t type, std::string_view key,
                                        std::uint32_t pid, std::uint32_t old_pid, std::uint64_t version) noexcept {
  const std::uint64_t seq = d.event_seq + 1;
  auto* e = reinterpret_cast<EventHeader*>(base + d.events_offset + (seq & (d.event_capacity - 1)) * d.event_size);
  store_relaxed(e->seq, kEventWriting);
  fence_release();
  store_relaxed(e->type, type);
  store_relaxed(e->pid, pid);
  store_relaxed(e->old_pid, old_pid);
  store_relaxed(e->key_len, static_cast<std::uint32_t>(key.size()));
  store_relaxed(e->version, version);
  // One clock read per request batch (defer_wakes): its writes share a time.
  if (wakes_deferred && batch_time_ns == 0) batch_time_ns = now_unix_ns();
  store_relaxed(e->time_ns, wakes_deferred ? batch_time_ns : now_unix_ns());
  racy_store_bytes(reinterpret_cast<std::uint64_t*>(e + 1), key.data(), key.size());
  store_release(e->seq, seq);
  store_release(d.event_seq, seq);
  touched[d.id] = 1;
}

void SegmentWriter::Impl::wake_watchers() noexcept {
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    if (!touched[id]) continue;
    touched[id] = 0;
    fetch_add_release(dir[id].event_futex, std::uint32_t{1});
    // A shared futex: waiters sit in other processes, on read-only mappings.
    ::syscall(SYS_futex, &dir[id].event_futex, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

void SegmentWriter::defer_wakes() noexcept {
  impl_->wakes_deferred = true;
  impl_->batch_time_ns = 0;
}

void SegmentWriter::flush_wakes() noexcept {
  impl_->wakes_deferred = false;
  impl_->wake_watchers();
}

void SegmentWriter::mark_superseded() noexcept {
  Impl& m = *impl_;
  // Header first: a reader that sees a partition's bit and checks the header
  // (validate) finds it set.
  store_release(m.hdr->superseded, kSegmentSuperseded);
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    RegistryDesc* d = m.live_registry(id);
    if (d == nullptr) continue;
    for (std::uint32_t p = 0; p < d->partitions; ++p) {
      PartitionData& pd = m.part(*d, p);
      store_release(pd.active, load_relaxed(pd.active) | kActiveSuperseded);
    }
    m.touched[id] = 1;
  }
  // After the marks, as after a write's events: a waiter that read the word
  // before the marks sees it change, and one that reads it after sees them.
  m.wake_watchers();
}

std::uint32_t SegmentWriter::Impl::primary_of(const RegistryDesc& d, std::uint32_t queued) const noexcept {
  const RecordHeader& q = rec(d, queued);
  const std::uint32_t p = partition_of(q.hash, d.partitions);
  const std::string_view key = rec_key(d, queued);
  std::uint64_t* word = find_key(d, p, q.hash, key);
  return word != nullptr ? static_cast<std::uint32_t>(*word) - 1 : queued;
}

void SegmentWriter::Impl::remove_record(std::uint32_t id, std::uint32_t idx, std::uint32_t event) noexcept {
  RegistryDesc& d = dir[id];
  RecordHeader& r = rec(d, idx);
  const std::uint32_t p = partition_of(r.hash, d.partitions);
  bool counted = true;  // an entry (counted in entry_count), not a queued record
  if (r.state == kRecordQueued) {
    // Leaves the owner queue of its key; lookups never saw it, so no event.
    counted = false;
    RecordHeader& primary = rec(d, primary_of(d, idx));
    SeqWriteGuard g(primary.seq);
    const std::uint32_t next = r.key_next, prev = r.key_prev;
    if (prev != 0)
      store_relaxed(rec(d, prev - 1).key_next, next);
    else
      store_relaxed(primary.key_next, next);
    if (next != 0) store_relaxed(rec(d, next - 1).key_prev, prev);
  } else if (d.kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    std::uint64_t* word = find_entry(d, p, r.hash, [&](std::uint32_t i) { return i == idx; });
    if (r.key_next != 0) {
      // The first in the owner queue takes over in one step: it becomes the
      // entry, then the index switches to it with one release store.
      const std::uint32_t q = r.key_next - 1;
      RecordHeader& next = rec(d, q);
      {
        SeqWriteGuard g(next.seq);
        store_relaxed(next.state, kRecordEntry);
        store_relaxed(next.key_prev, std::uint32_t{0});
        // Its own queue is the rest of the line, which now starts one later.
        if (next.key_next != 0) store_relaxed(rec(d, next.key_next - 1).key_prev, std::uint32_t{0});
      }
      fault_step();
      if (word != nullptr) store_release(*word, make_entry(hash_tag(r.hash), q));
      publish_event(d, kEventOwnerChanged, rec_key(d, idx), next.owner_pid, r.owner_pid, next.version);
      counted = false;  // one entry left, one took its place
    } else {
      if (word != nullptr) index_remove(d, p, word);
      publish_event(d, event, rec_key(d, idx), r.owner_pid, 0, 0);
      store_release(d.key_count, d.key_count - 1);
    }
  } else {
    const std::uint32_t kn = r.key_node - 1;
    RecordHeader& k = rec(d, kn);
    {
      SeqWriteGuard g(k.seq);
      const std::uint32_t next = r.key_next, prev = r.key_prev;
      if (prev != 0)
        store_relaxed(rec(d, prev - 1).key_next, next);
      else
        store_relaxed(k.key_next, next);
      if (next != 0) store_relaxed(rec(d, next - 1).key_prev, prev);
      store_relaxed(k.aux, k.aux - 1);
    }
    publish_event(d, event, rec_key(d, idx), r.owner_pid, 0, 0);
    fault_step();
    if (k.aux == 0) {
      std::uint64_t* word = find_entry(d, p, k.hash, [&](std::uint32_t i) { return i == kn; });
      if (word != nullptr) index_remove(d, p, word);
      free_record(id, kn);
      store_release(d.key_count, d.key_count - 1);
    }
  }
  fault_step();
  const std::uint32_t slot = r.owner_slot - 1;
  unlink_owner(slot, make_ref(id, idx));
  // The record first: a remote owner's release may free its host slot, and
  // a reader that read the host's name under this record's seq must see
  // that seq move before the slot can change (layout.hpp, HostSlot).
  free_record(id, idx);
  if (owners[slot].entry_count == 0) release_owner(slot);
  if (counted) {
    store_release(part(d, p).entry_count, part(d, p).entry_count - 1);
    store_release(d.entry_count, d.entry_count - 1);
  }
}

// -- operations ---------------------------------------------------------------------------------

Result<RegistryDesc*> SegmentWriter::Impl::writable(std::uint32_t id, std::string_view key,
                                                    std::string_view value) const noexcept {
  RegistryDesc* d = live_registry(id);
  if (d == nullptr) return fail(Errc::registry_not_found);
  if (key.empty()) return fail(Errc::invalid_argument);
  if (key.size() > d->max_key) return fail(Errc::key_too_long);
  if (value.size() > d->max_value) return fail(Errc::value_too_long);
  return d;
}

Result<InsertResult> SegmentWriter::insert(std::uint32_t id, std::string_view key, std::string_view value,
                                           const OwnerIdentity& owner, std::uint32_t* conflict_pid) noexcept {
  if (impl_->live_registry(id) == nullptr) return fail(Errc::registry_not_found);
  // A remote owner's word and kind come only from put_remote.
  if (owner.pid == 0 || is_remote_owner(owner.pid) || owner.kind == kIdentityRemote)
    return fail(Errc::invalid_argument);
  return insert_with(id, key, value, owner, 0, conflict_pid);
}

Result<InsertResult> SegmentWriter::insert_with(std::uint32_t id, std::string_view key, std::string_view value,
                                                const OwnerIdentity& owner, std::uint32_t aux,
                                                std::uint32_t* conflict_pid) noexcept {
  Impl& w = *impl_;
  const auto dp = w.writable(id, key, value);
  if (!dp) return fail(dp.error());
  RegistryDesc& d = **dp;
  const long existing_owner = w.find_owner(owner.pid);
  if (existing_owner >= 0) {
    const OwnerSlot& s = w.owners[existing_owner];
    if (s.identity_kind != owner.kind || s.identity != owner.value) return fail(Errc::stale_owner);
  } else if (w.free_owner_slot(owner.pid) < 0) {
    return fail(Errc::owner_table_full);
  }
  const std::uint64_t h = hash_key(key.data(), key.size());
  const std::uint32_t p = partition_of(h, d.partitions);
  const bool unique = d.kind == static_cast<std::uint32_t>(RegistryKind::unique);
  std::uint64_t* found = w.find_key(d, p, h, key);
  if (unique && found != nullptr) {
    if (conflict_pid != nullptr) *conflict_pid = w.rec(d, static_cast<std::uint32_t>(*found) - 1).owner_pid;
    return fail(Errc::already_registered);
  }
  const std::size_t need = (found == nullptr && !unique) ? 2 : 1;
  if (d.entry_count >= d.capacity || w.free_records(id) < need) return fail(Errc::registry_full);
  if (found == nullptr && !w.index_has_room(d, p)) return fail(Errc::registry_full);

  w.txn_begin(kOpInsert);
  const std::uint32_t slot = w.acquire_owner(owner);
  w.fault_step();
  // The record the index will point at takes the key's home pair: the
  // entry of a unique key, the key node of a duplicate one.
  const std::uint32_t e = unique ? w.alloc_home(id, h) : w.alloc_record(id);
  const std::uint64_t version = w.hdr->next_version++;
  Impl::RecordFill f{kRecordEntry, key, value, slot + 1, owner.pid, version, h, 0, 0, aux};
  InsertResult out{version, true};
  if (unique) {
    w.fill_record(d, e, f);
    w.fault_step();
    w.link_owner(slot, make_ref(id, e));
    w.fault_step();
    w.index_insert(d, p, h, e);
    store_release(d.key_count, d.key_count + 1);
  } else if (found == nullptr) {
    const std::uint32_t kn = w.alloc_home(id, h);
    f.key_node = kn + 1;
    w.fill_record(d, e, f);
    w.fill_record(d, kn, {kRecordKeyNode, key, {}, 0, 0, 0, h, e + 1, 0, 1});
    w.fault_step();
    w.link_owner(slot, make_ref(id, e));
    w.fault_step();
    w.index_insert(d, p, h, kn);
    store_release(d.key_count, d.key_count + 1);
  } else {
    const std::uint32_t kn = static_cast<std::uint32_t>(*found) - 1;
    RecordHeader& k = w.rec(d, kn);
    f.key_node = kn + 1;
    f.key_next = k.key_next;
    w.fill_record(d, e, f);
    w.fault_step();
    {
      SeqWriteGuard g(k.seq);
      if (k.key_next != 0) store_relaxed(w.rec(d, k.key_next - 1).key_prev, e + 1);
      store_relaxed(k.key_next, e + 1);
      store_relaxed(k.aux, k.aux + 1);
    }
    w.fault_step();
    w.link_owner(slot, make_ref(id, e));
    out.new_key = false;
  }
  store_release(w.part(d, p).entry_count, w.part(d, p).entry_count + 1);
  store_release(d.entry_count, d.entry_count + 1);
  w.publish_event(d, kEventRegister, key, owner.pid, 0, version);
  w.txn_end();
  return out;
}

Result<QueueResult> SegmentWriter::insert_queued(std::uint32_t id, std::string_view key, std::string_view value,
                                                 const OwnerIdentity& owner, std::uint32_t flags) noexcept {
  Impl& w = *impl_;
  RegistryDesc* dp = w.live_registry(id);
  if (dp == nullptr) return fail(Errc::registry_not_found);
  RegistryDesc& d = *dp;
  if (d.kind != static_cast<std::uint32_t>(RegistryKind::unique)) return fail(Errc::invalid_argument);
  if ((flags & ~(kQueueAllowReplacement | kQueueDoNotQueue | kQueueReplaceExisting)) != 0)
    return fail(Errc::invalid_argument);
  const std::uint32_t stored = flags & (kQueueAllowReplacement | kQueueDoNotQueue);
  if (key.empty() || owner.pid == 0 || is_remote_owner(owner.pid) || owner.kind == kIdentityRemote)
    return fail(Errc::invalid_argument);
  if (key.size() > d.max_key) return fail(Errc::key_too_long);
  if (value.size() > d.max_value) return fail(Errc::value_too_long);
  const std::uint64_t h = hash_key(key.data(), key.size());
  const std::uint32_t p = partition_of(h, d.partitions);
  std::uint64_t* found = w.find_key(d, p, h, key);
  if (found == nullptr) {
    auto r = insert(id, key, value, owner);
    if (!r) return fail(r.error());
    // Keep the caller's flags on its new entry.
    const std::uint32_t e = static_cast<std::uint32_t>(*w.find_key(d, p, h, key)) - 1;
    {
      SeqWriteGuard g(w.rec(d, e).seq);
      store_relaxed(w.rec(d, e).aux, stored);
    }
    return QueueResult{QueueReply::primary_owner, r->version, owner.pid};
  }
  const long existing_owner = w.find_owner(owner.pid);
  if (existing_owner >= 0) {
    const OwnerSlot& s = w.owners[existing_owner];
    if (s.identity_kind != owner.kind || s.identity != owner.value) return fail(Errc::stale_owner);
  }
  const std::uint32_t pi = static_cast<std::uint32_t>(*found) - 1;
  RecordHeader& primary = w.rec(d, pi);
  // A caller already in place (primary or waiting) only has its flags updated.
  auto set_flags = [&](RecordHeader& r) {
    w.txn_begin(kOpInsert);
    {
      SeqWriteGuard g(r.seq);
      store_relaxed(r.aux, stored);
    }
    w.txn_end();
  };
  if (primary.owner_pid == owner.pid) {
    set_flags(primary);
    return QueueResult{QueueReply::already_owner, primary.version, owner.pid};
  }
  const bool replace = (primary.aux & kQueueAllowReplacement) && (flags & kQueueReplaceExisting);
  // Nobody waits behind a static entry: the key is the namespace's, and a
  // queued process would take it over the moment an admin unsets it, before
  // the configuration could set it again.
  if (!replace && ((flags & kQueueDoNotQueue) || primary.owner_pid == 0))
    return QueueResult{QueueReply::exists, 0, primary.owner_pid};
  if (!replace) {
    // Already waiting: update its flags in place.
    std::uint32_t tail = 0;
    for (std::uint32_t q = primary.key_next; q != 0; q = w.rec(d, q - 1).key_next) {
      RecordHeader& qr = w.rec(d, q - 1);
      if (qr.owner_pid == owner.pid) {
        set_flags(qr);
        return QueueResult{QueueReply::in_queue, qr.version, primary.owner_pid};
      }
      tail = q;
    }
    if (existing_owner < 0 && w.free_owner_slot(owner.pid) < 0) return fail(Errc::owner_table_full);
    if (w.free_records(id) < 1) return fail(Errc::registry_full);
    w.txn_begin(kOpInsert);
    const std::uint32_t slot = w.acquire_owner(owner);
    const std::uint32_t q = w.alloc_record(id);
    const std::uint64_t version = w.hdr->next_version++;
    w.fill_record(d, q, {kRecordQueued, key, value, slot + 1, owner.pid, version, h, 0, 0, stored});
    w.fault_step();
    {
      SeqWriteGuard g(primary.seq);
      store_relaxed(w.rec(d, q).key_prev, tail);
      if (tail != 0)
        store_relaxed(w.rec(d, tail - 1).key_next, q + 1);
      else
        store_relaxed(primary.key_next, q + 1);
    }
    w.fault_step();
    w.link_owner(slot, make_ref(id, q));
    w.txn_end();
    return QueueResult{QueueReply::in_queue, version, primary.owner_pid};
  }
  // Replacement: the caller takes over now; the old primary waits at the head
  // of the queue unless it asked not to be queued.
  if (existing_owner < 0 && w.free_owner_slot(owner.pid) < 0) return fail(Errc::owner_table_full);
  if (w.free_records(id) < 1) return fail(Errc::registry_full);
  // The caller may have been waiting in the queue: it leaves its place there.
  std::uint32_t waiting = 0;
  for (std::uint32_t q = primary.key_next; q != 0; q = w.rec(d, q - 1).key_next)
    if (w.rec(d, q - 1).owner_pid == owner.pid) waiting = q;
  w.txn_begin(kOpInsert);
  if (waiting != 0) w.remove_record(id, waiting - 1, kEventUnregister);
  const bool old_leaves = (primary.aux & kQueueDoNotQueue) != 0;
  const std::uint32_t slot = w.acquire_owner(owner);
  const std::uint32_t n = w.alloc_home(id, h);
  const std::uint64_t version = w.hdr->next_version++;
  const std::uint32_t chain = old_leaves ? primary.key_next : pi + 1;
  w.fill_record(d, n, {kRecordEntry, key, value, slot + 1, owner.pid, version, h, chain, 0, stored});
  w.link_owner(slot, make_ref(id, n));
  w.fault_step();
  const std::uint32_t old_pid = primary.owner_pid;
  store_release(*found, make_entry(hash_tag(h), n));  // the switch readers see
  w.fault_step();
  if (old_leaves) {
    {
      SeqWriteGuard g(primary.seq);
      store_relaxed(primary.key_next, std::uint32_t{0});  // its queue now hangs off the new primary
    }
    const std::uint32_t oslot = primary.owner_slot - 1;
    w.unlink_owner(oslot, make_ref(id, pi));
    w.free_record(id, pi);  // before the owner goes, as in remove_record
    if (w.owners[oslot].entry_count == 0) w.release_owner(oslot);
  } else {
    SeqWriteGuard g(primary.seq);
    store_relaxed(primary.state, kRecordQueued);
    store_relaxed(primary.key_prev, std::uint32_t{0});
    if (primary.key_next != 0) store_relaxed(w.rec(d, primary.key_next - 1).key_prev, pi + 1);
  }
  w.publish_event(d, kEventOwnerChanged, key, owner.pid, old_pid, version);
  w.txn_end();
  return QueueResult{QueueReply::primary_owner, version, owner.pid};
}

std::optional<std::uint32_t> SegmentWriter::Impl::key_record(const RegistryDesc& d, std::string_view key) const noexcept {
  if (key.empty() || key.size() > d.max_key) return std::nullopt;
  const std::uint64_t h = hash_key(key.data(), key.size());
  const std::uint64_t* found = find_key(d, partition_of(h, d.partitions), h, key);
  if (found == nullptr) return std::nullopt;
  return static_cast<std::uint32_t>(*found) - 1;
}

Result<std::uint32_t> SegmentWriter::remove(std::uint32_t id, std::string_view key, std::uint32_t pid) noexcept {
  if (impl_->live_registry(id) == nullptr) return fail(Errc::registry_not_found);
  if (pid == 0) return fail(Errc::invalid_argument);
  return remove_key(id, key, pid);
}

Result<std::uint32_t> SegmentWriter::remove_key(std::uint32_t id, std::string_view key, std::uint32_t pid) noexcept {
  Impl& w = *impl_;
  RegistryDesc* dp = w.live_registry(id);
  if (dp == nullptr) return fail(Errc::registry_not_found);
  RegistryDesc& d = *dp;
  const auto node = w.key_record(d, key);
  if (!node) return std::uint32_t{0};
  const std::uint32_t idx = *node;
  std::vector<std::uint32_t> victims;
  if (d.kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    // Like D-Bus ReleaseName: the caller also leaves the key's owner queue.
    for (std::uint32_t q = w.rec(d, idx).key_next; q != 0; q = w.rec(d, q - 1).key_next)
      if (w.rec(d, q - 1).owner_pid == pid) victims.push_back(q - 1);
    if (w.rec(d, idx).owner_pid == pid) victims.push_back(idx);
  } else {
    for (std::uint32_t e = w.rec(d, idx).key_next; e != 0; e = w.rec(d, e - 1).key_next)
      if (w.rec(d, e - 1).owner_pid == pid) victims.push_back(e - 1);
  }
  if (victims.empty()) return std::uint32_t{0};
  w.txn_begin(kOpRemove, id, pid, key);
  for (std::uint32_t v : victims) w.remove_record(id, v, kEventUnregister);
  w.txn_end();
  return static_cast<std::uint32_t>(victims.size());
}

Result<std::uint32_t> SegmentWriter::remove_if(std::uint32_t id, std::string_view key, std::uint32_t pid,
                                               const std::function<bool(std::string_view)>& pred) noexcept {
  Impl& w = *impl_;
  RegistryDesc* dp = w.live_registry(id);
  if (dp == nullptr) return fail(Errc::registry_not_found);
  RegistryDesc& d = *dp;
  if (pid == 0) return fail(Errc::invalid_argument);
  const auto node = w.key_record(d, key);
  if (!node) return std::uint32_t{0};
  const std::uint32_t idx = *node;
  if (d.kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    // One entry per key: all of pid's entries, or none.
    if (w.rec(d, idx).owner_pid != pid || !pred(w.rec_value(d, idx))) return std::uint32_t{0};
    return remove(id, key, pid);
  }
  std::size_t mine = 0;
  std::vector<std::uint32_t> victims;
  for (std::uint32_t e = w.rec(d, idx).key_next; e != 0; e = w.rec(d, e - 1).key_next) {
    if (w.rec(d, e - 1).owner_pid != pid) continue;
    ++mine;
    if (pred(w.rec_value(d, e - 1))) victims.push_back(e - 1);
  }
  if (victims.empty()) return std::uint32_t{0};
  if (victims.size() == mine) return remove(id, key, pid);
  if (victims.size() > kMaxRemoveSome) return fail(Errc::invalid_argument);
  w.remove_some(id, pid, victims);
  return static_cast<std::uint32_t>(victims.size());
}

void SegmentWriter::Impl::remove_some(std::uint32_t id, std::uint32_t pid,
                                      std::span<const std::uint32_t> records) noexcept {
  // The intent lists the records, so that a redo removes exactly these.
  txn_begin(kOpRemoveSome, id, pid,
            std::string_view(reinterpret_cast<const char*>(records.data()), records.size_bytes()));
  const RegistryDesc& d = dir[id];
  for (std::uint32_t v : records) {
    if (v >= d.records_high_water) continue;
    const RecordHeader& r = rec(d, v);
    if (r.state != kRecordEntry || r.owner_pid != pid) continue;
    remove_record(id, v, kEventUnregister);
  }
  txn_end();
}

Result<std::uint32_t> SegmentWriter::remove_owner(std::uint32_t pid, RemoveReason reason) noexcept {
  Impl& w = *impl_;
  if (pid == 0) return fail(Errc::invalid_argument);
  const long slot = w.find_owner(pid);
  if (slot < 0) return std::uint32_t{0};
  std::vector<RecordRef> refs;
  for (RecordRef r = w.owners[slot].head; r != 0; r = w.rec_by_ref(r).owner_next) refs.push_back(r);
  w.txn_begin(kOpRemoveOwner, 0, pid);
  const std::uint32_t event = reason == RemoveReason::owner_died ? kEventOwnerDied : kEventUnregister;
  for (RecordRef r : refs) w.remove_record(ref_registry(r), ref_record(r), event);
  if (refs.empty()) w.release_owner(static_cast<std::uint32_t>(slot));
  w.txn_end();
  return static_cast<std::uint32_t>(refs.size());
}

Result<std::uint64_t> SegmentWriter::update_value(std::uint32_t id, std::string_view key, std::uint32_t pid,
                                                  std::string_view value,
                                                  std::optional<std::uint64_t> expected) noexcept {
  Impl& w = *impl_;
  RegistryDesc* dp = w.live_registry(id);
  if (dp == nullptr) return fail(Errc::registry_not_found);
  RegistryDesc& d = *dp;
  if (d.kind != static_cast<std::uint32_t>(RegistryKind::unique) || pid == 0) return fail(Errc::invalid_argument);
  if (key.empty() || key.size() > d.max_key) return fail(Errc::not_found);
  if (value.size() > d.max_value) return fail(Errc::value_too_long);
  const std::uint64_t h = hash_key(key.data(), key.size());
  const std::uint32_t p = partition_of(h, d.partitions);
  std::uint64_t* found = w.find_key(d, p, h, key);
  if (found == nullptr) return fail(Errc::not_found);
  const std::uint32_t old = static_cast<std::uint32_t>(*found) - 1;
  RecordHeader& r = w.rec(d, old);
  if (r.owner_pid != pid) return fail(Errc::not_found);
  if (expected && *expected != r.version) return fail(Errc::version_conflict);
  if (w.free_records(id) < 1) return fail(Errc::registry_full);
  return w.replace_unique(id, found, old, value, r.aux);
}

std::uint64_t SegmentWriter::Impl::replace_unique(std::uint32_t id, std::uint64_t* found, std::uint32_t old,
                                                  std::string_view value, std::uint32_t aux) noexcept {
  RegistryDesc& d = dir[id];
  const RecordHeader& r = rec(d, old);
  const std::string_view key = rec_key(d, old);
  txn_begin(kOpUpdate);
  const std::uint32_t e = alloc_home(id, r.hash);
  const std::uint64_t version = hdr->next_version++;
  // The new record inherits the owner queue (its chain).
  fill_record(d, e, {kRecordEntry, key, value, r.owner_slot, r.owner_pid, version, r.hash, r.key_next, 0, aux});
  // The owner's list names the key once throughout, so keys() never lists it twice.
  replace_owner_ref(r.owner_slot - 1, make_ref(id, old), make_ref(id, e));
  fault_step();
  // The switch readers see: one release store from the old record to the new.
  store_release(*found, make_entry(hash_tag(r.hash), e));
  fault_step();
  publish_event(d, kEventUpdate, key, r.owner_pid, 0, version);
  free_record(id, old);
  txn_end();
  return version;
}

// -- meta ------------------------------------------------------------------------------------------

// W: the whole list is encoded in private memory first, so a list that does
// not fit changes nothing.
Status SegmentWriter::Impl::write_meta(RegistryDesc& d, const MetaPairs& m) noexcept {
  Impl& w = *this;
  alignas(8) std::array<std::byte, kMetaBlockSize> buf;
  const auto size = encode_meta(m, buf);
  if (!size) return fail(size.error());
  const std::uint32_t target = (d.meta_active & 1u) ^ 1u;
  auto* dst = reinterpret_cast<std::uint64_t*>(w.base + d.meta_offset + std::uint64_t{target} * kMetaBlockSize);
  w.txn_begin(kOpMeta);
  {
    SeqWriteGuard g(d.meta_seq);
    racy_store_bytes(dst, buf.data(), pad8(*size));
    store_relaxed(d.meta_len[target], *size);
    store_relaxed(d.meta_active, target);
  }
  w.txn_end();
  return {};
}

// The writer's own block is never torn, so a block that does not decode is
// corrupt: the caller must not build a new list on half of the old one.
Result<MetaPairs> SegmentWriter::Impl::current_meta(const RegistryDesc& d) const {
  const std::uint32_t active = d.meta_active & 1u;
  if (d.meta_len[active] > kMetaBlockSize) return fail(Errc::corrupt);
  return decode_meta(std::span<const std::byte>(base + d.meta_offset + std::uint64_t{active} * kMetaBlockSize,
                                                d.meta_len[active]));
}

Status SegmentWriter::put_meta(std::uint32_t id, std::string_view key, std::string_view value) noexcept {
  Impl& w = *impl_;
  RegistryDesc* d = w.live_registry(id);
  if (d == nullptr) return fail(Errc::registry_not_found);
  if (key.empty() || key.size() > kMaxMetaKey) return fail(Errc::invalid_argument);
  auto m = w.current_meta(*d);
  if (!m) return fail(m.error());
  auto it = std::find_if(m->begin(), m->end(), [&](const auto& kv) { return kv.first == key; });
  if (it != m->end())
    it->second = std::string(value);
  else
    m->emplace_back(std::string(key), std::string(value));
  return w.write_meta(*d, *m);
}

Status SegmentWriter::delete_meta(std::uint32_t id, std::string_view key) noexcept {
  Impl& w = *impl_;
  RegistryDesc* d = w.live_registry(id);
  if (d == nullptr) return fail(Errc::registry_not_found);
  auto m = w.current_meta(*d);
  if (!m) return fail(m.error());
  auto it = std::find_if(m->begin(), m->end(), [&](const auto& kv) { return kv.first == key; });
  if (it == m->end()) return fail(Errc::not_found);
  m->erase(it);
  return w.write_meta(*d, *m);
}

std::vector<OwnerRecord> SegmentWriter::owners() const {
  std::vector<OwnerRecord> out;
  for (std::uint32_t i = 0; i < impl_->owner_cap; ++i) {
    const OwnerSlot& s = impl_->owners[i];
    // Neither the static owner nor a remote one is a process of this host.
    if (s.state != kOwnerLive || s.identity_kind == kIdentityStatic || s.identity_kind == kIdentityRemote)
      continue;
    out.push_back({{s.pid, s.uid, s.identity_kind, s.identity}, s.entry_count});
  }
  return out;
}

}  // namespace shmreg::shm
