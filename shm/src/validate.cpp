// validate(): walks the whole segment and reports each broken invariant.
#include "shmreg/shm/validate.hpp"

#include <optional>
#include <string>
#include <unordered_map>

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/hash.hpp"
#include "shmreg/shm/spec_rules.hpp"

namespace shmreg::shm {

namespace {

std::string describe(const SegmentGeometry& g) {
  return "owner table @" + std::to_string(g.owner_table_offset) + " x" + std::to_string(g.owner_capacity) +
         ", arena @" + std::to_string(g.arena_offset) + " +" + std::to_string(g.arena_size);
}

class Checker {
 public:
  explicit Checker(const SegmentReader& r) : r_(r), base_(r.data()) {}

  std::vector<Problem> run() {
    const auto& h = *reinterpret_cast<const SegmentHeader*>(base_);
    if (auto ok = check_header(base_, r_.size()); !ok) {
      add("header", std::string(to_string(ok.error())));
      return std::move(problems_);
    }
    // An abandoned file is reported as that, once; its image is no longer
    // the namespace's, so nothing in it is worth acting on.
    if (r_.superseded()) {
      add("header", std::string(to_string(Errc::superseded)));
      return std::move(problems_);
    }
    if (load_relaxed(h.txn_state) != kTxnIdle)
      add("header", "a write is in progress, or a broker died in the middle of one");
    // The walk below addresses tables only through the geometry the reader
    // copied at open; a header that has changed since is reported, not followed.
    const SegmentGeometry& geo = r_.geometry();
    if (auto live = read_geometry(base_, r_.size()); live && *live != geo)
      add("header", "constant geometry changed since open: " + describe(geo) + " then, " + describe(*live) + " now");
    if (load_relaxed(h.arena_used) > geo.arena_size) add("header", "arena_used exceeds arena_size");
    owner_cap_ = geo.owner_capacity;
    owners_ = reinterpret_cast<const OwnerSlot*>(base_ + geo.owner_table_offset);
    owner_entries_.assign(owner_cap_, 0);
    hosts_ = reinterpret_cast<const HostSlot*>(base_ + geo.host_table_offset);
    host_owners_.assign(kMaxHosts, 0);

    std::uint32_t live_regs = 0;
    const auto* dir = reinterpret_cast<const RegistryDesc*>(base_ + kHeaderSize);
    for (std::uint32_t id = 0; id < kMaxRegistries && !full(); ++id) {
      const std::uint32_t st = load_relaxed(dir[id].state);
      if (st == kRegistryFree) continue;
      ++live_regs;
      auto v = r_.registry_by_id(id);
      if (!v) {
        add("registry #" + std::to_string(id), "descriptor fails its bounds checks");
        continue;
      }
      views_[id] = *v;
      check_registry(*v);
    }
    if (live_regs != load_relaxed(h.registry_count))
      add("header", "registry_count " + std::to_string(load_relaxed(h.registry_count)) + " but " +
                        std::to_string(live_regs) + " live registries");
    check_owners(load_relaxed(h.owner_count));
    return std::move(problems_);
  }

 private:
  bool full() const { return problems_.size() >= kMaxProblems; }
  void add(std::string where, std::string what) {
    if (!full()) problems_.push_back({std::move(where), std::move(what)});
  }
  const RecordHeader* rec(const RegistryView& v, std::uint32_t i) const { return ReaderAccess::record(v, i); }
  std::string key_of(const RegistryView& v, std::uint32_t i) const {
    const RecordHeader* rh = rec(v, i);
    const std::uint32_t kl = load_relaxed(rh->key_len);
    if (kl < 1 || kl > v.max_key()) return {};
    std::vector<std::uint64_t> words(pad8(kl) / 8);
    racy_copy_words(words.data(), ReaderAccess::payload(rh), words.size());
    return std::string(reinterpret_cast<const char*>(words.data()), kl);
  }

  void check_registry(const RegistryView& v) {
    const std::string where = "registry '" + std::string(v.name()) + "'";
    const auto* d = reinterpret_cast<const RegistryDesc*>(base_ + kHeaderSize) + v.id();
    const bool unique = v.kind() == RegistryKind::unique;
    std::uint64_t high_water = load_relaxed(d->records_high_water);
    if (high_water > v.record_capacity()) {
      // Only the constant geometry was checked by registry_by_id; this counter
      // bounds every loop below, so it must not reach past the record pool.
      add(where, "records_high_water " + std::to_string(high_water) + " exceeds record_capacity " +
                     std::to_string(v.record_capacity()));
      high_water = v.record_capacity();
    }
    const auto hw = static_cast<std::uint32_t>(high_water);
    const std::uint32_t want_indexed = unique ? kRecordEntry : kRecordKeyNode;
    std::vector<std::uint8_t> seen_index(hw, 0), seen_chain(hw, 0);
    std::uint64_t entries = 0, indexed = 0, queued = 0;

    for (std::uint32_t i = 0; i < hw && !full(); ++i) {
      const RecordHeader* rh = rec(v, i);
      const std::string rw = where + " record " + std::to_string(i);
      if (load_relaxed(rh->seq) & 1u) add(rw, "sequence word is odd (write in progress)");
      const std::uint32_t st = load_relaxed(rh->state);
      if (st == kRecordFree) continue;
      if (st > kRecordQueued || (st == kRecordKeyNode && unique) || (st == kRecordQueued && !unique)) {
        add(rw, "bad state " + std::to_string(st));
        continue;
      }
      const std::uint32_t kl = load_relaxed(rh->key_len), vl = load_relaxed(rh->value_len);
      if (kl < 1 || kl > v.max_key()) {
        add(rw, "key length " + std::to_string(kl) + " out of range");
        continue;
      }
      if (vl > v.max_value()) add(rw, "value length " + std::to_string(vl) + " out of range");
      const std::string key = key_of(v, i);
      if (load_relaxed(rh->hash) != hash_key(key.data(), key.size())) add(rw, "stored hash does not match key");
      if (st == kRecordKeyNode) {
        ++indexed;
        continue;
      }
      const bool static_owner = load_relaxed(rh->owner_pid) == 0;
      if ((load_relaxed(rh->aux) & kStaticDeclared) != 0 && !static_owner)
        add(rw, "kStaticDeclared on a record of a process");
      if (static_owner && (st == kRecordQueued || (load_relaxed(rh->aux) & ~kStaticDeclared) != 0))
        add(rw, "a static entry that queues or carries queue flags");
      if (st == kRecordQueued) {
        ++queued;
      } else {
        ++entries;
        if (unique) ++indexed;
      }
      const std::uint32_t slot = load_relaxed(rh->owner_slot);
      if (slot < 1 || slot > owner_cap_ || load_relaxed(owners_[slot - 1].state) != kOwnerLive ||
          load_relaxed(owners_[slot - 1].pid) != load_relaxed(rh->owner_pid))
        add(rw, "owner slot " + std::to_string(slot) + " is not a live owner with pid " +
                    std::to_string(load_relaxed(rh->owner_pid)));
      else
        ++owner_entries_[slot - 1];
      if (!unique) {
        const std::uint32_t kn = load_relaxed(rh->key_node);
        if (kn < 1 || kn > hw || load_relaxed(rec(v, kn - 1)->state) != kRecordKeyNode || key_of(v, kn - 1) != key)
          add(rw, "entry's key node " + std::to_string(kn) + " is not a key node for its key");
      }
    }
    total_entries_ += entries + queued;

    // Owner queues: every queued record waits behind exactly one primary.
    if (unique) {
      std::uint64_t in_queues = 0;
      for (std::uint32_t i = 0; i < hw && !full(); ++i) {
        if (load_relaxed(rec(v, i)->state) != kRecordEntry) continue;
        const std::string key = key_of(v, i);
        std::uint32_t prev = 0, n = 0;
        for (std::uint32_t q = load_relaxed(rec(v, i)->key_next); q != 0; ++n) {
          const std::string qw = where + " owner queue of record " + std::to_string(i);
          if (q > hw || n >= hw) {
            add(qw, "leaves the records in use or loops");
            break;
          }
          const RecordHeader* qr = rec(v, q - 1);
          if (load_relaxed(qr->state) != kRecordQueued || key_of(v, q - 1) != key)
            add(qw, "holds record " + std::to_string(q - 1) + " that is not queued for its key");
          if (load_relaxed(qr->key_prev) != prev) add(qw, "broken back link at record " + std::to_string(q - 1));
          if (seen_chain[q - 1]++) {
            add(qw, "record " + std::to_string(q - 1) + " waits in two queues");
            break;
          }
          prev = q;
          q = load_relaxed(qr->key_next);
        }
        in_queues += n;
      }
      if (in_queues != queued)
        add(where, std::to_string(queued) + " queued records but " + std::to_string(in_queues) + " in owner queues");
    }

    // Index: every live word points at an indexable record, reachable from its home.
    std::uint64_t live_words = 0;
    for (std::uint32_t p = 0; p < v.partitions() && !full(); ++p) {
      const std::uint32_t active = load_relaxed(ReaderAccess::parts(v)[p].active);
      if (active > 1u)
        add(where + " partition " + std::to_string(p),
            "active " + std::to_string(active) +
                ((active & kActiveSuperseded) != 0 ? " carries the superseded mark but the header does not"
                                                   : " out of range (0 or 1)"));
      const std::uint64_t* words = ReaderAccess::index_words(v, p, active_of(v, p));
      const std::uint32_t total = buckets_of(v) * kBucketEntries;
      for (std::uint32_t pos = 0; pos < total && !full(); ++pos) {
        const std::uint64_t w = load_relaxed(words[pos]);
        const auto low = static_cast<std::uint32_t>(w);
        if (low == 0) continue;
        const std::string iw = where + " partition " + std::to_string(p) + " index entry " + std::to_string(pos);
        if (low > hw) {
          add(iw, "points past the records in use");
          continue;
        }
        ++live_words;
        const RecordHeader* rh = rec(v, low - 1);
        if (load_relaxed(rh->state) != want_indexed) {
          add(iw, "points at a record that is not a live " + std::string(unique ? "entry" : "key node"));
          continue;
        }
        if (seen_index[low - 1]++) add(iw, "record " + std::to_string(low - 1) + " is indexed twice");
        const std::uint64_t hash = load_relaxed(rh->hash);
        if (hash_tag(hash) != static_cast<std::uint32_t>(w >> 32)) add(iw, "tag does not match the record's hash");
        if (partition_of(hash, v.partitions()) != p) add(iw, "record hashes to another partition");
        // Reachable: no empty word between the home position and this one.
        std::uint32_t q = static_cast<std::uint32_t>(hash & (buckets_of(v) - 1)) * kBucketEntries;
        for (std::uint32_t n = 0; q != pos && n < total; ++n, q = (q + 1) & (total - 1))
          if (load_relaxed(words[q]) == 0) {
            add(iw, "unreachable: an empty entry lies between its home and it");
            break;
          }
      }
    }
    if (live_words != indexed)
      add(where, std::to_string(indexed) + " indexable records but " + std::to_string(live_words) +
                     " live index entries");

    // Duplicate chains.
    if (!unique) {
      for (std::uint32_t k = 0; k < hw && !full(); ++k) {
        if (load_relaxed(rec(v, k)->state) != kRecordKeyNode) continue;
        const std::string kw = where + " key node " + std::to_string(k);
        std::uint32_t prev = 0, n = 0, e = load_relaxed(rec(v, k)->key_next);
        for (; e != 0; ++n) {
          if (e > hw || n >= hw) {
            add(kw, "chain leaves the records in use or loops");
            break;
          }
          const RecordHeader* er = rec(v, e - 1);
          if (load_relaxed(er->state) != kRecordEntry || load_relaxed(er->key_node) != k + 1)
            add(kw, "chain holds record " + std::to_string(e - 1) + " that is not its entry");
          if (load_relaxed(er->key_prev) != prev) add(kw, "broken back link at record " + std::to_string(e - 1));
          if (seen_chain[e - 1]++) {
            add(kw, "record " + std::to_string(e - 1) + " is in a chain twice");
            break;
          }
          prev = e;
          e = load_relaxed(er->key_next);
        }
        if (n != load_relaxed(rec(v, k)->aux)) add(kw, "its entry count differs from its chain length");
        if (n == 0) add(kw, "key node without entries");
      }
      for (std::uint32_t i = 0; i < hw && !full(); ++i)
        if (load_relaxed(rec(v, i)->state) == kRecordEntry && !seen_chain[i])
          add(where + " record " + std::to_string(i), "entry is in no key chain");
    }
    if (load_relaxed(d->entry_count) != entries)
      add(where, "entry_count " + std::to_string(load_relaxed(d->entry_count)) + " but " + std::to_string(entries) +
                     " entries");
    if (entries > v.capacity()) add(where, "more entries than its capacity");
    check_meta(v, *d, where);
  }

  std::uint32_t active_of(const RegistryView& v, std::uint32_t p) const {
    return load_relaxed(ReaderAccess::parts(v)[p].active) & 1u;
  }
  std::uint32_t buckets_of(const RegistryView& v) const { return ReaderAccess::buckets(v); }

  void check_meta(const RegistryView& v, const RegistryDesc& d, const std::string& where) {
    if (load_relaxed(d.meta_seq) & 1u) add(where, "meta sequence word is odd");
    auto m = r_.meta(v);
    if (!m) add(where, "meta block: " + std::string(to_string(m.error())));
  }

  void check_owners(std::uint32_t owner_count) {
    std::uint32_t live = 0;
    std::uint64_t listed = 0;
    std::unordered_map<std::uint32_t, std::uint32_t> pids;
    for (std::uint32_t s = 0; s < owner_cap_ && !full(); ++s) {
      const OwnerSlot& o = owners_[s];
      const std::string ow = "owner slot " + std::to_string(s);
      if (load_relaxed(o.seq) & 1u) add(ow, "sequence word is odd");
      const std::uint32_t st = load_relaxed(o.state);
      if (st > kOwnerTombstone) add(ow, "bad state " + std::to_string(st));
      if (st != kOwnerLive) continue;
      ++live;
      const std::uint32_t pid = load_relaxed(o.pid);
      const bool is_static = load_relaxed(o.identity_kind) == kIdentityStatic;
      if ((pid == 0) != is_static || (is_static && load_relaxed(o.uid) != kNamespaceUid))
        add(ow, "pid 0 is the static owner only (identity kind static, uid kNamespaceUid)");
      if (!pids.emplace(pid, s).second) add(ow, "pid " + std::to_string(pid) + " has two owner slots");
      check_remote_owner(o, ow);
      // Reachable by probing from the pid's home slot.
      std::uint32_t q = static_cast<std::uint32_t>((std::uint64_t{pid} * 0x9e3779b97f4a7c15ULL >> 32) % owner_cap_);
      for (std::uint32_t n = 0; q != s && n < owner_cap_; ++n, q = (q + 1) % owner_cap_)
        if (load_relaxed(owners_[q].state) == kOwnerEmpty) {
          add(ow, "unreachable: an empty slot lies between its home and it");
          break;
        }
      RecordRef ref = load_relaxed(o.head), prev = 0;
      std::uint32_t n = 0;
      for (; ref != 0; ++n) {
        const std::uint32_t rid = ref_registry(ref), idx = ref_record(ref);
        if (!views_[rid] || idx >= views_[rid]->record_capacity() || n > total_entries_) {
          add(ow, "entry list leaves the segment's records or loops");
          break;
        }
        const RecordHeader* rh = rec(*views_[rid], idx);
        const std::uint32_t rs = load_relaxed(rh->state);
        if ((rs != kRecordEntry && rs != kRecordQueued) || load_relaxed(rh->owner_slot) != s + 1 ||
            load_relaxed(rh->owner_pid) != pid)
          add(ow, "entry list holds a record it does not own");
        if (load_relaxed(rh->owner_prev) != prev) add(ow, "broken back link in its entry list");
        prev = ref;
        ref = load_relaxed(rh->owner_next);
      }
      listed += n;
      if (n != load_relaxed(o.entry_count)) add(ow, "entry_count differs from its list length");
      if (n != owner_entries_[s]) add(ow, "owns " + std::to_string(owner_entries_[s]) + " records but lists " +
                                             std::to_string(n));
      if (n == 0) add(ow, "live owner without entries");
    }
    check_hosts();
    if (live != owner_count)
      add("header", "owner_count " + std::to_string(owner_count) + " but " + std::to_string(live) + " live owners");
    if (listed != total_entries_)
      add("owners", std::to_string(listed) + " entries in owner lists but " + std::to_string(total_entries_) +
                        " entries in registries");
  }

  // A remote owner (kIdentityRemote) iff its word has kRemoteOwnerBit; its
  // identity names its host slot, which is live; its pid on that host is not 0.
  void check_remote_owner(const OwnerSlot& o, const std::string& ow) {
    const std::uint32_t pid = load_relaxed(o.pid);
    const bool remote = load_relaxed(o.identity_kind) == kIdentityRemote;
    if (remote != is_remote_owner(pid)) {
      add(ow, "kind remote iff the owner word has the remote bit (word " + std::to_string(pid) + ")");
      return;
    }
    if (!remote) return;
    const std::uint32_t hs = remote_host_slot(pid);
    if (load_relaxed(o.identity) != hs) add(ow, "remote owner's identity is not its word's host slot");
    if (remote_pid(pid) == 0) add(ow, "remote owner with pid 0");
    if (load_relaxed(hosts_[hs].state) != kHostLive) add(ow, "remote owner of a free host slot " + std::to_string(hs));
    ++host_owners_[hs];
  }

  // Each host slot: free and blank, or live with a 1..kMaxHostLen name of
  // [A-Za-z0-9._-], unique, and owner_count == its live owner slots; a live
  // slot without owners is one a crash left behind (attach frees it).
  void check_hosts() {
    std::uint32_t live = 0;
    std::unordered_map<std::string, std::uint32_t> names;
    for (std::uint32_t i = 0; i < kMaxHosts; ++i) {
      const HostSlot& hs = hosts_[i];
      const std::string where = "host slot " + std::to_string(i);
      if (load_relaxed(hs.seq) & 1u) add(where, "sequence word is odd");
      const std::uint32_t st = load_relaxed(hs.state), len = load_relaxed(hs.name_len);
      if (st == kHostFree) {
        if (host_owners_[i] != 0 || len != 0) add(where, "free but named or owned");
        continue;
      }
      if (st != kHostLive) {
        add(where, "bad state " + std::to_string(st));
        continue;
      }
      ++live;
      if (len < 1 || len > kMaxHostLen) {
        add(where, "name length " + std::to_string(len) + " outside 1.." + std::to_string(kMaxHostLen));
        continue;
      }
      std::uint64_t words[sizeof hs.name / 8];
      racy_copy_words(words, reinterpret_cast<const std::uint64_t*>(hs.name), sizeof hs.name / 8);
      const std::string name(reinterpret_cast<const char*>(words), len);
      if (!valid_host_name(name)) add(where, "name is not 1..63 bytes of [A-Za-z0-9._-]");
      if (!names.emplace(name, i).second) add(where, "host " + name + " has two slots");
      if (load_relaxed(hs.owner_count) != host_owners_[i])
        add(where, "owner_count " + std::to_string(load_relaxed(hs.owner_count)) + " but " +
                       std::to_string(host_owners_[i]) + " remote owners name it");
      if (host_owners_[i] == 0) add(where, "live host without owners");
    }
    const auto& h = *reinterpret_cast<const SegmentHeader*>(base_);
    if (load_relaxed(h.host_count) != live)
      add("header", "host_count " + std::to_string(load_relaxed(h.host_count)) + " but " + std::to_string(live) +
                        " live host slots");
  }

  const SegmentReader& r_;
  const std::byte* base_;
  const HostSlot* hosts_ = nullptr;
  std::vector<std::uint32_t> host_owners_;
  std::uint32_t owner_cap_ = 0;
  const OwnerSlot* owners_ = nullptr;
  std::vector<std::uint32_t> owner_entries_;
  std::uint64_t total_entries_ = 0;
  std::vector<std::optional<RegistryView>> views_ = std::vector<std::optional<RegistryView>>(kMaxRegistries);
  std::vector<Problem> problems_;
};

}  // namespace

std::vector<Problem> validate(const SegmentReader& reader) { return Checker(reader).run(); }

}  // namespace shmreg::shm
