// Reuse of freed record slots (invariant 5): not before the grace period,
// right after it, and early when every free slot is still in its period;
// the same for a key's home slots (placement_test.cpp).
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class RecordReuseTest : public SegmentFixture {
 protected:
  // The writer's own view of the descriptor: how many slots were ever used.
  std::uint64_t high_water(std::uint32_t id) {
    return reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id].records_high_water;
  }
  std::uint32_t record_capacity(std::uint32_t id) {
    return reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id].record_capacity;
  }
  const RecordHeader& record(std::uint32_t id, std::uint32_t slot) {
    const RegistryDesc& d = reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id];
    return *reinterpret_cast<const RecordHeader*>(w().data() + d.records_offset + std::uint64_t{slot} * d.record_size);
  }
  std::uint32_t record_state(std::uint32_t id, std::uint32_t slot) { return record(id, slot).state; }
  // The slot of key's live entry, found by scanning the pool.
  std::uint32_t live_slot(std::uint32_t id, std::string_view key) {
    for (std::uint32_t i = 0; i < high_water(id); ++i) {
      const RecordHeader& h = record(id, i);
      const auto* k = reinterpret_cast<const char*>(&h + 1);
      if (h.state == kRecordEntry && std::string_view(k, h.key_len) == key) return i;
    }
    ADD_FAILURE() << "no live record for " << key;
    return ~0u;
  }
};

TEST_F(RecordReuseTest, FreedRecordIsNotReusedWithinTheGracePeriod) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 16)));
  ok(w().insert(id, "a", "1", owner(1)));
  const std::uint32_t a_slot = live_slot(id, "a");
  ASSERT_EQ(ok(w().remove(id, "a", 1)), 1u);
  // Fifteen keys, a's own among them: each takes some other slot (its home
  // pair or a fresh one) while a's is in its grace period.
  ok(w().insert(id, "a", "again", owner(1)));
  for (int i = 0; i < 14; ++i) ok(w().insert(id, "b" + std::to_string(i), "2", owner(1)));
  EXPECT_EQ(record_state(id, a_slot), kRecordFree) << "a's slot was reused within its grace period";
  EXPECT_EQ(value_of(view("svc"), "a"), "again");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RecordReuseTest, FreedRecordIsReusedOnceTheGracePeriodHasPassed) {
  attach_with_grace(std::chrono::nanoseconds(0));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 16)));
  std::uint64_t hw = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    ok(w().insert(id, key, std::to_string(i), owner(1)));
    EXPECT_EQ(value_of(view("svc"), key), std::to_string(i));
    ASSERT_EQ(ok(w().remove(id, key, 1)), 1u);
    // The same key twice more: the slot it frees is free again at once, and
    // is one of its home slots, so the third insert takes the second's slot.
    ok(w().insert(id, key, "again", owner(1)));
    const std::uint32_t slot = live_slot(id, key);
    ASSERT_EQ(ok(w().remove(id, key, 1)), 1u);
    ok(w().insert(id, key, "third", owner(1)));
    EXPECT_EQ(live_slot(id, key), slot) << "with no grace period " << key << " takes its freed slot again";
    ASSERT_EQ(ok(w().remove(id, key, 1)), 1u);
    hw = high_water(id);
  }
  EXPECT_LE(hw, record_capacity(id));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RecordReuseTest, WhenEverySlotIsInItsGracePeriodTheOldestIsReusedEarly) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 4)));
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 4; ++i)
      ok(w().insert(id, "r" + std::to_string(round) + "k" + std::to_string(i), std::to_string(round), owner(1)));
    for (int i = 0; i < 4; ++i) {
      const std::string key = "r" + std::to_string(round) + "k" + std::to_string(i);
      ASSERT_EQ(value_of(view("svc"), key), std::to_string(round)) << key;
      if (round > 0) {
        ASSERT_EQ(value_of(view("svc"), "r" + std::to_string(round - 1) + "k" + std::to_string(i)),
                  std::nullopt);
      }
    }
    ASSERT_TRUE(IsValidSegment(r())) << "round " << round;
    for (int i = 0; i < 4; ++i)
      ASSERT_EQ(ok(w().remove(id, "r" + std::to_string(round) + "k" + std::to_string(i), 1)), 1u);
  }
  EXPECT_LE(high_water(id), record_capacity(id));
  EXPECT_EQ(ok(r().count(view("svc"))), 0u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RecordReuseTest, DuplicateRegistriesReuseEntryAndKeyNodeSlots) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2, 6)));
  for (int round = 0; round < 30; ++round) {
    const std::string key = "k" + std::to_string(round % 4);
    for (std::uint32_t pid = 1; pid <= 3; ++pid) ok(w().insert(id, key, std::to_string(round), owner(pid)));
    ok(w().insert(id, "other" + std::to_string(round), "o", owner(9)));
    ASSERT_EQ(ok(r().lookup_copy(view("dup"), key)).size(), 3u);
    ASSERT_TRUE(IsValidSegment(r())) << "round " << round;
    for (std::uint32_t pid = 1; pid <= 3; ++pid) ASSERT_EQ(ok(w().remove(id, key, pid)), 1u);
    ASSERT_EQ(ok(w().remove(id, "other" + std::to_string(round), 9)), 1u);
    ASSERT_TRUE(ok(r().lookup_copy(view("dup"), key)).empty());
  }
  EXPECT_LE(high_water(id), record_capacity(id));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RecordReuseTest, ReattachedWriterReusesSlotsFreedBeforeIt) {
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 4)));
  for (int i = 0; i < 4; ++i) ok(w().insert(id, "k" + std::to_string(i), "v", owner(1)));
  // An update needs a fifth slot while the four are live: every slot of the
  // pool has now been used, so new entries can only take freed ones.
  ok(w().update_value(id, "k3", 1, "w", std::nullopt));
  ASSERT_EQ(high_water(id), record_capacity(id));
  for (int i = 0; i < 3; ++i) ok(w().remove(id, "k" + std::to_string(i), 1));
  attach_with_grace(std::chrono::nanoseconds(0));
  for (int i = 0; i < 3; ++i) ok(w().insert(id, "n" + std::to_string(i), "v", owner(2)));
  EXPECT_EQ(ok(r().count(view("svc"))), 4u) << "the freed slots are known to the new writer";
  EXPECT_EQ(error_of(w().insert(id, "n3", "v", owner(2))), Errc::registry_full);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
