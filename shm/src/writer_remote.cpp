// SegmentWriter's remote owners: the host table and the entries the broker's
// cluster mirror puts for owners on other hosts (layout.hpp, kIdentityRemote).
//
// Each call is built from the writer's own all-or-nothing writes (insert,
// update_value, remove_key, remove_some, remove_owner), so crash repair and
// redo cover it. The host slot is the one step outside them: it is filled
// before the insert that needs it, and a crash or a failure in between
// leaves a slot without owners, which drop_host_if_unused frees at once and
// repair_hosts at the next attach.
#include <algorithm>
#include <cstring>
#include <ctime>

#include "shmreg/shm/hash.hpp"
#include "shmreg/shm/spec_rules.hpp"
#include "writer_impl.hpp"

namespace shmreg::shm {

namespace {

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool valid_remote(const RemoteOwner& o) noexcept {
  return valid_host_name(o.host) && o.pid >= 1 && o.pid <= kRemotePidMask;
}

}  // namespace

// -- the host table ------------------------------------------------------------------

long SegmentWriter::Impl::find_host(std::string_view name) const noexcept {
  for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
    const HostSlot& h = hosts[i];
    if (h.state == kHostLive && std::string_view(h.name, std::min(h.name_len, kMaxHostLen)) == name) return i;
  }
  return -1;
}

long SegmentWriter::Impl::acquire_host(std::string_view name) noexcept {
  if (long found = find_host(name); found >= 0) return found;
  for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
    HostSlot& h = hosts[i];
    if (h.state != kHostFree) continue;
    char padded[sizeof h.name] = {};
    std::memcpy(padded, name.data(), name.size());
    {
      SeqWriteGuard g(h.seq);
      racy_store_bytes(reinterpret_cast<std::uint64_t*>(h.name), padded, sizeof padded);
      store_relaxed(h.name_len, static_cast<std::uint32_t>(name.size()));
      store_relaxed(h.owner_count, std::uint32_t{0});
      store_relaxed(h.first_seen_ns, realtime_ns());
      store_release(h.state, kHostLive);
    }
    store_release(hdr->host_count, load_relaxed(hdr->host_count) + 1);
    return i;
  }
  return -1;
}

void SegmentWriter::Impl::count_host_owner(std::uint32_t slot, int sign) noexcept {
  HostSlot& h = hosts[slot % kMaxHosts];
  {
    SeqWriteGuard g(h.seq);
    store_relaxed(h.owner_count, h.owner_count + static_cast<std::uint32_t>(sign));
  }
  drop_host_if_unused(slot % kMaxHosts);
}

void SegmentWriter::Impl::drop_host_if_unused(std::uint32_t slot) noexcept {
  HostSlot& h = hosts[slot];
  if (h.state != kHostLive || h.owner_count != 0) return;
  {
    SeqWriteGuard g(h.seq);
    store_release(h.state, kHostFree);
    const char zero[sizeof h.name] = {};
    racy_store_bytes(reinterpret_cast<std::uint64_t*>(h.name), zero, sizeof zero);
    store_relaxed(h.name_len, std::uint32_t{0});
  }
  store_release(hdr->host_count, load_relaxed(hdr->host_count) - 1);
}

void SegmentWriter::Impl::repair_hosts() noexcept {
  std::array<std::uint32_t, kMaxHosts> counts{};
  for (std::uint32_t s = 0; s < owner_cap; ++s) {
    const OwnerSlot& o = owners[s];
    if (o.state == kOwnerLive && o.identity_kind == kIdentityRemote) ++counts[remote_host_slot(o.pid)];
  }
  std::uint32_t live = 0;
  for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
    HostSlot& h = hosts[i];
    if (h.seq & 1u) store_release(h.seq, h.seq + 1);
    const bool named = h.state == kHostLive && h.name_len >= 1 && h.name_len <= kMaxHostLen;
    if (h.owner_count != counts[i] || (h.state != kHostFree && !named)) {
      SeqWriteGuard g(h.seq);
      store_relaxed(h.owner_count, counts[i]);
      if (!named) store_release(h.state, kHostFree);
    }
    live += h.state == kHostLive ? 1 : 0;
  }
  store_release(hdr->host_count, live);
  for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
    if (hosts[i].state != kHostLive || hosts[i].owner_count != 0) continue;
    drop_host_if_unused(i);
  }
}

// -- the calls -------------------------------------------------------------------------

std::optional<std::uint32_t> SegmentWriter::remote_owner_word(std::string_view host, std::uint32_t pid) const noexcept {
  const long h = impl_->find_host(host);
  if (h < 0 || pid < 1 || pid > kRemotePidMask) return std::nullopt;
  return make_remote_owner(static_cast<std::uint32_t>(h), pid);
}

std::optional<std::pair<std::string, std::uint32_t>> SegmentWriter::remote_owner(std::uint32_t word) const {
  if (!is_remote_owner(word) || impl_->find_owner(word) < 0) return std::nullopt;
  const HostSlot& h = impl_->hosts[remote_host_slot(word)];
  if (h.state != kHostLive) return std::nullopt;
  return std::pair{std::string(h.name, std::min(h.name_len, kMaxHostLen)), remote_pid(word)};
}

std::vector<std::string> SegmentWriter::hosts() const {
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
    const HostSlot& h = impl_->hosts[i];
    if (h.state == kHostLive) out.emplace_back(h.name, std::min(h.name_len, kMaxHostLen));
  }
  return out;
}

std::vector<RemoteEntryView> SegmentWriter::remote_entries() const {
  const Impl& w = *impl_;
  std::vector<RemoteEntryView> out;
  for (std::uint32_t s = 0; s < w.owner_cap; ++s) {
    const OwnerSlot& o = w.owners[s];
    if (o.state != kOwnerLive || o.identity_kind != kIdentityRemote) continue;
    const HostSlot& h = w.hosts[remote_host_slot(o.pid)];
    const std::string host(h.name, std::min(h.name_len, kMaxHostLen));
    std::uint32_t n = 0;
    for (RecordRef ref = o.head; ref != 0 && n < o.entry_count; ref = w.rec_by_ref(ref).owner_next, ++n) {
      const RecordHeader& r = w.rec_by_ref(ref);
      if (r.state != kRecordEntry) continue;
      const RegistryDesc& d = w.dir[ref_registry(ref)];
      out.push_back({ref_registry(ref), std::string(w.rec_key(d, ref_record(ref))),
                     std::string(w.rec_value(d, ref_record(ref))), host, remote_pid(o.pid), r.version});
    }
  }
  return out;
}

Result<InsertResult> SegmentWriter::put_remote(std::uint32_t id, std::string_view key, std::string_view value,
                                               const RemoteOwner& owner, std::uint32_t* conflict_pid) noexcept {
  Impl& w = *impl_;
  if (!valid_remote(owner)) return fail(Errc::invalid_argument);
  const auto dp = w.writable(id, key, value);
  if (!dp) return fail(dp.error());
  const RegistryDesc& d = **dp;
  const bool unique = d.kind == static_cast<std::uint32_t>(RegistryKind::unique);
  const long existing_host = w.find_host(owner.host);
  const std::uint32_t word =
      existing_host >= 0 ? make_remote_owner(static_cast<std::uint32_t>(existing_host), owner.pid) : 0;
  if (unique) {
    if (const auto idx = w.key_record(d, key)) {
      const RecordHeader& r = w.rec(d, *idx);
      if (!is_remote_owner(r.owner_pid)) {
        if (conflict_pid != nullptr) *conflict_pid = r.owner_pid;
        return fail(Errc::already_registered);
      }
      if (r.owner_pid == word) {
        if (w.rec_value(d, *idx) == value) return InsertResult{r.version, false};
        auto v = update_value(id, key, word, value, std::nullopt);
        if (!v) return fail(v.error());
        return InsertResult{*v, false};
      }
      // Another remote owner held it; etcd says it is owner's now.
      if (auto gone = remove_key(id, key, r.owner_pid); !gone) return fail(gone.error());
    }
  }
  // Remote owners take at most half of the owner table, so that other
  // hosts, however many processes they run, never fill it for this host's.
  if (const auto known = remote_owner_word(owner.host, owner.pid); !known || w.find_owner(*known) < 0) {
    std::uint64_t remote_owners = 0;
    for (std::uint32_t i = 0; i < kMaxHosts; ++i) remote_owners += w.hosts[i].owner_count;
    if (remote_owners >= w.owner_cap / 2) return fail(Errc::owner_table_full);
  }
  const long host = w.acquire_host(owner.host);
  if (host < 0) return fail(Errc::owner_table_full);
  const OwnerIdentity identity{make_remote_owner(static_cast<std::uint32_t>(host), owner.pid), owner.uid,
                               kIdentityRemote, static_cast<std::uint64_t>(host)};
  auto r = insert_with(id, key, value, identity, 0, conflict_pid);
  if (!r) w.drop_host_if_unused(static_cast<std::uint32_t>(host));
  return r;
}

Result<std::uint32_t> SegmentWriter::remove_remote(std::uint32_t id, std::string_view key, const RemoteOwner& owner,
                                                   std::optional<std::uint64_t> version) noexcept {
  Impl& w = *impl_;
  const RegistryDesc* d = w.live_registry(id);
  if (d == nullptr) return fail(Errc::registry_not_found);
  if (!valid_remote(owner)) return fail(Errc::invalid_argument);
  const auto word = remote_owner_word(owner.host, owner.pid);
  if (!word) return std::uint32_t{0};
  if (!version) return remove_key(id, key, *word);
  const auto node = w.key_record(*d, key);
  if (!node) return std::uint32_t{0};
  std::uint32_t found = 0;
  bool hit = false;
  if (d->kind == static_cast<std::uint32_t>(RegistryKind::unique)) {
    hit = w.rec(*d, *node).owner_pid == *word && w.rec(*d, *node).version == *version;
    found = *node;
  } else {
    for (std::uint32_t e = w.rec(*d, *node).key_next; e != 0 && !hit; e = w.rec(*d, e - 1).key_next) {
      const RecordHeader& r = w.rec(*d, e - 1);
      hit = r.owner_pid == *word && r.version == *version;
      found = e - 1;
    }
  }
  if (!hit) return std::uint32_t{0};
  const std::uint32_t one[1] = {found};
  w.remove_some(id, *word, one);
  return std::uint32_t{1};
}

Result<std::uint32_t> SegmentWriter::drop_host(std::string_view host) noexcept {
  Impl& w = *impl_;
  const long h = w.find_host(host);
  if (h < 0) return std::uint32_t{0};
  std::vector<std::uint32_t> words;
  for (std::uint32_t s = 0; s < w.owner_cap; ++s) {
    const OwnerSlot& o = w.owners[s];
    if (o.state == kOwnerLive && o.identity_kind == kIdentityRemote && remote_host_slot(o.pid) == h)
      words.push_back(o.pid);
  }
  std::uint32_t removed = 0;
  for (std::uint32_t word : words) {
    auto n = remove_owner(word, RemoveReason::requested);
    if (!n) return fail(n.error());
    removed += *n;
  }
  return removed;
}

}  // namespace shmreg::shm
