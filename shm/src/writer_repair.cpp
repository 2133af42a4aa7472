// SegmentWriter::attach and the repair of a write that a crash left half done.
//
// What is true after a crash. Every write publishes at one point: a unique
// entry when its index entry is stored, a duplicate entry when its key node's
// chain points at it (and the key node is in the index), an update when the
// index entry switches records. Everything before that point is invisible,
// everything after it is cleanup. So repair keeps exactly the records that are
// reachable from the index, drops the rest (rolling an insert back, or
// finishing a removal), rebuilds every derived structure (indexes, chains,
// owner lists, counters) from the kept records, and then re-runs a removal
// that was in progress, which is idempotent, so that it applies whole.
#include <algorithm>
#include <map>
#include <vector>

#include "shmreg/shm/hash.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "writer_impl.hpp"

namespace shmreg::shm {


Result<SegmentWriter> SegmentWriter::attach(std::string_view path, const WriterOptions& options) noexcept {
  auto seg = MappedSegment::open(path, MappedSegment::Access::read_write);
  if (!seg) return fail(seg.error());
  return attach_mapped(std::move(*seg), options);
}

Result<SegmentWriter> SegmentWriter::attach_fd(int fd, const WriterOptions& options) noexcept {
  auto seg = MappedSegment::map(fd, MappedSegment::Access::read_write);
  if (!seg) return fail(seg.error());
  return attach_mapped(std::move(*seg), options);
}

Result<SegmentWriter> SegmentWriter::attach_mapped(MappedSegment seg, const WriterOptions& options) noexcept {
  if (auto ok = check_header(seg.data(), seg.size()); !ok) return fail(ok.error());
  auto impl = std::make_unique<Impl>(std::move(seg), options);
  const SegmentHeader& h = *impl->hdr;
  if (h.arena_used > h.arena_size) return fail(Errc::corrupt);
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i) {
    const RegistryDesc& d = impl->dir[i];
    if (d.state == kRegistryFree) continue;
    if (d.state != kRegistryLive || d.id != i || !check_registry_geometry(h.arena_offset, h.arena_used, d))
      return fail(Errc::corrupt);
  }
  if (load_relaxed(impl->hdr->txn_state) != kTxnIdle) {
    impl->repair_derived();
    impl->repaired = true;
  }
  impl->repair_hosts();
  impl->meta_blocks_reset = impl->repair_meta_blocks();
  impl->clear_superseded();
  impl->rebuild_private_state();
  store_relaxed(impl->hdr->writer_pid, static_cast<std::uint32_t>(::getpid()));
  fetch_add_release(impl->hdr->generation, std::uint64_t{1});
  std::optional<Impl::Redo> redo = std::move(impl->redo);
  SegmentWriter writer(std::move(impl));
  if (redo && redo->op == kOpRemove) (void)writer.remove_key(redo->registry, redo->key, redo->pid);
  if (redo && redo->op == kOpRemoveOwner) (void)writer.remove_owner(redo->pid);
  if (redo && redo->op == kOpRemoveSome && writer.impl_->live_registry(redo->registry) != nullptr) {
    writer.impl_->remove_some(redo->registry, redo->pid, redo->records);
  }
  return writer;
}

// A file a broker marked superseded and left can come back: an admin moves
// it back to the name, the guard stops that broker (another file at the
// name), and the next one attaches it. It is the namespace's file again, so
// its readers must read it; left marked, every read would fail for ever and
// opening the namespace again would not help.
void SegmentWriter::Impl::clear_superseded() noexcept {
  if (load_relaxed(hdr->superseded) == 0) return;
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    const RegistryDesc* d = live_registry(id);
    if (d == nullptr) continue;
    for (std::uint32_t p = 0; p < d->partitions; ++p) {
      PartitionData& pd = part(*d, p);
      store_release(pd.active, load_relaxed(pd.active) & 1u);
    }
  }
  store_release(hdr->superseded, std::uint32_t{0});
}

// A meta block that does not decode cannot come from a write cut short (a
// write fills the inactive block and switches under the seqlock), only from
// damage. Without this check such a block would stop the broker at every
// meta write of its registry (a broken invariant) and start it again, for
// ever. Runs at every attach: at most kMaxRegistries decodes of 4 KiB.
std::uint32_t SegmentWriter::Impl::repair_meta_blocks() noexcept {
  std::uint32_t changed = 0;
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    RegistryDesc& d = dir[id];
    if (d.state != kRegistryLive || current_meta(d)) continue;
    const std::uint32_t other = (d.meta_active & 1u) ^ 1u;
    const bool other_ok =
        d.meta_len[other] <= kMetaBlockSize &&
        decode_meta(std::span<const std::byte>(base + d.meta_offset + std::uint64_t{other} * kMetaBlockSize,
                                               d.meta_len[other]))
            .has_value();
    {
      SeqWriteGuard g(d.meta_seq);
      if (!other_ok) store_relaxed(d.meta_len[other], 0u);  // nothing to fall back to: empty
      store_relaxed(d.meta_active, other);
    }
    ++changed;
  }
  return changed;
}

void SegmentWriter::Impl::rebuild_private_state() noexcept {
  const auto now = Clock::now();
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    RegistryState& st = regs[id];
    const RegistryDesc& d = dir[id];
    st.reset(d.state == kRegistryLive ? d.record_capacity : 0);
    if (d.state != kRegistryLive) continue;
    // A free slot whose seq is still 0 was never filled (the high water
    // jumped over it for a home slot): nobody ever read it, so it goes to the
    // front, past its grace period; the others start a fresh one.
    const auto long_ago = now - opts.grace;
    for (std::uint32_t i = 0; i < d.records_high_water; ++i) {
      const RecordHeader& r = rec(d, i);
      if (r.state != kRecordFree) continue;
      const bool never_filled = r.seq == 0;
      st.gen[i] = 1;
      st.freed_at[i] = never_filled ? long_ago : now;
      if (never_filled)
        st.freed.push_front({i, 1});
      else
        st.freed.push_back({i, 1});
      ++st.free;
    }
  }
  rebuild_usage();
}

void SegmentWriter::Impl::repair_derived() noexcept {
  const std::uint32_t op = hdr->txn_state;
  // 1. Owner slots: settle a seq left odd; collect the live ones.
  std::uint32_t live_owners = 0;
  for (std::uint32_t s = 0; s < owner_cap; ++s) {
    OwnerSlot& o = owners[s];
    if (o.seq & 1u) store_release(o.seq, o.seq + 1);
    if (o.state > kOwnerTombstone) store_release(o.state, kOwnerTombstone);
  }
  auto owner_ok = [&](std::uint32_t slot1, std::uint32_t pid) {
    return slot1 >= 1 && slot1 <= owner_cap && owners[slot1 - 1].state == kOwnerLive && owners[slot1 - 1].pid == pid;
  };

  // 2. Per registry: find what is reachable, drop the rest, rebuild.
  std::vector<std::vector<RecordRef>> owner_lists(owner_cap);
  std::uint32_t registries = 0;
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    RegistryDesc& d = dir[id];
    if (d.state != kRegistryLive) continue;
    ++registries;
    const bool unique = d.kind == static_cast<std::uint32_t>(RegistryKind::unique);
    const std::uint32_t hw = static_cast<std::uint32_t>(d.records_high_water);
    for (std::uint32_t i = 0; i < hw; ++i) {
      RecordHeader& r = rec(d, i);
      // An odd seq only says a write touched this record: a published key
      // node or primary is odd while its chain changes. Settle the seq and let
      // reachability below decide; a record half filled or half freed is
      // unreachable and goes there.
      if (r.seq & 1u) store_release(r.seq, r.seq + 1);
      if (r.state > kRecordQueued || r.key_len < 1 || r.key_len > d.max_key || r.value_len > d.max_value) {
        SeqWriteGuard g(r.seq);
        store_relaxed(r.state, kRecordFree);
      }
    }
    std::vector<std::uint8_t> keep(hw, 0);
    // chains[k] = entries of key node k, in chain order (duplicate registries).
    std::map<std::uint32_t, std::vector<std::uint32_t>> chains;
    // queues[p] = the records waiting behind primary p, in order (unique registries).
    std::map<std::uint32_t, std::vector<std::uint32_t>> queues;
    for (std::uint32_t p = 0; p < d.partitions; ++p) {
      const std::uint32_t total = index_total(d);
      const std::uint64_t* words = index_words(d, p, part(d, p).active & 1u);
      for (std::uint32_t n = 0; n < total; ++n) {
        const auto low = static_cast<std::uint32_t>(words[n]);
        if (low == 0 || low > hw) continue;
        const std::uint32_t idx = low - 1;
        const RecordHeader& r = rec(d, idx);
        if (keep[idx] || r.state == kRecordFree || partition_of(r.hash, d.partitions) != p) continue;
        // Only live records reach here, and their key_len was checked above.
        if (r.hash != hash_key(payload(d, idx), r.key_len)) continue;
        if (unique) {
          if (r.state != kRecordEntry || !owner_ok(r.owner_slot, r.owner_pid)) continue;
          keep[idx] = 1;
          std::vector<std::uint32_t> queue;
          std::uint32_t q = r.key_next;
          for (std::uint32_t steps = 0; q != 0 && q <= hw && steps < hw; ++steps) {
            const RecordHeader& qr = rec(d, q - 1);
            // An entry in the line is one whose promotion a crash cut short
            // before the index switched to it: it is still waiting.
            if ((qr.state != kRecordQueued && qr.state != kRecordEntry) || keep[q - 1]) break;
            if (owner_ok(qr.owner_slot, qr.owner_pid) && rec_key(d, q - 1) == rec_key(d, idx)) {
              keep[q - 1] = 1;
              queue.push_back(q - 1);
            }
            q = qr.key_next;
          }
          queues[idx] = std::move(queue);
          continue;
        }
        if (r.state != kRecordKeyNode) continue;
        std::vector<std::uint32_t> chain;
        std::uint32_t e = r.key_next;
        for (std::uint32_t steps = 0; e != 0 && e <= hw && steps < hw; ++steps) {
          const RecordHeader& er = rec(d, e - 1);
          if (er.state != kRecordEntry || er.key_node != idx + 1 || keep[e - 1]) break;
          if (owner_ok(er.owner_slot, er.owner_pid) && rec_key(d, e - 1) == rec_key(d, idx)) {
            keep[e - 1] = 1;
            chain.push_back(e - 1);
          }
          e = er.key_next;
        }
        if (!chain.empty()) {
          keep[idx] = 1;
          chains[idx] = std::move(chain);
        }
      }
    }
    // Drop what no index reaches.
    for (std::uint32_t i = 0; i < hw; ++i) {
      RecordHeader& r = rec(d, i);
      if (!keep[i] && r.state != kRecordFree) {
        SeqWriteGuard g(r.seq);
        store_relaxed(r.state, kRecordFree);
      }
    }
    // Rebuild the chains of duplicate registries.
    for (auto& [kn, chain] : chains) {
      RecordHeader& k = rec(d, kn);
      SeqWriteGuard g(k.seq);
      store_relaxed(k.key_next, chain.front() + 1);
      store_relaxed(k.aux, static_cast<std::uint32_t>(chain.size()));
      for (std::size_t j = 0; j < chain.size(); ++j) {
        RecordHeader& er = rec(d, chain[j]);
        store_relaxed(er.key_prev, j == 0 ? 0u : chain[j - 1] + 1);
        store_relaxed(er.key_next, j + 1 < chain.size() ? chain[j + 1] + 1 : 0u);
      }
    }
    // Rebuild the owner queues of unique registries.
    for (auto& [pi, queue] : queues) {
      RecordHeader& pr = rec(d, pi);
      SeqWriteGuard g(pr.seq);
      store_relaxed(pr.key_next, queue.empty() ? 0u : queue.front() + 1);
      for (std::size_t j = 0; j < queue.size(); ++j) {
        RecordHeader& qr = rec(d, queue[j]);
        if (qr.state != kRecordQueued) {
          SeqWriteGuard qg(qr.seq);
          store_relaxed(qr.state, kRecordQueued);
        }
        store_relaxed(qr.key_prev, j == 0 ? 0u : queue[j - 1] + 1);
        store_relaxed(qr.key_next, j + 1 < queue.size() ? queue[j + 1] + 1 : 0u);
      }
    }
    // An event slot left mid-write holds nothing: readers treat it as overwritten.
    for (std::uint32_t i = 0; i < d.event_capacity; ++i) {
      auto* e = reinterpret_cast<EventHeader*>(base + d.events_offset + std::uint64_t{i} * d.event_size);
      if (e->seq == kEventWriting) store_release(e->seq, std::uint64_t{0});
    }
    // Rebuild every partition index into its spare buffer, then switch.
    std::vector<std::uint64_t> part_entries(d.partitions, 0);
    std::uint64_t entries = 0, keys = 0;
    for (std::uint32_t p = 0; p < d.partitions; ++p) {
      PartitionData& pd = part(d, p);
      const std::uint32_t total = index_total(d);
      const std::uint32_t to = (pd.active & 1u) ^ 1u;
      std::uint64_t* dst = index_words(d, p, to);
      SeqWriteGuard g(pd.seq);
      for (std::uint32_t n = 0; n < total; ++n) store_relaxed(dst[n], std::uint64_t{0});
      std::uint32_t live = 0;
      for (std::uint32_t i = 0; i < hw; ++i) {
        const RecordHeader& r = rec(d, i);
        const bool indexed = keep[i] && r.state == (unique ? kRecordEntry : kRecordKeyNode);
        if (!indexed || partition_of(r.hash, d.partitions) != p) continue;
        std::uint32_t pos = static_cast<std::uint32_t>(r.hash & (d.index_buckets - 1)) * kBucketEntries;
        while (load_relaxed(dst[pos]) != 0) pos = (pos + 1) & (total - 1);
        store_relaxed(dst[pos], make_entry(hash_tag(r.hash), i));
        ++live;
        part_entries[p] += unique ? 1 : r.aux;
      }
      pd.live = live;
      pd.tombstones = 0;
      store_release(pd.active, to);
      store_release(pd.entry_count, part_entries[p]);
      entries += part_entries[p];
      keys += live;
    }
    store_release(d.entry_count, entries);
    store_release(d.key_count, keys);
    if (d.meta_seq & 1u) store_release(d.meta_seq, d.meta_seq + 1);
    for (std::uint32_t i = 0; i < hw; ++i)
      if (keep[i] && (rec(d, i).state == kRecordEntry || rec(d, i).state == kRecordQueued))
        owner_lists[rec(d, i).owner_slot - 1].push_back(make_ref(id, i));
  }
  store_release(hdr->registry_count, registries);

  // 3. Owner lists from the kept entries; owners left with none go.
  for (std::uint32_t s = 0; s < owner_cap; ++s) {
    OwnerSlot& o = owners[s];
    if (o.state != kOwnerLive) continue;
    const auto& list = owner_lists[s];
    if (list.empty()) {
      SeqWriteGuard g(o.seq);
      store_release(o.state, kOwnerTombstone);
      continue;
    }
    ++live_owners;
    SeqWriteGuard g(o.seq);
    store_relaxed(o.head, list.front());
    store_relaxed(o.entry_count, static_cast<std::uint32_t>(list.size()));
    for (std::size_t j = 0; j < list.size(); ++j) {
      RecordHeader& r = rec_by_ref(list[j]);
      store_relaxed(r.owner_prev, j == 0 ? RecordRef{0} : list[j - 1]);
      store_relaxed(r.owner_next, j + 1 < list.size() ? list[j + 1] : RecordRef{0});
    }
  }
  store_release(hdr->owner_count, live_owners);

  // 4. A registry creation cut short before the registry went Live leaves its
  // carved area unused: give it back (registries are never deleted, so the
  // arena ends where the last live registry ends). Live registries stay
  // inside the new bound, so readers' geometry checks still hold.
  if (op == kOpCreateRegistry) {
    std::uint64_t end = 0;
    for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
      const RegistryDesc& d = dir[id];
      if (d.state != kRegistryLive) continue;
      end = std::max(end, d.events_offset + std::uint64_t{d.event_capacity} * d.event_size - hdr->arena_offset);
    }
    if (end < hdr->arena_used) store_release(hdr->arena_used, end);
  }

  // 5. Finish a removal that was in progress: it is idempotent.
  rebuild_private_state();
  const std::uint32_t reg = hdr->txn_registry, pid = hdr->txn_pid;
  const std::string key(reinterpret_cast<const char*>(hdr->txn_key),
                        std::min<std::uint32_t>(hdr->txn_key_len, kMaxKeyLen));
  // Watchers cannot know what the interrupted write did: tell them to re-read.
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id)
    if (dir[id].state == kRegistryLive) publish_event(dir[id], kEventResync, {}, 0, 0, 0);
  store_release(hdr->txn_state, kTxnIdle);
  wake_watchers();
  if (op == kOpRemove || op == kOpRemoveOwner) redo = Redo{op, reg, pid, key, {}};
  if (op == kOpRemoveSome) {
    std::vector<std::uint32_t> records(key.size() / sizeof(std::uint32_t));
    if (!records.empty()) std::memcpy(records.data(), key.data(), records.size() * sizeof(std::uint32_t));
    redo = Redo{op, reg, pid, {}, std::move(records)};
  }
}

}  // namespace shmreg::shm
