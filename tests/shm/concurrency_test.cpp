// Lock-free reads against a live writer (invariants 4 and 5).
//
// One writer thread inserts, removes, updates and reaps owners in a unique and
// a duplicate registry, with churn heavy enough to rebuild indexes and reuse
// freed records (early, or at once with a zero grace period). Reader threads
// read through their own read-only mapping of the segment and check every
// answer against what the writer can have written:
//
// - every value names its key, its owner and a write counter, and its length
//   and filler follow from the counter, so a value torn between two writes or
//   read from a recycled record is caught;
// - "stable" keys are present from start to end (only their values change),
//   so a lookup that misses one has read a state that never existed;
// - a reader sees the counters of one key only grow, as writes are ordered;
// - keys(reg, pid) of the stable owner is exactly the stable key set;
// - a walk (for_each) lists each stable key exactly once, and no unique key
//   twice, although updates move entries between records under it;
// - a batch (lookup_batch) answers each of its keys as a single lookup must.
//
// The quick build runs a bounded number of writes; the stress build
// (SHMREG_STRESS) runs many more. Run it under the tsan build as well.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "test_support.hpp"

#ifdef SHMREG_STRESS
#define SHMREG_CONCURRENCY_SUITE ConcurrencyStress
#else
#define SHMREG_CONCURRENCY_SUITE Concurrency
#endif

namespace shmreg::shm::test {
namespace {

#ifdef SHMREG_STRESS
constexpr int kWriterOps = 3'000'000;
#else
constexpr int kWriterOps = 250'000;
#endif
constexpr int kReaders = 3;
constexpr std::uint32_t kStablePid = 1001;
constexpr std::uint32_t kChurnPids[] = {1002, 1003, 1004, 1005};
constexpr int kStableKeys = 16;
constexpr int kChurnKeys = 150;
// Both registries have 8 partitions sized for 256 entries: 128 index words
// each, at most 112 of them live or tombstones before a rebuild.
constexpr std::uint32_t kPartitions = 8;
constexpr std::uint32_t kUniqueCapacity = 256;
constexpr std::uint32_t kDuplicateCapacity = 256;

std::string stable_key(int i) { return "stable-" + std::to_string(i); }

// Churn keys all hash to partition 0, far beyond its share of the index: long
// probe runs, lasting tombstones and frequent rebuilds (and registry_full
// when that partition's index is full).
const std::string& churn_key(int i) {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (int n = 0; out.size() < static_cast<std::size_t>(kChurnKeys); ++n) {
      std::string key = "churn-" + std::to_string(n);
      if (partition_of(hash_key(key.data(), key.size()), kPartitions) == 0) out.push_back(std::move(key));
    }
    return out;
  }();
  return keys[static_cast<std::size_t>(i)];
}

// "<key>|<pid>|<counter>|<filler>", the filler's length and letter set by the counter.
std::string encode_value(std::string_view key, std::uint32_t pid, std::uint64_t counter) {
  std::string v(key);
  v += '|' + std::to_string(pid) + '|' + std::to_string(counter) + '|';
  v.append(counter % 41, static_cast<char>('a' + counter % 26));
  return v;
}

// Empty when `value` is one encode_value(key, pid, counter) could have made.
std::string check_value(std::string_view key, std::uint32_t pid, std::string_view value, std::uint64_t& counter) {
  const std::string prefix = std::string(key) + '|' + std::to_string(pid) + '|';
  if (value.substr(0, prefix.size()) != prefix)
    return "value '" + std::string(value) + "' does not name key '" + std::string(key) + "' and pid " +
           std::to_string(pid);
  const std::string_view rest = value.substr(prefix.size());
  const auto bar = rest.find('|');
  if (bar == std::string_view::npos || bar == 0) return "value '" + std::string(value) + "' has no counter";
  counter = std::stoull(std::string(rest.substr(0, bar)));
  if (value != encode_value(key, pid, counter)) return "value '" + std::string(value) + "' is torn";
  return {};
}

struct Shared {
  std::atomic<bool> start{false};
  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<std::string> failures;  // guarded by mu
  std::atomic<std::uint64_t> reads{0}, retry_exhausted{0};

  void fail(std::string what) {
    std::lock_guard lock(mu);
    if (failures.size() < 20) failures.push_back(std::move(what));
  }
};

// The writer: a model of both registries, and the operations on them.
class Writer {
 public:
  Writer(SegmentWriter& w, std::uint32_t uniq, std::uint32_t dup, std::uint32_t seed)
      : w_(w), uniq_(uniq), dup_(dup), rng_(seed) {}

  void populate() {
    for (int i = 0; i < kStableKeys; ++i) {
      const std::string key = stable_key(i);
      ok(w_.insert(uniq_, key, encode_value(key, kStablePid, ++counter_), owner(kStablePid)));
      uniq_model_[key] = kStablePid;
      ok(w_.insert(dup_, key, encode_value(key, kStablePid, 0), owner(kStablePid)));
      ++dup_entries_;
    }
    ok(w_.put_meta(uniq_, "gen", "0"));
  }

  void run(int ops) {
    for (int op = 0; op < ops; ++op) {
      const unsigned what = rng_() % 100;
      if (what < 45)
        unique_op();
      else if (what < 90)
        duplicate_op();
      else if (what < 99)
        update_stable();
      else if (op % 7 == 0)
        reap_owner();
      else
        ok(w_.put_meta(uniq_, "gen", std::to_string(op)));
    }
  }

 private:
  std::uint32_t churn_pid() { return kChurnPids[rng_() % std::size(kChurnPids)]; }

  void unique_op() {
    const std::string key = churn_key(static_cast<int>(rng_() % kChurnKeys));
    const auto it = uniq_model_.find(key);
    if (it == uniq_model_.end()) {
      const std::uint32_t pid = churn_pid();
      const auto r = w_.insert(uniq_, key, encode_value(key, pid, ++counter_), owner(pid));
      if (r) {
        uniq_model_[key] = pid;
      } else if (r.error() != Errc::registry_full) {
        throw std::runtime_error("insert failed: " + std::string(to_string(r.error())));
      }
      return;
    }
    const std::uint32_t holder = it->second;
    const unsigned what = rng_() % 10;
    if (what < 5) {
      if (ok(w_.remove(uniq_, key, holder)) != 1) throw std::runtime_error("remove missed");
      uniq_model_.erase(it);
    } else if (what < 9) {
      ok(w_.update_value(uniq_, key, holder, encode_value(key, holder, ++counter_), std::nullopt));
    } else {
      std::uint32_t conflict = 0;
      const std::uint32_t other = holder == kChurnPids[0] ? kChurnPids[1] : kChurnPids[0];
      if (error_of(w_.insert(uniq_, key, "x", owner(other), &conflict)) != Errc::already_registered ||
          conflict != holder)
        throw std::runtime_error("taken key was not refused");
    }
  }

  void duplicate_op() {
    const int k = static_cast<int>(rng_() % (kChurnKeys + kStableKeys));
    const std::string key = k < kStableKeys ? stable_key(k) : churn_key(k - kStableKeys);
    const std::uint32_t pid = churn_pid();
    auto& n = dup_model_[{key, pid}];
    if (n > 0 && rng_() % 2 == 0) {
      if (ok(w_.remove(dup_, key, pid)) != n) throw std::runtime_error("duplicate remove count");
      dup_entries_ -= n;
      n = 0;
    } else if (dup_entries_ < kDuplicateCapacity) {
      const auto r = w_.insert(dup_, key, encode_value(key, pid, ++counter_), owner(pid));
      if (r) {
        ++n;
        ++dup_entries_;
      } else if (r.error() != Errc::registry_full) {
        throw std::runtime_error("duplicate insert failed: " + std::string(to_string(r.error())));
      }
    }
  }

  void update_stable() {
    const std::string key = stable_key(static_cast<int>(rng_() % kStableKeys));
    ok(w_.update_value(uniq_, key, kStablePid, encode_value(key, kStablePid, ++counter_), std::nullopt));
  }

  void reap_owner() {
    const std::uint32_t pid = churn_pid();
    ok(w_.remove_owner(pid));
    std::erase_if(uniq_model_, [&](const auto& kv) { return kv.second == pid; });
    for (auto& [kp, n] : dup_model_)
      if (kp.second == pid) {
        dup_entries_ -= n;
        n = 0;
      }
  }

  SegmentWriter& w_;
  std::uint32_t uniq_, dup_;
  std::mt19937 rng_;
  std::uint64_t counter_ = 0;
  std::map<std::string, std::uint32_t> uniq_model_;                        // key -> holder
  std::map<std::pair<std::string, std::uint32_t>, std::uint32_t> dup_model_;  // (key, pid) -> entries
  std::uint32_t dup_entries_ = 0;
};

class Reader {
 public:
  Reader(const SegmentReader& r, Shared& shared, std::uint32_t seed) : r_(r), s_(shared), rng_(seed) {}

  void run() {
    const auto uniq = r_.registry("uniq");
    const auto dup = r_.registry("dup");
    if (!uniq || !dup) return s_.fail("reader cannot see the registries");
    while (!s_.start.load()) std::this_thread::yield();
    // At least a few rounds even if the writer is already done.
    for (int round = 0; !s_.done.load() || round < 200; ++round) {
      const unsigned what = rng_() % 100;
      if (what < 30)
        unique_lookup(*uniq, stable_key(static_cast<int>(rng_() % kStableKeys)), true);
      else if (what < 55)
        unique_lookup(*uniq, churn_key(static_cast<int>(rng_() % kChurnKeys)), false);
      else if (what < 70)
        duplicate_lookup(*dup, stable_key(static_cast<int>(rng_() % kStableKeys)), true);
      else if (what < 85)
        duplicate_lookup(*dup, churn_key(static_cast<int>(rng_() % kChurnKeys)), false);
      else if (what < 87)
        batch_lookup(*uniq);
      else if (what < 90)
        stable_owner_keys(*uniq);
      else if (what < 93)
        stable_values(*dup);
      else if (what < 95)
        iterate(*uniq, true);
      else if (what < 96)
        iterate(*dup, false);
      else
        misc(*uniq);
      s_.reads.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  template <class T>
  bool usable(const Result<T>& res, const char* what) {
    if (res) return true;
    if (res.error() == Errc::retry_exhausted) {
      s_.retry_exhausted.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    s_.fail(std::string(what) + " failed: " + std::string(to_string(res.error())));
    return false;
  }

  // Counters of one key only grow, for one reader.
  void expect_not_older(const std::string& key, std::uint64_t counter) {
    std::uint64_t& last = last_counter_[key];
    if (counter < last)
      s_.fail("key " + key + " went back from write " + std::to_string(last) + " to " + std::to_string(counter));
    last = counter;
  }

  void unique_lookup(const RegistryView& reg, const std::string& key, bool stable) {
    std::string value;
    std::uint32_t pid = 0;
    const auto found = r_.lookup_value(reg, key, value, &pid);
    if (!usable(found, "unique lookup")) return;
    if (!*found) {
      if (stable) s_.fail("stable key " + key + " was missing");
      return;
    }
    if (stable && pid != kStablePid) s_.fail("stable key " + key + " has pid " + std::to_string(pid));
    std::uint64_t counter = 0;
    if (auto err = check_value(key, pid, value, counter); !err.empty()) return s_.fail(err);
    expect_not_older(key, counter);
  }

  // lookup_batch over stable and churn keys: the last views fn saw for each
  // key pass the same checks as a single lookup's.
  void batch_lookup(const RegistryView& reg) {
    std::vector<std::string> keys;
    for (int i = 0; i < 6; ++i) keys.push_back(stable_key(static_cast<int>(rng_() % kStableKeys)));
    for (int i = 0; i < 6; ++i) keys.push_back(churn_key(static_cast<int>(rng_() % kChurnKeys)));
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    std::vector<std::vector<Entry>> last(keys.size());
    std::vector<int> calls(keys.size(), 0);
    const auto n = r_.lookup_batch(reg, views, [&](std::size_t i, std::span<const EntryView> got) {
      ++calls[i];
      last[i].clear();
      for (const EntryView& v : got) last[i].push_back({std::string(v.key), std::string(v.value), v.pid, v.version});
    });
    if (!usable(n, "batch lookup")) return;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const bool stable = i < 6;
      if (calls[i] == 0) return s_.fail("batch never called fn for " + keys[i]);
      if (last[i].size() > 1) return s_.fail("batch saw two entries of unique key " + keys[i]);
      if (last[i].empty()) {
        if (stable) s_.fail("batch: stable key " + keys[i] + " was missing");
        continue;
      }
      const Entry& e = last[i][0];
      if (e.key != keys[i]) return s_.fail("batch lookup of " + keys[i] + " returned key " + e.key);
      if (stable && e.pid != kStablePid) s_.fail("batch: stable key " + keys[i] + " has pid " + std::to_string(e.pid));
      std::uint64_t counter = 0;
      if (auto err = check_value(keys[i], e.pid, e.value, counter); !err.empty()) return s_.fail("batch: " + err);
      expect_not_older(keys[i], counter);
    }
  }

  void duplicate_lookup(const RegistryView& reg, const std::string& key, bool stable) {
    const auto entries = r_.lookup_copy(reg, key);
    if (!usable(entries, "duplicate lookup")) return;
    int permanent = 0;
    for (const Entry& e : *entries) {
      if (e.key != key) return s_.fail("lookup of " + key + " returned key " + e.key);
      std::uint64_t counter = 0;
      if (auto err = check_value(key, e.pid, e.value, counter); !err.empty()) return s_.fail(err);
      if (e.pid == kStablePid) ++permanent;
    }
    if (permanent != (stable ? 1 : 0))
      s_.fail("key " + key + " has " + std::to_string(permanent) + " entries of the stable owner");
  }

  void stable_owner_keys(const RegistryView& reg) {
    const auto keys = r_.keys(reg, kStablePid);
    if (!usable(keys, "keys")) return;
    std::multiset<std::string> got(keys->begin(), keys->end()), want;
    for (int i = 0; i < kStableKeys; ++i) want.insert(stable_key(i));
    if (got != want) {
      std::string list;
      for (const auto& k : got) list += " " + k;
      s_.fail("keys of the stable owner:" + list);
    }
  }

  void stable_values(const RegistryView& reg) {
    const std::string key = stable_key(static_cast<int>(rng_() % kStableKeys));
    const auto v = r_.values(reg, key, kStablePid);
    if (!usable(v, "values")) return;
    if (v->size() != 1 || (*v)[0].value != encode_value(key, kStablePid, 0))
      s_.fail("values of the stable owner under " + key + " are wrong");
  }

  // A walk lists every stable key exactly once, however often its value
  // moves to a new record meanwhile (an update frees the old one), and, in
  // the unique registry, no key twice.
  void iterate(const RegistryView& reg, bool unique) {
    std::map<std::string, int> stable_seen, seen;
    const auto n = r_.for_each(reg, [&](const Entry& e) {
      std::uint64_t counter = 0;
      if (auto err = check_value(e.key, e.pid, e.value, counter); !err.empty()) s_.fail("for_each: " + err);
      ++seen[e.key];
      if (e.pid == kStablePid) ++stable_seen[e.key];
    });
    if (!usable(n, "for_each")) return;
    for (int i = 0; i < kStableKeys; ++i)
      if (const int times = stable_seen[stable_key(i)]; times != 1)
        s_.fail("for_each saw stable key " + stable_key(i) + " " + std::to_string(times) + " times");
    if (unique)
      for (const auto& [key, times] : seen)
        if (times != 1) s_.fail("for_each saw unique key " + key + " " + std::to_string(times) + " times");
  }

  void misc(const RegistryView& uniq) {
    const auto count = r_.count(uniq);
    if (usable(count, "count") && (*count < kStableKeys || *count > kUniqueCapacity))
      s_.fail("count " + std::to_string(*count));
    const auto meta = r_.meta(uniq);
    if (usable(meta, "meta")) {
      if (meta->size() != 1 || (*meta)[0].first != "gen") return s_.fail("meta lost its key");
      const std::uint64_t gen = std::stoull((*meta)[0].second);
      if (gen < last_meta_) s_.fail("meta went back");
      last_meta_ = gen;
    }
    const auto owners = r_.owners();
    if (usable(owners, "owners")) {
      bool stable = false;
      for (const OwnerInfo& o : *owners) stable |= o.pid == kStablePid && o.entry_count >= 2 * kStableKeys;
      if (!stable) s_.fail("the stable owner is missing from owners()");
    }
    const HeaderInfo h = r_.header();
    if (h.commit_seq < last_commit_) s_.fail("commit_seq went back");
    last_commit_ = h.commit_seq;
  }

  const SegmentReader& r_;
  Shared& s_;
  std::mt19937 rng_;
  std::map<std::string, std::uint64_t> last_counter_;
  std::uint64_t last_meta_ = 0, last_commit_ = 0;
};

std::uint64_t index_rebuilds(const SegmentWriter& w, std::uint32_t id) {
  const RegistryDesc& d = reinterpret_cast<const RegistryDesc*>(w.data() + kHeaderSize)[id];
  const auto* parts = reinterpret_cast<const PartitionData*>(w.data() + d.partitions_offset);
  std::uint64_t n = 0;
  for (std::uint32_t p = 0; p < d.partitions; ++p) n += __atomic_load_n(&parts[p].seq, __ATOMIC_RELAXED) / 2;
  return n;
}

void run_readers_against_writer(std::chrono::nanoseconds grace, std::uint32_t seed) {
  ScopedNamespace ns;
  CreateOptions options = small_segment(std::size_t{16} << 20, 64);
  options.writer.grace = grace;
  SegmentWriter w = ok(SegmentWriter::create(ns.path(), options));
  const auto uniq = ok(w.create_registry(spec("uniq", RegistryKind::unique, kPartitions, kUniqueCapacity, 32, 128)));
  const auto dup =
      ok(w.create_registry(spec("dup", RegistryKind::duplicate, kPartitions, kDuplicateCapacity, 32, 128)));
  Writer writer(w, uniq, dup, seed);
  writer.populate();

  Shared shared;
  std::vector<SegmentReader> mappings;
  for (int i = 0; i < kReaders; ++i) mappings.push_back(ok(SegmentReader::open(ns.path())));
  std::vector<std::thread> threads;
  for (int i = 0; i < kReaders; ++i)
    threads.emplace_back([&, i] { Reader(mappings[static_cast<std::size_t>(i)], shared, seed * 31 + i).run(); });
  std::string writer_error;
  std::thread writer_thread([&] {
    while (!shared.start.load()) std::this_thread::yield();
    try {
      writer.run(kWriterOps);
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
    shared.done.store(true);
  });
  shared.start.store(true);
  writer_thread.join();
  for (auto& t : threads) t.join();

  EXPECT_EQ(writer_error, "");
  for (const std::string& f : shared.failures) ADD_FAILURE() << f;
  EXPECT_GT(shared.reads.load(), 0u);
  // Retries are allowed to run out now and then; never most of the time.
  EXPECT_LT(shared.retry_exhausted.load() * 100, shared.reads.load() + 100)
      << shared.retry_exhausted.load() << " of " << shared.reads.load() << " reads ran out of retries";
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  EXPECT_TRUE(IsValidSegment(r));
  EXPECT_GT(index_rebuilds(w, uniq) + index_rebuilds(w, dup), 0u) << "the churn must rebuild an index";
  std::cout << "[          ] " << shared.reads.load() << " reads, " << shared.retry_exhausted.load()
            << " out of retries, " << index_rebuilds(w, uniq) << "+" << index_rebuilds(w, dup) << " index rebuilds\n";
}

TEST(SHMREG_CONCURRENCY_SUITE, ReadersSeeOnlyWrittenValuesWhileTheWriterChurns) {
  run_readers_against_writer(std::chrono::milliseconds(10), 1);
}

TEST(SHMREG_CONCURRENCY_SUITE, ReadersSeeOnlyWrittenValuesWhenFreedRecordsAreReusedAtOnce) {
  run_readers_against_writer(std::chrono::nanoseconds(0), 2);
}

// lookup_batch's pipeline (a pool past kHomePrefetchMinPool, so buckets and
// records are prefetched ahead from words the writer may change meanwhile)
// against a writer that keeps updating every key with no grace period, so
// home slots are reused at once under the prefetches: no key is ever
// missing, every value is one written for its key, counters only grow.
TEST(SHMREG_CONCURRENCY_SUITE, PipelinedBatchesSeeOnlyWrittenValuesWhileEveryKeyIsUpdated) {
  constexpr int kKeys = 8000;  // 8001 records of 192 bytes: 1.5 MiB
  ScopedNamespace ns;
  CreateOptions options = small_segment(std::size_t{16} << 20, 64);
  options.writer.grace = std::chrono::nanoseconds(0);
  SegmentWriter w = ok(SegmentWriter::create(ns.path(), options));
  const auto id = ok(w.create_registry(spec("big", RegistryKind::unique, 4, kKeys, 32, 64)));
  auto key_of = [](int i) { return "k" + std::to_string(i); };
  for (int i = 0; i < kKeys; ++i) ok(w.insert(id, key_of(i), encode_value(key_of(i), kStablePid, 0), owner(kStablePid)));

  Shared shared;
  std::vector<SegmentReader> mappings;
  for (int i = 0; i < 2; ++i) mappings.push_back(ok(SegmentReader::open(ns.path())));
  ASSERT_GT(std::uint64_t{ok(mappings[0].registry("big")).record_capacity()} * 192, SegmentReader::kHomePrefetchMinPool);
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      const SegmentReader& r = mappings[static_cast<std::size_t>(t)];
      const RegistryView reg = ok(r.registry("big"));
      std::mt19937 rng(77 + t);
      std::map<std::string, std::uint64_t> last;
      std::vector<std::string> keys(64);
      std::vector<std::string> got(keys.size());
      for (int round = 0; !shared.done.load() || round < 50; ++round) {
        for (auto& k : keys) k = key_of(static_cast<int>(rng() % kKeys));
        const std::vector<std::string_view> views(keys.begin(), keys.end());
        std::vector<int> sizes(keys.size(), -1);
        const auto n = r.lookup_batch(reg, views, [&](std::size_t i, std::span<const EntryView> v) {
          sizes[i] = static_cast<int>(v.size());
          if (!v.empty()) got[i].assign(v[0].value);
        });
        shared.reads.fetch_add(1, std::memory_order_relaxed);
        if (!n) {
          if (n.error() == Errc::retry_exhausted) {
            shared.retry_exhausted.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          return shared.fail(std::string("lookup_batch failed: ") + std::string(to_string(n.error())));
        }
        for (std::size_t i = 0; i < keys.size(); ++i) {
          if (sizes[i] != 1) return shared.fail("key " + keys[i] + ": " + std::to_string(sizes[i]) + " entries");
          std::uint64_t counter = 0;
          if (auto err = check_value(keys[i], kStablePid, got[i], counter); !err.empty()) return shared.fail(err);
          if (counter < last[keys[i]]) return shared.fail("key " + keys[i] + " went back");
          last[keys[i]] = counter;
        }
      }
    });
  std::string writer_error;
  std::thread writer([&] {
    std::mt19937 rng(5);
    try {
      for (std::uint64_t c = 1; c <= static_cast<std::uint64_t>(kWriterOps) / 2; ++c) {
        const std::string key = key_of(static_cast<int>(rng() % kKeys));
        ok(w.update_value(id, key, kStablePid, encode_value(key, kStablePid, c), std::nullopt));
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
    shared.done.store(true);
  });
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(writer_error, "");
  for (const std::string& f : shared.failures) ADD_FAILURE() << f;
  EXPECT_LT(shared.retry_exhausted.load() * 100, shared.reads.load() + 100);
  EXPECT_TRUE(IsValidSegment(ok(SegmentReader::open(ns.path()))));
}

}  // namespace
}  // namespace shmreg::shm::test
