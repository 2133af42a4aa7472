// update_value: a compare-and-set on an entry's version that publishes a new
// record in one store, and its refusals.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class UpdateValueTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    id_ = ok(w().create_registry(spec("svc", RegistryKind::unique, 2, 4, 16, 16)));
    v1_ = ok(w().insert(id_, "db", "old", owner(10))).version;
  }
  Entry entry(std::string_view key) {
    const auto e = ok(r().lookup_copy(view("svc"), key));
    if (e.size() != 1) throw std::runtime_error("expected exactly one entry");
    return e[0];
  }
  std::uint32_t id_ = 0;
  std::uint64_t v1_ = 0;
};

TEST_F(UpdateValueTest, UpdateValueReplacesTheValueUnderANewVersion) {
  const std::uint64_t v2 = ok(w().update_value(id_, "db", 10, "new", v1_));
  EXPECT_GT(v2, v1_);
  EXPECT_EQ(entry("db"), (Entry{"db", "new", 10, v2}));
  const std::uint64_t v3 = ok(w().update_value(id_, "db", 10, "newer", std::nullopt));
  EXPECT_GT(v3, v2);
  EXPECT_EQ(entry("db"), (Entry{"db", "newer", 10, v3}));
  EXPECT_EQ(ok(r().count(view("svc"))), 1u);
  EXPECT_EQ(ok(r().keys(view("svc"), 10)), (std::vector<std::string>{"db"}));
  const auto owners = ok(r().owners());
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].entry_count, 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UpdateValueTest, StaleExpectedVersionFailsWithVersionConflict) {
  const std::uint64_t v2 = ok(w().update_value(id_, "db", 10, "new", v1_));
  const Snapshot before = snapshot(r());
  EXPECT_EQ(error_of(w().update_value(id_, "db", 10, "lost", v1_)), Errc::version_conflict);
  EXPECT_EQ(error_of(w().update_value(id_, "db", 10, "lost", v2 + 1)), Errc::version_conflict);
  EXPECT_EQ(snapshot(r()), before);
  EXPECT_EQ(entry("db").version, v2);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UpdateValueTest, UpdateByAnotherPidOrOfAMissingKeyFailsWithNotFound) {
  ok(w().insert(id_, "cache", "c", owner(20)));
  const Snapshot before = snapshot(r());
  EXPECT_EQ(error_of(w().update_value(id_, "db", 20, "steal", std::nullopt)), Errc::not_found);
  EXPECT_EQ(error_of(w().update_value(id_, "db", 20, "steal", v1_)), Errc::not_found);
  EXPECT_EQ(error_of(w().update_value(id_, "nope", 10, "x", std::nullopt)), Errc::not_found);
  EXPECT_EQ(error_of(w().update_value(id_, "", 10, "x", std::nullopt)), Errc::not_found);
  EXPECT_EQ(error_of(w().update_value(id_, std::string(17, 'k'), 10, "x", std::nullopt)), Errc::not_found);
  EXPECT_EQ(error_of(w().update_value(id_, "db", 10, std::string(17, 'v'), std::nullopt)), Errc::value_too_long);
  EXPECT_EQ(snapshot(r()), before);
  EXPECT_EQ(entry("db").value, "old");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UpdateValueTest, UpdateValueSucceedsWhenTheRegistryIsFull) {
  ok(w().insert(id_, "b", "b", owner(10)));
  ok(w().insert(id_, "c", "c", owner(20)));
  ok(w().insert(id_, "d", "d", owner(20)));
  EXPECT_EQ(error_of(w().insert(id_, "e", "e", owner(20))), Errc::registry_full);
  // Replacing a value does not add an entry, so a full registry allows it.
  for (int i = 0; i < 10; ++i) {
    const std::string value = "v" + std::to_string(i);
    ok(w().update_value(id_, "db", 10, value, std::nullopt));
    ok(w().update_value(id_, "c", 20, value, std::nullopt));
    EXPECT_EQ(entry("db").value, value);
    EXPECT_EQ(entry("c").value, value);
  }
  EXPECT_EQ(ok(r().count(view("svc"))), 4u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(UpdateValueTest, ManyUpdatesReuseRecordsAndKeepOneEntry) {
  WriterOptions no_grace;
  no_grace.grace = std::chrono::nanoseconds(0);
  writer_.reset();
  writer_.emplace(ok(SegmentWriter::attach(ns_.path(), no_grace)));
  std::uint64_t version = v1_;
  for (int i = 0; i < 1000; ++i) {
    version = ok(w().update_value(id_, "db", 10, std::to_string(i), version));
    ASSERT_EQ(entry("db"), (Entry{"db", std::to_string(i), 10, version}));
  }
  EXPECT_EQ(ok(r().count(view("svc"))), 1u);
  EXPECT_EQ(ok(r().keys(view("svc"), 10)).size(), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
