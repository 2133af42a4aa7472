// Entries of unique registries: insert, lookup, remove, and every refusal of
// insert, each of which must leave the segment exactly as it was.
#include <set>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class UniqueEntryTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    id_ = ok(w().create_registry(spec("svc", RegistryKind::unique, 2, 8, 16, 32)));
  }
  // What a refused write must not change.
  struct Marks {
    std::uint64_t commit_seq;
    Snapshot snap;
    friend bool operator==(const Marks&, const Marks&) = default;
  };
  Marks marks() { return {r().header().commit_seq, snapshot(r())}; }
  std::uint32_t id_ = 0;
};

TEST_F(UniqueEntryTest, LookupSeesEntryAfterInsertReturns) {
  const InsertResult ins = ok(w().insert(id_, "db", "host=a", owner(100)));
  EXPECT_TRUE(ins.new_key);
  EXPECT_GT(ins.version, 0u);
  const RegistryView reg = view("svc");
  std::uint32_t pid = 0;
  EXPECT_EQ(value_of(reg, "db", &pid), "host=a");
  EXPECT_EQ(pid, 100u);
  const auto entries = ok(r().lookup_copy(reg, "db"));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0], (Entry{"db", "host=a", 100, ins.version}));
  std::size_t calls = 0;
  const std::size_t n = ok(r().lookup(reg, "db", [&](std::span<const EntryView> views) {
    ++calls;
    ASSERT_EQ(views.size(), 1u);
    EXPECT_EQ(views[0].key.size(), 2u);
    EXPECT_EQ(views[0].value.size(), 6u);
    EXPECT_EQ(views[0].pid, 100u);
    EXPECT_EQ(views[0].version, ins.version);
  }));
  EXPECT_EQ(n, 1u);
  EXPECT_GE(calls, 1u);
  EXPECT_EQ(ok(r().count(reg)), 1u);
  EXPECT_EQ(r().header().commit_seq, 2u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, LookupOfAbsentKeyFindsNothing) {
  ok(w().insert(id_, "db", "x", owner(100)));
  const RegistryView reg = view("svc");
  EXPECT_EQ(value_of(reg, "dc"), std::nullopt);
  EXPECT_EQ(value_of(reg, "d"), std::nullopt);
  EXPECT_EQ(value_of(reg, "db "), std::nullopt);
  EXPECT_EQ(value_of(reg, ""), std::nullopt);
  EXPECT_EQ(value_of(reg, std::string(17, 'k')), std::nullopt) << "longer than max_key: absent, not an error";
  EXPECT_TRUE(ok(r().lookup_copy(reg, "nope")).empty());
  EXPECT_EQ(ok(r().lookup(reg, "nope", [](std::span<const EntryView>) { FAIL() << "no entry to see"; })), 0u);
}

TEST_F(UniqueEntryTest, InsertOfTakenKeyFailsWithAlreadyRegisteredAndTheHoldersPid) {
  ok(w().insert(id_, "db", "first", owner(100)));
  const Marks before = marks();
  std::uint32_t conflict = 0;
  EXPECT_EQ(error_of(w().insert(id_, "db", "second", owner(200), &conflict)), Errc::already_registered);
  EXPECT_EQ(conflict, 100u);
  conflict = 0;
  EXPECT_EQ(error_of(w().insert(id_, "db", "again", owner(100), &conflict)), Errc::already_registered);
  EXPECT_EQ(conflict, 100u);
  EXPECT_EQ(error_of(w().insert(id_, "db", "no pid wanted", owner(300))), Errc::already_registered);
  EXPECT_EQ(marks(), before);
  EXPECT_EQ(value_of(view("svc"), "db"), "first");
  EXPECT_TRUE(ok(r().keys(view("svc"), 200)).empty());
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, RemoveDeletesOnlyTheOwnersEntry) {
  ok(w().insert(id_, "db", "v", owner(100)));
  ok(w().insert(id_, "cache", "c", owner(200)));
  EXPECT_EQ(ok(w().remove(id_, "db", 200)), 0u) << "pid 200 does not own db";
  EXPECT_EQ(value_of(view("svc"), "db"), "v");
  EXPECT_EQ(ok(w().remove(id_, "db", 100)), 1u);
  EXPECT_EQ(value_of(view("svc"), "db"), std::nullopt);
  EXPECT_EQ(value_of(view("svc"), "cache"), "c");
  EXPECT_EQ(ok(w().remove(id_, "db", 100)), 0u);
  EXPECT_EQ(ok(w().remove(id_, "never", 100)), 0u);
  EXPECT_EQ(ok(w().remove(id_, "", 100)), 0u);
  EXPECT_EQ(ok(w().remove(id_, std::string(100, 'x'), 100)), 0u);
  EXPECT_EQ(ok(r().count(view("svc"))), 1u);
  // The key is free again, for anyone.
  ok(w().insert(id_, "db", "new owner", owner(300)));
  std::uint32_t pid = 0;
  EXPECT_EQ(value_of(view("svc"), "db", &pid), "new owner");
  EXPECT_EQ(pid, 300u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, OversizedKeysAndValuesAreRefusedWithoutChange) {
  const Marks before = marks();
  EXPECT_EQ(error_of(w().insert(id_, std::string(17, 'k'), "v", owner(1))), Errc::key_too_long);
  EXPECT_EQ(error_of(w().insert(id_, "k", std::string(33, 'v'), owner(1))), Errc::value_too_long);
  EXPECT_EQ(error_of(w().insert(id_, "", "v", owner(1))), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().insert(id_, "k", "v", owner(0))), Errc::invalid_argument);
  EXPECT_EQ(marks(), before);
  EXPECT_TRUE(ok(r().owners()).empty()) << "a refused insert must not leave an owner slot behind";
  // Exactly at the limits works, and bytes are bytes (NUL, high bytes).
  const std::string key(16, 'k'), value(32, 'v');
  ok(w().insert(id_, key, value, owner(1)));
  const std::string binary_key("a\0b\xff", 4), binary_value("\0\0\x01", 3);
  ok(w().insert(id_, binary_key, binary_value, owner(1)));
  ok(w().insert(id_, "empty", "", owner(1)));
  EXPECT_EQ(value_of(view("svc"), key), value);
  EXPECT_EQ(value_of(view("svc"), binary_key), binary_value);
  EXPECT_EQ(value_of(view("svc"), std::string("a\0b\xfe", 4)), std::nullopt);
  EXPECT_EQ(value_of(view("svc"), std::string("a\0b", 3)), std::nullopt);
  EXPECT_EQ(value_of(view("svc"), "empty"), "");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, RegistryFullWhenCapacityIsReached) {
  for (int i = 0; i < 8; ++i) ok(w().insert(id_, "k" + std::to_string(i), "v", owner(1)));
  const Marks before = marks();
  EXPECT_EQ(error_of(w().insert(id_, "k8", "v", owner(1))), Errc::registry_full);
  EXPECT_EQ(error_of(w().insert(id_, "k8", "v", owner(2))), Errc::registry_full);
  EXPECT_EQ(marks(), before);
  EXPECT_EQ(ok(w().remove(id_, "k3", 1)), 1u);
  ok(w().insert(id_, "k8", "v", owner(2)));
  EXPECT_EQ(ok(r().count(view("svc"))), 8u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, VersionsAreUniqueAndGrow) {
  std::set<std::uint64_t> versions;
  std::uint64_t last = 0;
  for (int round = 0; round < 5; ++round)
    for (int i = 0; i < 8; ++i) {
      const std::string key = "k" + std::to_string(i);
      if (round > 0) {
        ASSERT_EQ(ok(w().remove(id_, key, 1)), 1u);
      }
      const auto v = ok(w().insert(id_, key, "v", owner(1))).version;
      EXPECT_GT(v, last);
      last = v;
      versions.insert(v);
    }
  EXPECT_EQ(versions.size(), 40u);
  ok(r().for_each(view("svc"), [&](const Entry& e) { EXPECT_EQ(versions.count(e.version), 1u); }));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UniqueEntryTest, EntriesSurviveReattach) {
  ok(w().insert(id_, "a", "1", owner(1)));
  ok(w().insert(id_, "b", "2", owner(2)));
  const Snapshot before = snapshot(r());
  writer_.reset();
  writer_.emplace(ok(SegmentWriter::attach(ns_.path())));
  EXPECT_FALSE(w().repaired_at_attach());
  EXPECT_EQ(snapshot(r()), before);
  ok(w().insert(id_, "c", "3", owner(1)));
  EXPECT_EQ(ok(w().remove(id_, "a", 1)), 1u);
  EXPECT_EQ(value_of(view("svc"), "c"), "3");
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
