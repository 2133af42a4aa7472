// SegmentReader::lookup_batch: one pipelined call answers for every key what
// a single lookup answers, in order, on small registries (no prefetching)
// and on ones past kHomePrefetchMinPool (the pipeline); and it stops with the
// error a single lookup would give.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class LookupBatchTest : public SegmentFixture {
 protected:
  void SetUp() override { create(small_segment(std::size_t{64} << 20)); }

  // Every key's views as the batch showed them last, and the order of calls.
  struct Seen {
    std::vector<std::vector<Entry>> entries;
    std::vector<std::size_t> order;
  };
  Seen batch(const RegistryView& reg, const std::vector<std::string>& keys, std::size_t* found = nullptr) {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    Seen s;
    s.entries.resize(keys.size());
    auto n = r().lookup_batch(reg, views, [&](std::size_t i, std::span<const EntryView> got) {
      if (s.order.empty() || s.order.back() != i) s.order.push_back(i);
      s.entries[i].clear();
      for (const EntryView& v : got) s.entries[i].push_back({std::string(v.key), std::string(v.value), v.pid, v.version});
    });
    if (found != nullptr) *found = ok(std::move(n));
    return s;
  }
  // Hits, misses, an empty key and one past max_key, shuffled in.
  static std::vector<std::string> mixed_keys(int registered, int asked) {
    std::vector<std::string> keys;
    for (int i = 0; i < asked; ++i) {
      if (i % 7 == 3)
        keys.push_back("absent-" + std::to_string(i));
      else
        keys.push_back("key-" + std::to_string((i * 7919) % registered));
    }
    keys.insert(keys.begin() + asked / 2, "");
    keys.push_back(std::string(100, 'x'));
    return keys;
  }
  void expect_same_as_single_lookups(const RegistryView& reg, const std::vector<std::string>& keys) {
    std::size_t found = 0;
    const Seen s = batch(reg, keys, &found);
    std::vector<std::size_t> in_order(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) in_order[i] = i;
    EXPECT_EQ(s.order, in_order) << "fn runs once per key, in order";
    std::size_t hits = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto single = ok(r().lookup_copy(reg, keys[i]));
      EXPECT_EQ(s.entries[i], single) << "key " << i << " '" << keys[i] << "'";
      hits += !single.empty();
    }
    EXPECT_EQ(found, hits);
  }
};

TEST_F(LookupBatchTest, ASmallRegistryAnswersAsSingleLookupsDo) {
  const auto id = ok(w().create_registry(spec("small", RegistryKind::unique, 2, 100, 64, 32)));
  for (int i = 0; i < 50; ++i) ok(w().insert(id, "key-" + std::to_string(i), "v" + std::to_string(i), owner(1)));
  expect_same_as_single_lookups(view("small"), mixed_keys(50, 40));
}

TEST_F(LookupBatchTest, ARegistryPastTheCachesAnswersAsSingleLookupsDo) {
  // 12,000 records of 192 bytes: past kHomePrefetchMinPool, so the pipeline runs.
  const auto id = ok(w().create_registry(spec("big", RegistryKind::unique, 4, 12000, 32, 64)));
  ASSERT_GT(std::uint64_t{view("big").record_capacity()} * 192, SegmentReader::kHomePrefetchMinPool);
  for (int i = 0; i < 10000; ++i)
    ok(w().insert(id, "key-" + std::to_string(i), "value-" + std::to_string(i), owner(1 + i % 3)));
  for (int asked : {1, 7, 16, 17, 33, 1000}) expect_same_as_single_lookups(view("big"), mixed_keys(10000, asked));
}

TEST_F(LookupBatchTest, ADuplicateRegistryShowsEveryEntryOfEachKey) {
  const auto id = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2, 8000, 32, 64)));
  for (int i = 0; i < 3000; ++i)
    for (std::uint32_t pid = 1; pid <= static_cast<std::uint32_t>(1 + i % 2); ++pid)
      ok(w().insert(id, "key-" + std::to_string(i), "v" + std::to_string(pid), owner(pid)));
  expect_same_as_single_lookups(view("dup"), mixed_keys(3000, 200));
}

TEST_F(LookupBatchTest, AnEmptyBatchCallsNothing) {
  ok(w().create_registry(spec("svc")));
  int calls = 0;
  const auto n = r().lookup_batch(view("svc"), std::span<const std::string_view>(),
                                  [&](std::size_t, std::span<const EntryView>) { ++calls; });
  EXPECT_EQ(ok(n), 0u);
  EXPECT_EQ(calls, 0);
}

TEST_F(LookupBatchTest, AnAbandonedFileFailsTheBatchAsASingleLookupFails) {
  const auto id = ok(w().create_registry(spec("svc")));
  ok(w().insert(id, "a", "1", owner(1)));
  const RegistryView reg = view("svc");
  w().mark_superseded();
  std::vector<std::string_view> keys{"a", "b"};
  int calls = 0;
  const auto n = r().lookup_batch(reg, keys, [&](std::size_t, std::span<const EntryView>) { ++calls; });
  EXPECT_EQ(error_of(n), Errc::superseded);
  EXPECT_EQ(calls, 0) << "the first key already fails";
}

}  // namespace
}  // namespace shmreg::shm::test
