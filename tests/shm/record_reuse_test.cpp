// Reuse of freed record slots (invariant 5): not before the grace period,
// right after it, and early when every free slot is still in its period.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class RecordReuseTest : public SegmentFixture {
 protected:
  void attach_with_grace(std::chrono::nanoseconds grace) {
    WriterOptions o;
    o.grace = grace;
    writer_.reset();
    writer_.emplace(ok(SegmentWriter::attach(ns_.path(), o)));
  }
  // The writer's own view of the descriptor: how many slots were ever used.
  std::uint64_t high_water(std::uint32_t id) {
    return reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id].records_high_water;
  }
  std::uint32_t record_capacity(std::uint32_t id) {
    return reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id].record_capacity;
  }
};

TEST_F(RecordReuseTest, FreedRecordIsNotReusedWithinTheGracePeriod) {
  attach_with_grace(std::chrono::hours(1));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 16)));
  ok(w().insert(id, "a", "1", owner(1)));
  ASSERT_EQ(ok(w().remove(id, "a", 1)), 1u);
  ok(w().insert(id, "b", "2", owner(1)));
  EXPECT_EQ(high_water(id), 2u) << "b must take a fresh slot while a's is in its grace period";
  EXPECT_EQ(value_of(view("svc"), "b"), "2");
  EXPECT_EQ(value_of(view("svc"), "a"), std::nullopt);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RecordReuseTest, FreedRecordIsReusedOnceTheGracePeriodHasPassed) {
  attach_with_grace(std::chrono::nanoseconds(0));
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 1, 16)));
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    ok(w().insert(id, key, std::to_string(i), owner(1)));
    EXPECT_EQ(value_of(view("svc"), key), std::to_string(i));
    ASSERT_EQ(ok(w().remove(id, key, 1)), 1u);
  }
  EXPECT_EQ(high_water(id), 1u) << "with no grace period the one freed slot is taken again each time";
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
  for (int i = 0; i < 3; ++i) ok(w().remove(id, "k" + std::to_string(i), 1));
  attach_with_grace(std::chrono::nanoseconds(0));
  const std::uint64_t hw = high_water(id);
  for (int i = 0; i < 3; ++i) ok(w().insert(id, "n" + std::to_string(i), "v", owner(2)));
  EXPECT_EQ(high_water(id), hw) << "the three freed slots are known to the new writer";
  EXPECT_EQ(ok(r().count(view("svc"))), 4u);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
