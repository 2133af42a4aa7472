// The owner table: one slot per owner process, its identity (invariant 3),
// its list of entries across registries, and remove_owner (what the broker
// does when an owner dies).
#include <set>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class OwnerTest : public SegmentFixture {
 protected:
  void SetUp() override {
    create(small_segment(std::size_t{4} << 20, 8));
    uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, 2)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 3)));
    other_ = ok(w().create_registry(spec("other", RegistryKind::unique, 1)));
  }
  std::set<std::uint32_t> live_pids() {
    std::set<std::uint32_t> out;
    for (const OwnerInfo& o : ok(r().owners())) out.insert(o.pid);
    return out;
  }
  std::uint32_t uniq_ = 0, dup_ = 0, other_ = 0;
};

TEST_F(OwnerTest, OwnersListsEachOwnerWithItsIdentityAndEntryCount) {
  ok(w().insert(uniq_, "a", "1", owner(10, 555)));
  ok(w().insert(dup_, "a", "1", owner(10, 555)));
  ok(w().insert(uniq_, "b", "1", OwnerIdentity{20, 42, kIdentityPidfsInode, 9999}));
  const auto owners = ok(r().owners());
  ASSERT_EQ(owners.size(), 2u);
  for (const OwnerInfo& o : owners) {
    if (o.pid == 10) {
      EXPECT_EQ(o.entry_count, 2u);
      EXPECT_EQ(o.identity_kind, kIdentityStartTime);
      EXPECT_EQ(o.identity, 555u);
      EXPECT_EQ(o.uid, 1000u);
    } else {
      EXPECT_EQ(o.pid, 20u);
      EXPECT_EQ(o.entry_count, 1u);
      EXPECT_EQ(o.identity_kind, kIdentityPidfsInode);
      EXPECT_EQ(o.identity, 9999u);
      EXPECT_EQ(o.uid, 42u);
    }
  }
  const auto from_writer = w().owners();
  ASSERT_EQ(from_writer.size(), 2u);
  for (const OwnerRecord& o : from_writer)
    EXPECT_EQ(o.entry_count, o.identity.pid == 10 ? 2u : 1u) << "pid " << o.identity.pid;
  EXPECT_EQ(r().header().owner_count, 2u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(OwnerTest, OwnerSlotIsReleasedWithItsLastEntry) {
  ok(w().insert(uniq_, "a", "1", owner(10)));
  ok(w().insert(dup_, "a", "1", owner(10)));
  EXPECT_EQ(ok(w().remove(uniq_, "a", 10)), 1u);
  EXPECT_EQ(live_pids(), (std::set<std::uint32_t>{10}));
  EXPECT_EQ(ok(w().remove(dup_, "a", 10)), 1u);
  EXPECT_TRUE(live_pids().empty());
  EXPECT_EQ(r().header().owner_count, 0u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(OwnerTest, StaleOwnerWhenThePidHasEntriesUnderAnotherIdentity) {
  ok(w().insert(uniq_, "a", "1", owner(10, 111)));
  const Snapshot before = snapshot(r());
  EXPECT_EQ(error_of(w().insert(uniq_, "b", "1", owner(10, 222))), Errc::stale_owner);
  EXPECT_EQ(error_of(w().insert(dup_, "b", "1", OwnerIdentity{10, 1000, kIdentityPidfsInode, 111})),
            Errc::stale_owner)
      << "same number, other kind of identity: another process";
  EXPECT_EQ(snapshot(r()), before);
  // Once the old process's entries are gone, the recycled pid is a new owner.
  EXPECT_EQ(ok(w().remove_owner(10)), 1u);
  ok(w().insert(uniq_, "b", "1", owner(10, 222)));
  const auto owners = ok(r().owners());
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].identity, 222u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(OwnerTest, OwnerTableFullWhenNoSlotIsLeftForANewPid) {
  for (std::uint32_t pid = 1; pid <= 8; ++pid) ok(w().insert(uniq_, "k" + std::to_string(pid), "v", owner(pid)));
  const Snapshot before = snapshot(r());
  EXPECT_EQ(error_of(w().insert(uniq_, "k9", "v", owner(9))), Errc::owner_table_full);
  EXPECT_EQ(error_of(w().insert(dup_, "k9", "v", owner(9))), Errc::owner_table_full);
  EXPECT_EQ(snapshot(r()), before);
  // Existing owners still insert.
  ok(w().insert(dup_, "k9", "v", owner(3)));
  // A freed slot takes a new pid.
  EXPECT_EQ(ok(w().remove_owner(5)), 1u);
  ok(w().insert(uniq_, "k9", "v", owner(9)));
  EXPECT_EQ(live_pids(), (std::set<std::uint32_t>{1, 2, 3, 4, 6, 7, 8, 9}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(OwnerTest, RemoveOwnerRemovesAllItsEntriesAcrossRegistries) {
  ok(w().insert(uniq_, "a", "mine", owner(10)));
  ok(w().insert(uniq_, "b", "theirs", owner(20)));
  ok(w().insert(dup_, "t", "mine1", owner(10)));
  ok(w().insert(dup_, "t", "theirs", owner(20)));
  ok(w().insert(dup_, "t", "mine2", owner(10)));
  ok(w().insert(dup_, "only-mine", "mine", owner(10)));
  ok(w().insert(other_, "x", "mine", owner(10)));
  EXPECT_EQ(ok(w().remove_owner(10)), 5u);
  EXPECT_EQ(live_pids(), (std::set<std::uint32_t>{20}));
  for (const char* name : {"uniq", "dup", "other"}) EXPECT_TRUE(ok(r().keys(view(name), 10)).empty()) << name;
  EXPECT_EQ(value_of(view("uniq"), "a"), std::nullopt);
  EXPECT_EQ(value_of(view("uniq"), "b"), "theirs");
  EXPECT_EQ(value_of(view("other"), "x"), std::nullopt);
  const auto t = ok(r().lookup_copy(view("dup"), "t"));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].pid, 20u);
  EXPECT_TRUE(ok(r().lookup_copy(view("dup"), "only-mine")).empty());
  EXPECT_EQ(ok(r().count(view("dup"))), 1u);
  EXPECT_EQ(ok(w().remove_owner(10)), 0u);
  EXPECT_EQ(ok(w().remove_owner(12345)), 0u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(OwnerTest, SlotsStayReachableThroughChurnOfCollidingPids) {
  // Eight slots and many pids: every probe sequence collides, tombstones come
  // and go, and each pid must still find its own slot.
  std::set<std::uint32_t> live;
  std::uint32_t next_pid = 100;
  for (int round = 0; round < 300; ++round) {
    if (live.size() < 8 && (round % 3 != 2 || live.empty())) {
      const std::uint32_t pid = next_pid++;
      ok(w().insert(dup_, "k", std::to_string(pid), owner(pid)));
      live.insert(pid);
    } else {
      auto it = live.begin();
      std::advance(it, round % live.size());
      EXPECT_EQ(ok(w().remove_owner(*it)), 1u);
      live.erase(it);
    }
    ASSERT_EQ(live_pids(), live) << "round " << round;
    for (std::uint32_t pid : live) ASSERT_EQ(ok(r().keys(view("dup"), pid)).size(), 1u) << "pid " << pid;
    ASSERT_TRUE(IsValidSegment(r())) << "round " << round;
  }
}

}  // namespace
}  // namespace shmreg::shm::test
