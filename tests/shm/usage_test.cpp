// Per-uid usage (quotas): the counters the writer keeps on every write equal
// a recount from the segment, after a re-attach and after a crash repair.
#include "test_support.hpp"

#include <map>

namespace shmreg::shm::test {
namespace {

OwnerIdentity owner_of(std::uint32_t pid, std::uint32_t uid) {
  return OwnerIdentity{pid, uid, kIdentityStartTime, std::uint64_t{pid} * 7919 + 1};
}

RegistrySpec created_by(RegistrySpec s, std::uint32_t uid) {
  s.creator_uid = uid;
  return s;
}

// What a fresh writer finds in the segment: it rebuilds the counters at attach.
std::vector<std::pair<std::uint32_t, UidUsage>> recount(const std::string& path) {
  return ok(SegmentWriter::attach(path)).usage();
}

class UsageTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    uniq_ = ok(w().create_registry(created_by(spec("uniq", RegistryKind::unique, 2, 16, 16, 64), 1000)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2, 16, 16, 64)));
  }
  void expect_recount_matches() {
    EXPECT_EQ(w().usage(), recount(ns_.path())) << "kept counters differ from a recount";
  }
  std::uint32_t uniq_ = 0, dup_ = 0;
};

TEST_F(UsageTest, ARegistryCountsForItsCreatorWithTheArenaBytesItTook) {
  const std::uint64_t bytes = SegmentWriter::footprint(spec("uniq", RegistryKind::unique, 2, 16, 16, 64));
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(bytes % 4096, 0u);
  EXPECT_EQ(w().usage_of(1000), (UidUsage{0, 0, 1, bytes}));
  EXPECT_EQ(w().usage_of(kNamespaceUid), UidUsage{}) << "the configuration's registries count for no uid";
  const std::uint64_t free_before = w().arena_free();
  const RegistrySpec next = created_by(spec("more", RegistryKind::duplicate, 4, 100, 32, 128), 2000);
  ok(w().create_registry(next));
  EXPECT_EQ(free_before - w().arena_free(), SegmentWriter::footprint(next)) << "footprint predicts the arena use";
  EXPECT_EQ(w().usage_of(2000).registry_bytes, SegmentWriter::footprint(next));
  ok(w().create_registry(created_by(next, 3000)));
  EXPECT_EQ(w().usage_of(3000), UidUsage{}) << "creating an existing registry is not a creation";
  EXPECT_EQ(SegmentWriter::footprint(spec("")), 0u) << "an invalid spec takes nothing";
  expect_recount_matches();
}

TEST_F(UsageTest, EntriesAndValueBytesFollowInsertRemoveUpdateAndReap) {
  ok(w().insert(uniq_, "a", "12345", owner_of(10, 1000)));
  ok(w().insert(dup_, "t", "123", owner_of(10, 1000)));
  ok(w().insert(dup_, "t", "1", owner_of(20, 2000)));
  EXPECT_EQ(w().usage_of(1000).entries, 2u);
  EXPECT_EQ(w().usage_of(1000).value_bytes, 8u);
  EXPECT_EQ(w().usage_of(2000), (UidUsage{1, 1, 0, 0}));
  expect_recount_matches();
  ok(w().update_value(uniq_, "a", 10, "1234567890", std::nullopt));
  EXPECT_EQ(w().usage_of(1000).value_bytes, 13u) << "update_value changes the value bytes";
  EXPECT_EQ(w().usage_of(1000).entries, 2u);
  expect_recount_matches();
  EXPECT_EQ(ok(w().remove(dup_, "t", 10)), 1u);
  EXPECT_EQ(w().usage_of(1000).entries, 1u);
  EXPECT_EQ(w().usage_of(1000).value_bytes, 10u);
  ok(w().remove_owner(20, RemoveReason::owner_died));
  EXPECT_EQ(w().usage_of(2000), UidUsage{}) << "a reaped owner's use is gone";
  expect_recount_matches();
  const auto all = w().usage();
  ASSERT_EQ(all.size(), 1u) << "only uids with any use are listed";
  EXPECT_EQ(all[0].first, 1000u);
}

TEST_F(UsageTest, QueuedRecordsCountAndStaticEntriesDoNot) {
  ok(w().insert_queued(uniq_, "k", "aa", owner_of(10, 1000), 0));
  ok(w().insert_queued(uniq_, "k", "bbbb", owner_of(20, 2000), 0));
  EXPECT_EQ(w().usage_of(2000), (UidUsage{1, 4, 0, 0})) << "a place in a queue is a record of that uid";
  ok(w().set_static(uniq_, "s", "static-value", true));
  ok(w().set_static(dup_, "t", "static", false));
  EXPECT_EQ(w().usage_of(kNamespaceUid), UidUsage{});
  expect_recount_matches();
  ok(w().remove_owner(10));
  EXPECT_EQ(w().usage_of(2000), (UidUsage{1, 4, 0, 0})) << "taking over keeps the record";
  EXPECT_EQ(w().usage_of(1000).entries, 0u);
  expect_recount_matches();
}

// A child writes at fault point N and dies; the repaired writer's counters
// must equal those of a writer that recounts, and stay right afterwards.
TEST(UsageAfterCrash, CountersAfterACrashRepairEqualARecount) {
  int crashes = 0;
  bool completed = false;
  for (int fault = 1; fault <= 64 && !completed; ++fault) {
    SCOPED_TRACE("fault point " + std::to_string(fault));
    ScopedNamespace ns;
    std::uint32_t reg = 0;
    {
      auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 64)));
      reg = ok(w.create_registry(created_by(spec("uniq", RegistryKind::unique, 2, 16), 1000)));
      ok(w.insert(reg, "a", "aaaa", owner_of(10, 1000)));
      ok(w.insert(reg, "b", "bb", owner_of(20, 2000)));
      ok(w.set_static(reg, "s", "ss", true));
    }
    const int status = fork_and_wait([&] {
      WriterOptions options;
      options.fault_point = fault;
      auto w = SegmentWriter::attach(ns.path(), options);
      if (!w) return 6;
      if (!w->insert(reg, "c", "cccccc", owner_of(10, 1000))) return 5;
      if (!w->update_value(reg, "b", 20, "bbbbbbbb", std::nullopt)) return 5;
      if (!w->remove_owner(10)) return 5;
      return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << describe_status(status);
    ASSERT_TRUE(WEXITSTATUS(status) == kFaultExitCode || WEXITSTATUS(status) == 0) << describe_status(status);
    completed = WEXITSTATUS(status) == 0;
    crashes += !completed;
    auto w = ok(SegmentWriter::attach(ns.path()));
    const SegmentReader r = ok(SegmentReader::open(ns.path()));
    ASSERT_TRUE(IsValidSegment(r));
    // Recount by hand from what readers see.
    std::map<std::uint32_t, UidUsage> expected;
    std::map<std::uint32_t, std::uint32_t> uid_of;
    for (const OwnerInfo& o : ok(r.owners())) uid_of[o.pid] = o.uid;
    ok(r.for_each(ok(r.registry("uniq")), [&](const Entry& e) {
      if (e.pid == 0) return;
      ++expected[uid_of.at(e.pid)].entries;
      expected[uid_of.at(e.pid)].value_bytes += e.value.size();
    }));
    expected[1000].registries = 1;
    expected[1000].registry_bytes = SegmentWriter::footprint(spec("uniq", RegistryKind::unique, 2, 16));
    for (const auto& [uid, u] : expected) EXPECT_EQ(w.usage_of(uid), u) << "uid " << uid;
    ok(w.insert(reg, "d", "d", owner_of(30, 3000)));
    EXPECT_EQ(w.usage_of(3000), (UidUsage{1, 1, 0, 0}));
    EXPECT_EQ(w.usage(), recount(ns.path()));
  }
  EXPECT_TRUE(completed);
  EXPECT_GT(crashes, 0);
}

}  // namespace
}  // namespace shmreg::shm::test
