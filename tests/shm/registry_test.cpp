// Registries: creation (idempotent, conflicting, limits), the directory as
// readers see it, and operations on unknown registries.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

using RegistryTest = SegmentFixture;

TEST_F(RegistryTest, CreateRegistryIsIdempotentForTheSameSpec) {
  const auto a = ok(w().create_registry(spec("svc", RegistryKind::unique, 4, 100, 32, 64)));
  const auto again = ok(w().create_registry(spec("svc", RegistryKind::unique, 4, 100, 32, 64)));
  EXPECT_EQ(a, again);
  const auto b = ok(w().create_registry(spec("other", RegistryKind::duplicate)));
  EXPECT_NE(a, b);
  EXPECT_EQ(ok(w().find_registry("svc")), a);
  EXPECT_EQ(ok(w().find_registry("other")), b);
  EXPECT_EQ(error_of(w().find_registry("nope")), Errc::registry_not_found);
  EXPECT_EQ(r().header().registry_count, 2u);
  EXPECT_EQ(ok(r().registries()).size(), 2u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, CreateRegistryWithAnotherSpecFailsWithRegistryExists) {
  const RegistrySpec base = spec("svc", RegistryKind::unique, 4, 100, 32, 64);
  ok(w().create_registry(base));
  const std::uint64_t used = r().header().arena_used;
  std::vector<RegistrySpec> others(5, base);
  others[0].kind = RegistryKind::duplicate;
  others[1].partitions = 2;
  others[2].capacity = 101;
  others[3].max_key = 33;
  others[4].max_value = 65;
  others.push_back(base);
  others.back().event_capacity = base.event_capacity * 2;
  for (const RegistrySpec& s : others)
    EXPECT_EQ(error_of(w().create_registry(s)), Errc::registry_exists)
        << "kind " << static_cast<int>(s.kind) << " partitions " << s.partitions << " capacity " << s.capacity
        << " max_key " << s.max_key << " max_value " << s.max_value << " events " << s.event_capacity;
  EXPECT_EQ(r().header().registry_count, 1u);
  EXPECT_EQ(r().header().arena_used, used);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, ReaderSeesRegistryWithItsSpec) {
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::duplicate, 8, 1000, 40, 300)));
  const RegistryView v = view("svc");
  EXPECT_EQ(v.id(), id);
  EXPECT_EQ(v.name(), "svc");
  EXPECT_EQ(v.kind(), RegistryKind::duplicate);
  EXPECT_EQ(v.partitions(), 8u);
  EXPECT_EQ(v.capacity(), 1000u);
  EXPECT_EQ(v.max_key(), 40u);
  EXPECT_EQ(v.max_value(), 300u);
  EXPECT_GE(v.record_capacity(), 2000u) << "a duplicate registry also needs a key node per key";
  const RegistryView by_id = ok(r().registry_by_id(id));
  EXPECT_EQ(by_id.name(), "svc");
  EXPECT_EQ(error_of(r().registry("nope")), Errc::registry_not_found);
  EXPECT_EQ(error_of(r().registry_by_id(id + 1)), Errc::registry_not_found);
  EXPECT_EQ(error_of(r().registry_by_id(kMaxRegistries)), Errc::registry_not_found);
  EXPECT_EQ(error_of(r().registry_by_id(0xffffffffu)), Errc::registry_not_found);
  EXPECT_EQ(ok(r().count(v)), 0u);
}

TEST_F(RegistryTest, TooManyRegistriesAfter256) {
  // The smallest registries there are, so that 256 fit the segment.
  auto tiny = [](std::string name) {
    RegistrySpec s = spec(std::move(name), RegistryKind::unique, 1, 1, 1, 0);
    s.event_capacity = 2;
    return s;
  };
  for (std::uint32_t i = 0; i < kMaxRegistries; ++i) {
    const auto id = ok(w().create_registry(tiny("r" + std::to_string(i))));
    ASSERT_EQ(id, i);
  }
  EXPECT_EQ(error_of(w().create_registry(tiny("one-more"))), Errc::too_many_registries);
  // Asking for an existing one again is still fine.
  EXPECT_EQ(ok(w().create_registry(tiny("r17"))), 17u);
  EXPECT_EQ(r().header().registry_count, kMaxRegistries);
  const auto all = ok(r().registries());
  ASSERT_EQ(all.size(), kMaxRegistries);
  EXPECT_EQ(all.back().name(), "r255");
  // Each registry still works.
  ok(w().insert(255, "k", "", owner(5)));
  EXPECT_TRUE(value_of(view("r255"), "k").has_value());
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, InvalidNamesAndLimitsAreRefusedWithInvalidArgument) {
  std::vector<RegistrySpec> bad;
  for (std::string name : {std::string(), std::string(64, 'n'), std::string("with space"), std::string("tab\t"),
                           std::string("del\x7f"), std::string("nul\0", 4)})
    bad.push_back(spec(name));
  auto with = [](auto edit) {
    RegistrySpec s = spec("ok-name");
    edit(s);
    return s;
  };
  bad.push_back(with([](RegistrySpec& s) { s.partitions = 0; }));
  bad.push_back(with([](RegistrySpec& s) { s.partitions = kMaxPartitions + 1; }));
  bad.push_back(with([](RegistrySpec& s) { s.max_key = 0; }));
  bad.push_back(with([](RegistrySpec& s) { s.max_key = kMaxKeyLen + 1; }));
  bad.push_back(with([](RegistrySpec& s) { s.max_value = kMaxValueLen + 1; }));
  bad.push_back(with([](RegistrySpec& s) { s.capacity = 0; }));
  bad.push_back(with([](RegistrySpec& s) { s.capacity = kMaxRecordsPerRegistry + 1; }));
  bad.push_back(with([](RegistrySpec& s) { s.kind = static_cast<RegistryKind>(3); }));
  bad.push_back(with([](RegistrySpec& s) { s.kind = static_cast<RegistryKind>(0); }));
  bad.push_back(with([](RegistrySpec& s) { s.event_capacity = 0; }));
  bad.push_back(with([](RegistrySpec& s) { s.event_capacity = 1; }));
  bad.push_back(with([](RegistrySpec& s) { s.event_capacity = 100; }));
  bad.push_back(with([](RegistrySpec& s) { s.event_capacity = kMaxEventCapacity * 2; }));
  for (const RegistrySpec& s : bad)
    EXPECT_EQ(error_of(w().create_registry(s)), Errc::invalid_argument) << "name '" << s.name << "'";
  EXPECT_EQ(r().header().registry_count, 0u);
  EXPECT_EQ(r().header().arena_used, 0u);
  // The limits themselves are accepted.
  ok(w().create_registry(spec(std::string(63, 'n'), RegistryKind::unique, kMaxPartitions, 16, kMaxKeyLen, 0)));
  ok(w().create_registry(spec("~!@#$%^&*()", RegistryKind::duplicate, 1, 1, 1, 0)));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, RegistryThatDoesNotFitFailsWithSegmentFull) {
  EXPECT_EQ(error_of(w().create_registry(spec("huge", RegistryKind::unique, 1, 1u << 20, 64, 1024))),
            Errc::segment_full);
  EXPECT_EQ(r().header().arena_used, 0u);
  const auto id = ok(w().create_registry(spec("fits")));
  ok(w().insert(id, "k", "v", owner(3)));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, OperationsOnAnUnknownRegistryFailWithRegistryNotFound) {
  ok(w().create_registry(spec("svc")));
  for (std::uint32_t id : {1u, 200u, kMaxRegistries, 0xffffffffu}) {
    EXPECT_EQ(error_of(w().insert(id, "k", "v", owner(3))), Errc::registry_not_found);
    EXPECT_EQ(error_of(w().remove(id, "k", 3)), Errc::registry_not_found);
    EXPECT_EQ(error_of(w().update_value(id, "k", 3, "v", std::nullopt)), Errc::registry_not_found);
    EXPECT_EQ(error_of(w().put_meta(id, "k", "v")), Errc::registry_not_found);
    EXPECT_EQ(error_of(w().delete_meta(id, "k")), Errc::registry_not_found);
  }
  EXPECT_EQ(r().header().commit_seq, 1u) << "only the registry creation committed";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RegistryTest, RegistriesSurviveReattach) {
  ok(w().create_registry(spec("a", RegistryKind::unique, 2)));
  ok(w().create_registry(spec("b", RegistryKind::duplicate, 3)));
  writer_.reset();
  auto again = ok(SegmentWriter::attach(ns_.path()));
  EXPECT_EQ(ok(again.find_registry("a")), 0u);
  EXPECT_EQ(ok(again.create_registry(spec("b", RegistryKind::duplicate, 3))), 1u);
  EXPECT_EQ(ok(again.create_registry(spec("c"))), 2u);
  EXPECT_EQ(ok(r().registries()).size(), 3u);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
