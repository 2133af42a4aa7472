// The partition index: tombstone churn that forces rebuilds into the spare
// buffer, and partitioning that must not change any answer (1 vs 8).
//
// Both tests drive registries with random operations and compare every
// answer of the reader with a model kept in plain maps.
#include <map>
#include <random>
#include <set>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

// What a registry should hold: key -> (pid, value) entries.
using ModelEntries = std::multiset<std::pair<std::uint32_t, std::string>>;
using Model = std::map<std::string, ModelEntries>;

class IndexTest : public SegmentFixture {
 public:
  const RegistryDesc& desc(std::uint32_t id) {
    return reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[id];
  }
  // Rebuilds so far, summed over partitions: each one moves seq on by two.
  std::uint64_t rebuilds(std::uint32_t id) {
    const RegistryDesc& d = desc(id);
    const auto* parts = reinterpret_cast<const PartitionData*>(w().data() + d.partitions_offset);
    std::uint64_t n = 0;
    for (std::uint32_t p = 0; p < d.partitions; ++p) n += parts[p].seq / 2;
    return n;
  }
  ModelEntries read_key(const RegistryView& reg, const std::string& key) {
    ModelEntries out;
    for (const Entry& e : ok(r().lookup_copy(reg, key))) {
      EXPECT_EQ(e.key, key);
      out.emplace(e.pid, e.value);
    }
    return out;
  }
  // Every key of the pool, every pid's keys, count and for_each against the model.
  void expect_matches(const char* name, const Model& model, const std::vector<std::string>& pool,
                      const std::vector<std::uint32_t>& pids) {
    SCOPED_TRACE(name);
    const RegistryView reg = view(name);
    std::size_t total = 0;
    for (const std::string& key : pool) {
      const auto it = model.find(key);
      const ModelEntries want = it == model.end() ? ModelEntries{} : it->second;
      ASSERT_EQ(read_key(reg, key), want) << "key " << key;
      total += want.size();
    }
    ASSERT_EQ(ok(r().count(reg)), total);
    for (std::uint32_t pid : pids) {
      std::multiset<std::string> want;
      for (const auto& [key, entries] : model)
        for (const auto& [p, value] : entries)
          if (p == pid) want.insert(key);
      const auto got = ok(r().keys(reg, pid));
      ASSERT_EQ(std::multiset<std::string>(got.begin(), got.end()), want) << "pid " << pid;
    }
    Model seen;
    ok(r().for_each(reg, [&](const Entry& e) { seen[e.key].emplace(e.pid, e.value); }));
    ASSERT_EQ(seen, model);
  }
};

std::vector<std::string> key_pool(std::size_t n) {
  std::vector<std::string> pool;
  for (std::size_t i = 0; i < n; ++i) pool.push_back("key-" + std::to_string(i * 7919 % 100003));
  return pool;
}

// Keys that all hash to partition 0 of 8. Indexes are sized for keys spread
// over partitions, so these load one partition's index far beyond its share:
// long probe runs, tombstones that stay, and rebuilds.
std::vector<std::string> one_partition_pool(std::size_t n) {
  std::vector<std::string> pool;
  for (std::size_t i = 0; pool.size() < n; ++i) {
    std::string key = "key-" + std::to_string(i);
    if (partition_of(hash_key(key.data(), key.size()), 8) == 0) pool.push_back(std::move(key));
  }
  return pool;
}

// 512 entries over 8 partitions: 32 buckets (256 words) per partition, of
// which at most 224 may be live or tombstones before a rebuild.
constexpr std::uint32_t kChurnCapacity = 512;
constexpr std::size_t kChurnLiveKeys = 200;
constexpr std::size_t kChurnLiveUniqueKeys = 216;

TEST_F(IndexTest, TombstoneChurnRebuildsTheIndexAndLookupsStayRight) {
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 8, kChurnCapacity, 16, 16)));
  const auto pool = one_partition_pool(300);
  const std::vector<std::uint32_t> pids = {1, 2, 3};
  Model model;
  std::mt19937 rng(12345);
  for (int op = 0; op < 20000; ++op) {
    // Stay at the high-water mark: insert while below it, else remove.
    const std::string* key = &pool[rng() % pool.size()];
    const std::uint32_t pid = pids[rng() % pids.size()];
    auto it = model.find(*key);
    while (model.size() < kChurnLiveUniqueKeys && it != model.end()) {
      key = &pool[rng() % pool.size()];
      it = model.find(*key);
    }
    if (model.size() >= kChurnLiveUniqueKeys) {
      it = model.begin();
      std::advance(it, rng() % model.size());
      key = &it->first;
    }
    if (it == model.end()) {
      const std::string value = std::to_string(op);
      const auto ins = w().insert(id, *key, value, owner(pid));
      ASSERT_TRUE(ins.has_value()) << "op " << op << ": " << to_string(ins.error());
      model[*key].emplace(pid, value);
    } else {
      const std::uint32_t holder = it->second.begin()->first;
      ASSERT_EQ(ok(w().remove(id, it->first, holder)), 1u) << "op " << op;
      model.erase(it);
    }
    if (op % 211 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_matches("svc", model, pool, pids)) << "op " << op;
    }
    if (op % 2003 == 0) {
      ASSERT_TRUE(IsValidSegment(r())) << "op " << op;
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches("svc", model, pool, pids));
  EXPECT_TRUE(IsValidSegment(r()));
  EXPECT_GE(rebuilds(id), 3u) << "the churn must have forced rebuilds, or this test tests nothing";
}

TEST_F(IndexTest, TombstoneChurnInADuplicateRegistryKeepsChainsRight) {
  const auto id = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 8, kChurnCapacity, 16, 16)));
  const auto pool = one_partition_pool(300);
  const std::vector<std::uint32_t> pids = {1, 2, 3, 4};
  Model model;
  std::size_t entries = 0;
  std::mt19937 rng(777);
  // Removes every entry of one key, as the writer sees fit to report.
  auto drop_key = [&](Model::iterator victim, int op) {
    for (std::uint32_t p : pids) {
      const std::size_t n = std::erase_if(victim->second, [&](const auto& e) { return e.first == p; });
      ASSERT_EQ(ok(w().remove(id, victim->first, p)), n) << "op " << op;
      entries -= n;
    }
    model.erase(victim);
  };
  for (int op = 0; op < 20000; ++op) {
    const std::string& key = pool[rng() % pool.size()];
    const std::uint32_t pid = pids[rng() % pids.size()];
    auto it = model.find(key);
    const auto of_pid = [&](const auto& e) { return e.first == pid; };
    const bool has_pid = it != model.end() && std::any_of(it->second.begin(), it->second.end(), of_pid);
    const bool room = entries < kChurnCapacity && (it != model.end() || model.size() < kChurnLiveKeys);
    if (has_pid && rng() % 2 == 0) {
      const std::size_t n = std::erase_if(it->second, [&](const auto& e) { return e.first == pid; });
      ASSERT_EQ(ok(w().remove(id, key, pid)), n) << "op " << op;
      entries -= n;
      if (it->second.empty()) model.erase(it);
    } else if (room) {
      const std::string value = std::to_string(op);
      const InsertResult ins = ok(w().insert(id, key, value, owner(pid)));
      ASSERT_EQ(ins.new_key, it == model.end()) << "op " << op;
      model[key].emplace(pid, value);
      ++entries;
    } else {
      auto victim = model.begin();
      std::advance(victim, rng() % model.size());
      ASSERT_NO_FATAL_FAILURE(drop_key(victim, op));
    }
    if (op % 211 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_matches("dup", model, pool, pids)) << "op " << op;
    }
    if (op % 2003 == 0) {
      ASSERT_TRUE(IsValidSegment(r())) << "op " << op;
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches("dup", model, pool, pids));
  EXPECT_TRUE(IsValidSegment(r()));
  EXPECT_GE(rebuilds(id), 3u) << "the churn must have forced rebuilds, or this test tests nothing";
}

TEST_F(IndexTest, InsertIntoAFullPartitionIndexFailsWithRegistryFull) {
  const auto id = ok(w().create_registry(spec("svc", RegistryKind::unique, 8, kChurnCapacity, 16, 16)));
  const auto pool = one_partition_pool(300);
  std::size_t inserted = 0;
  for (; inserted < pool.size(); ++inserted) {
    const auto ins = w().insert(id, pool[inserted], "v", owner(1));
    if (!ins) {
      EXPECT_EQ(ins.error(), Errc::registry_full);
      break;
    }
  }
  EXPECT_EQ(inserted, 224u) << "7/8 of one partition's 256 index words";
  EXPECT_LT(inserted, kChurnCapacity);
  // Keys of other partitions still go in.
  ok(w().insert(id, "elsewhere", "v", owner(1)));
  for (std::size_t i = 0; i < inserted; ++i) ASSERT_EQ(value_of(view("svc"), pool[i]), "v") << pool[i];
  EXPECT_TRUE(IsValidSegment(r()));
}

// Applies the same random operations to registries that differ only in their
// number of partitions; every result and every answer must be the same.
void run_partition_comparison(IndexTest& t, SegmentWriter& w, RegistryKind kind, std::uint32_t seed) {
  const char* names[2] = {"p1", "p8"};
  const std::uint32_t ids[2] = {ok(w.create_registry(spec("p1", kind, 1, 120, 24, 24))),
                                ok(w.create_registry(spec("p8", kind, 8, 120, 24, 24)))};
  const auto pool = key_pool(300);
  const std::vector<std::uint32_t> pids = {11, 12, 13, 14, 15};
  Model model;
  std::mt19937 rng(seed);
  auto same = [](const auto& a, const auto& b) {
    EXPECT_EQ(a.has_value(), b.has_value());
    if (a && b) return true;
    if (!a && !b) {
      EXPECT_EQ(a.error(), b.error());
    }
    return false;
  };
  for (int op = 0; op < 4000; ++op) {
    const std::string& key = pool[rng() % pool.size()];
    const std::uint32_t pid = pids[rng() % pids.size()];
    const std::string value = std::to_string(op);
    const unsigned what = rng() % 10;
    if (what < 5) {
      std::uint32_t c0 = 0, c1 = 0;
      auto a = w.insert(ids[0], key, value, owner(pid), &c0);
      auto b = w.insert(ids[1], key, value, owner(pid), &c1);
      if (same(a, b)) {
        EXPECT_EQ(a->new_key, b->new_key);
        model[key].emplace(pid, value);
      }
      EXPECT_EQ(c0, c1);
    } else if (what < 8) {
      auto a = w.remove(ids[0], key, pid);
      auto b = w.remove(ids[1], key, pid);
      if (same(a, b)) {
        EXPECT_EQ(*a, *b);
        if (auto it = model.find(key); it != model.end()) {
          std::erase_if(it->second, [&](const auto& e) { return e.first == pid; });
          if (it->second.empty()) model.erase(it);
        }
      }
    } else if (what < 9 && kind == RegistryKind::unique) {
      auto a = w.update_value(ids[0], key, pid, value, std::nullopt);
      auto b = w.update_value(ids[1], key, pid, value, std::nullopt);
      if (same(a, b)) model[key] = {{pid, value}};
    } else if (op % 50 == 0) {
      // Applies to both registries at once.
      ok(w.remove_owner(pid));
      for (auto it = model.begin(); it != model.end();) {
        std::erase_if(it->second, [&](const auto& e) { return e.first == pid; });
        it = it->second.empty() ? model.erase(it) : std::next(it);
      }
    }
    if (op % 97 == 0) {
      for (const char* name : names) ASSERT_NO_FATAL_FAILURE(t.expect_matches(name, model, pool, pids)) << "op " << op;
    }
  }
  for (const char* name : names) ASSERT_NO_FATAL_FAILURE(t.expect_matches(name, model, pool, pids));
}

TEST_F(IndexTest, PartitionsOneAndEightBehaveIdenticallyForUniqueKeys) {
  run_partition_comparison(*this, w(), RegistryKind::unique, 42);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(IndexTest, PartitionsOneAndEightBehaveIdenticallyForDuplicateKeys) {
  run_partition_comparison(*this, w(), RegistryKind::duplicate, 4242);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
