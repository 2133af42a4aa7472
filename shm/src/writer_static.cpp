// SegmentWriter: the static owner's entries (set by the broker's
// configuration) and the per-uid use that quotas read.
#include <algorithm>

#include "shmreg/shm/hash.hpp"
#include "writer_impl.hpp"

namespace shmreg::shm {

namespace {

constexpr OwnerIdentity kStaticOwner{0, kNamespaceUid, kIdentityStatic, 0};

}  // namespace

Result<std::uint64_t> SegmentWriter::set_static(std::uint32_t id, std::string_view key, std::string_view value,
                                                bool declared, std::uint32_t* conflict_pid) noexcept {
  Impl& w = *impl_;
  const auto dp = w.writable(id, key, value);
  if (!dp) return fail(dp.error());
  RegistryDesc& d = **dp;
  const std::uint32_t aux = declared ? kStaticDeclared : 0;
  const auto node = w.key_record(d, key);
  std::optional<std::uint32_t> mine;
  if (node && d.kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    const std::uint32_t holder = w.rec(d, *node).owner_pid;
    if (holder != 0) {
      if (conflict_pid != nullptr) *conflict_pid = holder;
      return fail(Errc::already_registered);
    }
    mine = *node;
  } else if (node) {
    // The static owner has at most one entry per duplicate key.
    for (std::uint32_t e = w.rec(d, *node).key_next; e != 0 && !mine; e = w.rec(d, e - 1).key_next)
      if (w.rec(d, e - 1).owner_pid == 0) mine = e - 1;
  }
  if (!mine) {
    auto r = insert_with(id, key, value, kStaticOwner, aux, conflict_pid);
    if (!r) return fail(r.error());
    return r->version;
  }
  const RecordHeader& old = w.rec(d, *mine);
  if (old.aux == aux && w.rec_value(d, *mine) == value) return old.version;
  if (w.free_records(id) < 1) return fail(Errc::registry_full);
  if (d.kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    const std::uint64_t h = hash_key(key.data(), key.size());
    return w.replace_unique(id, w.find_key(d, partition_of(h, d.partitions), h, key), *mine, value, aux);
  }
  return w.replace_in_chain(id, *node, *mine, value, aux);
}

// A duplicate key's chain switches from the old record to the new one inside
// one section of the key node's seq, so a reader sees exactly one of them;
// a crash before that section leaves the old one, after it the new one.
std::uint64_t SegmentWriter::Impl::replace_in_chain(std::uint32_t id, std::uint32_t kn, std::uint32_t old,
                                                    std::string_view value, std::uint32_t aux) noexcept {
  RegistryDesc& d = dir[id];
  RecordHeader& k = rec(d, kn);
  const RecordHeader& r = rec(d, old);
  const std::string_view key = rec_key(d, old);
  txn_begin(kOpUpdate);
  const std::uint32_t e = alloc_record(id);
  const std::uint64_t version = hdr->next_version++;
  fill_record(d, e, {kRecordEntry, key, value, r.owner_slot, r.owner_pid, version, r.hash, r.key_next, kn + 1, aux});
  replace_owner_ref(r.owner_slot - 1, make_ref(id, old), make_ref(id, e));
  fault_step();
  {
    SeqWriteGuard g(k.seq);
    store_relaxed(rec(d, e).key_prev, r.key_prev);
    if (r.key_prev != 0)
      store_relaxed(rec(d, r.key_prev - 1).key_next, e + 1);
    else
      store_relaxed(k.key_next, e + 1);
    if (r.key_next != 0) store_relaxed(rec(d, r.key_next - 1).key_prev, e + 1);
  }
  fault_step();
  publish_event(d, kEventUpdate, key, 0, 0, version);
  free_record(id, old);
  txn_end();
  return version;
}

Result<bool> SegmentWriter::unset_static(std::uint32_t id, std::string_view key) noexcept {
  if (impl_->live_registry(id) == nullptr) return fail(Errc::registry_not_found);
  auto n = remove_key(id, key, 0);
  if (!n) return fail(n.error());
  return *n > 0;
}

std::vector<StaticEntryView> SegmentWriter::statics() const {
  const Impl& w = *impl_;
  std::vector<StaticEntryView> out;
  const long slot = w.find_owner(0);
  if (slot < 0) return out;
  for (RecordRef ref = w.owners[slot].head; ref != 0; ref = w.rec_by_ref(ref).owner_next) {
    const std::uint32_t id = ref_registry(ref), idx = ref_record(ref);
    const RegistryDesc& d = w.dir[id];
    const RecordHeader& r = w.rec(d, idx);
    out.push_back({id, std::string(w.rec_key(d, idx)), std::string(w.rec_value(d, idx)), r.version,
                   (r.aux & kStaticDeclared) != 0});
  }
  std::sort(out.begin(), out.end(), [](const StaticEntryView& a, const StaticEntryView& b) {
    return std::tie(a.registry, a.key) < std::tie(b.registry, b.key);
  });
  return out;
}

UidUsage SegmentWriter::usage_of(std::uint32_t uid) const noexcept {
  const auto it = impl_->usage.find(uid);
  return it == impl_->usage.end() ? UidUsage{} : it->second;
}

std::vector<std::pair<std::uint32_t, UidUsage>> SegmentWriter::usage() const {
  std::vector<std::pair<std::uint32_t, UidUsage>> out;
  for (const auto& [uid, u] : impl_->usage)
    if (u != UidUsage{}) out.emplace_back(uid, u);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void SegmentWriter::Impl::rebuild_usage() {
  usage.clear();
  for (std::uint32_t s = 0; s < owner_cap; ++s) {
    const OwnerSlot& o = owners[s];
    if (o.state != kOwnerLive) continue;
    std::uint32_t n = 0;
    // Bounded by entry_count: validate() owns the check of the list itself.
    for (RecordRef ref = o.head; ref != 0 && n < o.entry_count; ref = rec_by_ref(ref).owner_next, ++n)
      count_record(s, rec_by_ref(ref), +1);
  }
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    const RegistryDesc& d = dir[id];
    if (d.state != kRegistryLive || d.creator_uid == kNamespaceUid) continue;
    UidUsage& u = usage[d.creator_uid];
    ++u.registries;
    u.registry_bytes += footprint_of(d);
  }
}

}  // namespace shmreg::shm
