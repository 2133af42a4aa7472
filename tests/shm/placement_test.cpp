// Where the writer puts a record (docs/segment-format.md, section 9): the
// record the index points at takes a free slot of its key's home pairs,
// past its grace period, which is what a lookup prefetches; the free pool's
// accounting stays exact however slots leave it out of FIFO order.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class PlacementTest : public SegmentFixture {
 protected:
  // The record slot the index points at for key (a unique entry or a key
  // node), found by walking the active index buffer as a lookup does.
  std::uint32_t slot_of(const RegistryView& reg, std::string_view key) {
    const std::uint64_t h = hash_key(key.data(), key.size());
    const std::uint32_t p = partition_of(h, reg.partitions());
    const std::uint64_t* words =
        ReaderAccess::index_words(reg, p, load_acquire(ReaderAccess::parts(reg)[p].active) & 1u);
    const std::uint32_t total = ReaderAccess::buckets(reg) * kBucketEntries;
    std::uint32_t pos = static_cast<std::uint32_t>(h & (ReaderAccess::buckets(reg) - 1)) * kBucketEntries;
    for (std::uint32_t n = 0; n < total && words[pos] != 0; ++n, pos = (pos + 1) % total) {
      const std::uint64_t w = words[pos];
      if (static_cast<std::uint32_t>(w) == 0 || static_cast<std::uint32_t>(w >> 32) != hash_tag(h)) continue;
      const std::uint32_t idx = static_cast<std::uint32_t>(w) - 1;
      const RecordHeader* rh = ReaderAccess::record(reg, idx);
      if (rh->key_len == key.size() && ReaderAccess::key_equals(ReaderAccess::payload(rh), key)) return idx;
    }
    ADD_FAILURE() << "no index word for " << key;
    return ~0u;
  }
  static bool at_home(const RegistryView& reg, std::string_view key, std::uint32_t slot) {
    const std::uint64_t h = hash_key(key.data(), key.size());
    for (int which = 0; which < 2; ++which) {
      const std::uint32_t first = home_slot(h, reg.record_capacity(), which);
      if (slot == first || slot == first + 1) return true;
    }
    return false;
  }
  const RecordHeader& record(const RegistryView& reg, std::uint32_t slot) { return *ReaderAccess::record(reg, slot); }
};

TEST_F(PlacementTest, AKeysFirstRecordAndItsUpdatesTakeItsHomePairs) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 1000)));
  const RegistryView reg = view("svc");
  ok(w().insert(id, "db", "v0", owner(1)));
  std::uint32_t slot = slot_of(reg, "db");
  EXPECT_TRUE(at_home(reg, "db", slot)) << "slot " << slot;
  // Each update takes another free slot of the four; the ones it freed are
  // in their grace period, so after three updates every home slot is used.
  for (int i = 1; i <= 3; ++i) {
    ok(w().update_value(id, "db", 1, "v" + std::to_string(i), std::nullopt));
    const std::uint32_t next = slot_of(reg, "db");
    EXPECT_TRUE(at_home(reg, "db", next)) << "update " << i << " went to slot " << next << "; home pairs at "
                                          << home_slot(hash_key("db", 2), reg.record_capacity(), 0) << " and "
                                          << home_slot(hash_key("db", 2), reg.record_capacity(), 1);
    EXPECT_NE(next, slot);
    EXPECT_EQ(record(reg, slot).state, kRecordFree) << "the slot it left is free";
    slot = next;
  }
  EXPECT_EQ(value_of(reg, "db"), "v3");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(PlacementTest, HalfAFullRegistryStillFindsAHomeForNearlyEveryKey) {
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 4, 4000, 32, 32)));
  const RegistryView reg = view("svc");
  int home = 0;
  for (int i = 0; i < 2000; ++i) ok(w().insert(id, "key-" + std::to_string(i), "v", owner(1)));
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    home += at_home(reg, key, slot_of(reg, key));
  }
  // Two pairs per key at half load: 99 % in practice; a FIFO writer puts
  // about 0.1 % there by chance.
  EXPECT_GE(home, 1900) << home << " of 2000 keys at home";
}

TEST_F(PlacementTest, ADuplicateKeysNodeTakesItsHomePair) {
  const auto id = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 1, 500)));
  const RegistryView reg = view("dup");
  for (std::uint32_t pid = 1; pid <= 5; ++pid) ok(w().insert(id, "topic", "v", owner(pid)));
  const std::uint32_t node = slot_of(reg, "topic");
  EXPECT_EQ(record(reg, node).state, kRecordKeyNode);
  EXPECT_TRUE(at_home(reg, "topic", node)) << "slot " << node;
  EXPECT_EQ(ok(r().lookup_copy(reg, "topic")).size(), 5u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(PlacementTest, AHomeSlotIsNotReusedWithinItsGracePeriod) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 1000)));
  const RegistryView reg = view("svc");
  ok(w().insert(id, "db", "old", owner(1)));
  const std::uint32_t first = slot_of(reg, "db");
  ASSERT_EQ(ok(w().remove(id, "db", 1)), 1u);
  ok(w().insert(id, "db", "new", owner(2)));
  EXPECT_NE(slot_of(reg, "db"), first) << "the freed slot is in its grace period";
  EXPECT_EQ(record(reg, first).state, kRecordFree);
  attach_with_grace(std::chrono::nanoseconds(0));
  ASSERT_EQ(ok(w().remove(id, "db", 2)), 1u);
  ok(w().insert(id, "db", "again", owner(3)));
  EXPECT_TRUE(at_home(reg, "db", slot_of(view("svc"), "db")));
  EXPECT_TRUE(IsValidSegment(r()));
}

// Slots taken out of FIFO order leave stale entries in the writer's free
// list: the count of free slots must stay exact through fills, updates in a
// full registry, removals and a new writer's attach.
void fill_update_drain(SegmentWriter& w, const SegmentReader& r, std::uint32_t id, int round) {
  constexpr int kCapacity = 64;
  const std::string prefix = "r" + std::to_string(round) + "-";
  for (int i = 0; i < kCapacity; ++i) ok(w.insert(id, prefix + std::to_string(i), "v", owner(1)));
  EXPECT_EQ(error_of(w.insert(id, prefix + "extra", "v", owner(1))), Errc::registry_full);
  for (int u = 0; u < 200; ++u)
    ok(w.update_value(id, prefix + std::to_string(u % kCapacity), 1, "u" + std::to_string(u), std::nullopt));
  for (int i = 0; i < kCapacity; ++i) ASSERT_EQ(ok(w.remove(id, prefix + std::to_string(i), 1)), 1u);
  EXPECT_TRUE(IsValidSegment(r)) << "round " << round;
}

TEST_F(PlacementTest, AFullRegistryFillsEverySlotAgainAfterUpdatesAndRemovals) {
  for (auto grace : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::hours(1))}) {
    attach_with_grace(grace);
    const std::string name = grace.count() == 0 ? "nograce" : "grace";
    const auto id = ok(w().create_registry(spec(name, RegistryKind::unique, 1, 64)));
    for (int round = 0; round < 5; ++round) fill_update_drain(w(), r(), id, round);
    attach_with_grace(grace);  // the free pool rebuilt from the segment
    for (int round = 5; round < 8; ++round) fill_update_drain(w(), r(), id, round);
  }
}

}  // namespace
}  // namespace shmreg::shm::test
