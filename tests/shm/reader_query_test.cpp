// The reader's queries besides lookup: keys(reg, pid), values(reg, key, pid),
// count, for_each and header(), on unique and duplicate registries.
#include <map>
#include <set>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class ReaderQueryTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, 4)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2)));
    ok(w().insert(uniq_, "a", "1", owner(10)));
    ok(w().insert(uniq_, "b", "2", owner(10)));
    ok(w().insert(uniq_, "c", "3", owner(20)));
    ok(w().insert(dup_, "t", "x", owner(10)));
    ok(w().insert(dup_, "t", "y", owner(20)));
    ok(w().insert(dup_, "t", "z", owner(10)));
    ok(w().insert(dup_, "u", "w", owner(10)));
  }
  std::multiset<std::string> keys(const char* reg, std::uint32_t pid) {
    auto k = ok(r().keys(view(reg), pid));
    return {k.begin(), k.end()};
  }
  std::uint32_t uniq_ = 0, dup_ = 0;
};

TEST_F(ReaderQueryTest, KeysListsThePidsKeysInOneRegistry) {
  EXPECT_EQ(keys("uniq", 10), (std::multiset<std::string>{"a", "b"}));
  EXPECT_EQ(keys("uniq", 20), (std::multiset<std::string>{"c"}));
  EXPECT_EQ(keys("dup", 10), (std::multiset<std::string>{"t", "t", "u"})) << "one key per entry";
  EXPECT_EQ(keys("dup", 20), (std::multiset<std::string>{"t"}));
  EXPECT_TRUE(keys("uniq", 30).empty());
  EXPECT_TRUE(keys("uniq", 0).empty());
  ok(w().remove(uniq_, "a", 10));
  EXPECT_EQ(keys("uniq", 10), (std::multiset<std::string>{"b"}));
}

TEST_F(ReaderQueryTest, ValuesListsThePidsEntriesUnderAKey) {
  auto v = ok(r().values(view("dup"), "t", 10));
  std::multiset<std::string> got;
  for (const Entry& e : v) {
    EXPECT_EQ(e.pid, 10u);
    EXPECT_EQ(e.key, "t");
    got.insert(e.value);
  }
  EXPECT_EQ(got, (std::multiset<std::string>{"x", "z"}));
  EXPECT_EQ(ok(r().values(view("dup"), "t", 20)).size(), 1u);
  EXPECT_TRUE(ok(r().values(view("dup"), "t", 30)).empty());
  EXPECT_TRUE(ok(r().values(view("dup"), "nope", 10)).empty());
  const auto a = ok(r().values(view("uniq"), "a", 10));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].value, "1");
  EXPECT_TRUE(ok(r().values(view("uniq"), "a", 20)).empty());
}

TEST_F(ReaderQueryTest, CountFollowsInsertsAndRemoves) {
  EXPECT_EQ(ok(r().count(view("uniq"))), 3u);
  EXPECT_EQ(ok(r().count(view("dup"))), 4u);
  ok(w().insert(uniq_, "d", "4", owner(30)));
  EXPECT_EQ(ok(r().count(view("uniq"))), 4u);
  ok(w().remove(dup_, "t", 10));
  EXPECT_EQ(ok(r().count(view("dup"))), 2u);
  ok(w().remove_owner(10));
  EXPECT_EQ(ok(r().count(view("uniq"))), 2u);
  EXPECT_EQ(ok(r().count(view("dup"))), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(ReaderQueryTest, ForEachVisitsEveryLiveEntryOnce) {
  ok(w().remove(uniq_, "b", 10));
  std::map<std::string, std::string> uniq;
  const std::size_t n = ok(r().for_each(view("uniq"), [&](const Entry& e) {
    EXPECT_TRUE(uniq.emplace(e.key, e.value).second) << "twice: " << e.key;
    EXPECT_GT(e.version, 0u);
  }));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(uniq, (std::map<std::string, std::string>{{"a", "1"}, {"c", "3"}}));
  std::multiset<std::pair<std::string, std::string>> dup;
  EXPECT_EQ(ok(r().for_each(view("dup"), [&](const Entry& e) { dup.emplace(e.key, e.value); })), 4u);
  EXPECT_EQ(dup, (std::multiset<std::pair<std::string, std::string>>{{"t", "x"}, {"t", "y"}, {"t", "z"}, {"u", "w"}}))
      << "key nodes are not entries";
}

TEST_F(ReaderQueryTest, HeaderCountsCommitsAndOwners) {
  const HeaderInfo before = r().header();
  EXPECT_EQ(before.registry_count, 2u);
  EXPECT_EQ(before.owner_count, 2u);
  EXPECT_EQ(before.commit_seq, 9u) << "2 registries + 7 inserts";
  EXPECT_GT(before.arena_used, 0u);
  ok(w().insert(uniq_, "d", "4", owner(30)));
  EXPECT_EQ(r().header().commit_seq, 10u);
  EXPECT_EQ(r().header().owner_count, 3u);
  EXPECT_EQ(error_of(w().insert(uniq_, "d", "4", owner(30))), Errc::already_registered);
  EXPECT_EQ(r().header().commit_seq, 10u) << "a refused write commits nothing";
  EXPECT_EQ(ok(w().remove(uniq_, "zzz", 30)), 0u);
  EXPECT_EQ(r().header().commit_seq, 10u);
}

}  // namespace
}  // namespace shmreg::shm::test
