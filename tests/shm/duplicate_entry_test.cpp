// Entries of duplicate registries: many entries per key, their removal, key
// nodes coming and going, and a very long chain next to ordinary keys.
#include <algorithm>
#include <map>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class DuplicateEntryTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    id_ = ok(w().create_registry(spec("topics", RegistryKind::duplicate, 2, 64, 16, 32)));
  }
  // pid -> values under key, from lookup_copy.
  std::multimap<std::uint32_t, std::string> entries_of(std::string_view key) {
    std::multimap<std::uint32_t, std::string> out;
    for (const Entry& e : ok(r().lookup_copy(view("topics"), key))) {
      EXPECT_EQ(e.key, key);
      out.emplace(e.pid, e.value);
    }
    return out;
  }
  std::uint32_t id_ = 0;
};

TEST_F(DuplicateEntryTest, LookupSeesEveryEntryUnderTheKey) {
  EXPECT_TRUE(ok(w().insert(id_, "news", "a", owner(1))).new_key);
  EXPECT_FALSE(ok(w().insert(id_, "news", "b", owner(2))).new_key);
  EXPECT_FALSE(ok(w().insert(id_, "news", "c", owner(3))).new_key);
  EXPECT_TRUE(ok(w().insert(id_, "sport", "d", owner(1))).new_key);
  EXPECT_EQ(entries_of("news"), (std::multimap<std::uint32_t, std::string>{{1, "a"}, {2, "b"}, {3, "c"}}));
  EXPECT_EQ(entries_of("sport"), (std::multimap<std::uint32_t, std::string>{{1, "d"}}));
  EXPECT_TRUE(entries_of("weather").empty());
  std::size_t seen = 0;
  EXPECT_EQ(ok(r().lookup(view("topics"), "news", [&](std::span<const EntryView> v) { seen = v.size(); })), 3u);
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(ok(r().count(view("topics"))), 4u);
  std::string value;
  std::uint32_t pid = 0;
  EXPECT_TRUE(ok(r().lookup_value(view("topics"), "sport", value, &pid)));
  EXPECT_EQ(value, "d");
  EXPECT_EQ(pid, 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, SamePidMayRegisterAKeyTwiceAndRemoveTakesBoth) {
  ok(w().insert(id_, "news", "a", owner(1)));
  ok(w().insert(id_, "news", "b", owner(1)));
  ok(w().insert(id_, "news", "c", owner(2)));
  EXPECT_EQ(ok(r().values(view("topics"), "news", 1)).size(), 2u);
  EXPECT_EQ(ok(w().remove(id_, "news", 1)), 2u);
  EXPECT_EQ(entries_of("news"), (std::multimap<std::uint32_t, std::string>{{2, "c"}}));
  EXPECT_TRUE(ok(r().keys(view("topics"), 1)).empty());
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, RemoveIfTakesOnlyTheChosenEntriesOfThePid) {
  ok(w().insert(id_, "news", "a1", owner(1)));
  ok(w().insert(id_, "news", "b1", owner(1)));
  ok(w().insert(id_, "news", "a2", owner(2)));
  ok(w().insert(id_, "news", "c1", owner(1)));
  auto starts_with_a = [](std::string_view v) { return v.starts_with("a"); };
  EXPECT_EQ(ok(w().remove_if(id_, "news", 1, starts_with_a)), 1u);
  const auto left = entries_of("news");
  std::vector<std::pair<std::uint32_t, std::string>> sorted(left.begin(), left.end());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::pair<std::uint32_t, std::string>>{{1, "b1"}, {1, "c1"}, {2, "a2"}}));
  EXPECT_TRUE(IsValidSegment(r()));
  EXPECT_EQ(ok(w().remove_if(id_, "news", 1, starts_with_a)), 0u) << "nothing left to match";
  EXPECT_EQ(ok(w().remove_if(id_, "nokey", 1, starts_with_a)), 0u);
  // All of the pid's entries: the ordinary removal.
  EXPECT_EQ(ok(w().remove_if(id_, "news", 1, [](std::string_view) { return true; })), 2u);
  EXPECT_EQ(entries_of("news"), (std::multimap<std::uint32_t, std::string>{{2, "a2"}}));
  EXPECT_TRUE(ok(r().keys(view("topics"), 1)).empty());
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, RemoveIfRefusesAPartialRemovalBeyondItsBoundAndChangesNothing) {
  const auto big = ok(w().create_registry(spec("big", RegistryKind::duplicate, 1, 1024)));
  for (std::uint32_t i = 0; i < kMaxRemoveSome + 1; ++i) ok(w().insert(big, "k", "x", owner(1)));
  ok(w().insert(big, "k", "keep", owner(1)));
  auto is_x = [](std::string_view v) { return v == "x"; };
  auto refused = w().remove_if(big, "k", 1, is_x);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::invalid_argument);
  EXPECT_EQ(ok(r().values(view("big"), "k", 1)).size(), kMaxRemoveSome + 2);
  ok(w().remove_if(big, "k", 1, [](std::string_view v) { return v == "keep"; }));
  EXPECT_EQ(ok(w().remove_if(big, "k", 1, is_x)), kMaxRemoveSome + 1) << "all of them is an ordinary removal";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, RemovingTheLastEntryRemovesTheKey) {
  ok(w().insert(id_, "news", "a", owner(1)));
  ok(w().insert(id_, "news", "b", owner(2)));
  EXPECT_EQ(ok(w().remove(id_, "news", 3)), 0u);
  EXPECT_EQ(ok(w().remove(id_, "news", 1)), 1u);
  EXPECT_EQ(entries_of("news").size(), 1u);
  EXPECT_EQ(ok(w().remove(id_, "news", 2)), 1u);
  EXPECT_TRUE(entries_of("news").empty());
  EXPECT_EQ(ok(r().count(view("topics"))), 0u);
  EXPECT_TRUE(IsValidSegment(r()));
  // The key can come back, as a new key.
  EXPECT_TRUE(ok(w().insert(id_, "news", "again", owner(3))).new_key);
  EXPECT_EQ(entries_of("news"), (std::multimap<std::uint32_t, std::string>{{3, "again"}}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, RemovingFromTheMiddleOfAChainKeepsTheRest) {
  for (std::uint32_t pid = 1; pid <= 6; ++pid) ok(w().insert(id_, "k", "v" + std::to_string(pid), owner(pid)));
  for (std::uint32_t pid : {3u, 1u, 6u}) {
    EXPECT_EQ(ok(w().remove(id_, "k", pid)), 1u);
    EXPECT_TRUE(IsValidSegment(r()));
  }
  EXPECT_EQ(entries_of("k"), (std::multimap<std::uint32_t, std::string>{{2, "v2"}, {4, "v4"}, {5, "v5"}}));
}

TEST_F(DuplicateEntryTest, LimitsAreCheckedAsInUniqueRegistries) {
  const auto small = ok(w().create_registry(spec("small", RegistryKind::duplicate, 1, 3, 4, 4)));
  EXPECT_EQ(error_of(w().insert(small, "toolong", "v", owner(1))), Errc::key_too_long);
  EXPECT_EQ(error_of(w().insert(small, "k", "toolong", owner(1))), Errc::value_too_long);
  ok(w().insert(small, "k", "1", owner(1)));
  ok(w().insert(small, "k", "2", owner(2)));
  ok(w().insert(small, "j", "3", owner(2)));
  const Snapshot before = snapshot(r());
  EXPECT_EQ(error_of(w().insert(small, "k", "4", owner(3))), Errc::registry_full);
  EXPECT_EQ(error_of(w().insert(small, "new", "4", owner(3))), Errc::registry_full);
  EXPECT_EQ(snapshot(r()), before);
  EXPECT_EQ(error_of(w().update_value(small, "k", 1, "x", std::nullopt)), Errc::invalid_argument);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(DuplicateEntryTest, TenThousandEntriesUnderOneKeyLeaveOtherKeysCorrect) {
  const auto big = ok(w().create_registry(spec("big", RegistryKind::duplicate, 4, 10300, 16, 16)));
  for (int i = 0; i < 100; ++i) ok(w().insert(big, "other" + std::to_string(i), "o" + std::to_string(i), owner(7)));
  for (int i = 0; i < 10000; ++i)
    ok(w().insert(big, "hot", "h" + std::to_string(i), owner(static_cast<std::uint32_t>(100 + i % 50))));
  const RegistryView reg = view("big");
  EXPECT_EQ(ok(r().count(reg)), 10100u);
  for (int i = 0; i < 100; ++i) {
    const auto e = ok(r().lookup_copy(reg, "other" + std::to_string(i)));
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].value, "o" + std::to_string(i));
    EXPECT_EQ(e[0].pid, 7u);
  }
  EXPECT_TRUE(ok(r().lookup_copy(reg, "hot2")).empty());
  auto hot = ok(r().lookup_copy(reg, "hot"));
  ASSERT_EQ(hot.size(), 10000u);
  std::vector<int> seen(10000, 0);
  for (const Entry& e : hot) {
    const int i = std::stoi(e.value.substr(1));
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 10000);
    EXPECT_EQ(e.pid, static_cast<std::uint32_t>(100 + i % 50));
    ++seen[static_cast<std::size_t>(i)];
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 10000);
  EXPECT_EQ(ok(r().values(reg, "hot", 123)).size(), 200u);
  EXPECT_TRUE(IsValidSegment(r()));
  // Take one owner's 200 entries out of the middle of the chain.
  EXPECT_EQ(ok(w().remove(big, "hot", 123)), 200u);
  EXPECT_EQ(ok(r().lookup_copy(reg, "hot")).size(), 9800u);
  EXPECT_EQ(ok(r().lookup_copy(reg, "other42")).size(), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
