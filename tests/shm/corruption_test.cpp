// Hostile bytes (invariant 4): whatever a segment holds, reading it never
// faults, never hangs and never trips a sanitizer. Errors are fine.
//
// A segment with content is built once. For each seed its bytes are copied
// into a second object (a namespace of its own), damaged at random (sprinkled
// bytes, smashed fields in the header, descriptors, partitions, index,
// records, owner slots, meta and event rings, rewired links, large random
// blocks), opened with SegmentReader, and put through every reader API
// (lookups, owner queues, events, iteration, meta, owners) and validate().
// Seeds run in batches, each in a forked child under an alarm(): a crash, a
// hang or a sanitizer report fails the batch, whose seeds are then run one
// by one to name the first bad seed and its damage.
//
// Named tests below pin the damage that once broke a reader or validate().
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <fstream>

#include "corruption_damage.hpp"
#include "test_support.hpp"

#ifdef SHMREG_STRESS
#define SHMREG_CORRUPTION_SUITE CorruptionStress
#else
#define SHMREG_CORRUPTION_SUITE Corruption
#endif

namespace shmreg::shm::test {
namespace {

#ifdef SHMREG_STRESS
constexpr std::uint64_t kSeeds = 200'000;
#else
constexpr std::uint64_t kSeeds = 4'000;
#endif
constexpr std::uint64_t kBatch = 250;
constexpr unsigned kBatchAlarmSeconds = 120;  // a hang, not a slow run: a batch takes a second or two
constexpr int kChildOk = 0;

// -- running seeds in children ------------------------------------------------------------

class CorruptionHarness {
 public:
  CorruptionHarness() : original_(build_original(source_.path())) {
    // The damaged copy lives in an object of its own namespace.
    auto seg = ok(MappedSegment::create(AT_FDCWD, copy_.path(), original_.bytes.size(), 0600));
  }

  const Original& original() const { return original_; }
  std::string copy_path() const { return copy_.path(); }

  // Copies the original into the copy object and lets `edit` damage it.
  void reset_copy(const std::function<void(std::byte*)>& edit) const {
    auto seg = MappedSegment::open(copy_.path(), MappedSegment::Access::read_write);
    if (!seg) throw std::runtime_error("cannot open the copy");
    std::memcpy(seg->data(), original_.bytes.data(), original_.bytes.size());
    edit(seg->data());
  }

  std::string damage(std::uint64_t seed) const {
    std::string what;
    reset_copy([&](std::byte* base) { what = apply_damage(base, original_, seed); });
    return what;
  }

  // Runs seeds [first, last) in one child under an alarm; returns the wait status.
  int run_batch(std::uint64_t first, std::uint64_t last, unsigned alarm_seconds) const {
    return fork_and_wait([&] {
      ::alarm(alarm_seconds);
      volatile std::uint64_t sink = 0;
      for (std::uint64_t seed = first; seed < last; ++seed) {
        damage(seed);
        sink = sink + exercise(copy_.path(), original_, seed);
      }
      return kChildOk;
    });
  }

 private:
  ScopedNamespace source_, copy_;
  Original original_;
};

TEST(SHMREG_CORRUPTION_SUITE, UndamagedCopyReadsBackAndValidates) {
  CorruptionHarness h;
  h.reset_copy([](std::byte*) {});
  const SegmentReader r = ok(SegmentReader::open(h.copy_path()));
  EXPECT_TRUE(IsValidSegment(r));
  EXPECT_EQ(ok(r.registries()).size(), 4u);
  std::string value;
  EXPECT_TRUE(ok(r.lookup_value(ok(r.registry("uniq")), "svc-37", value)));
  EXPECT_EQ(value, "updated");
  EXPECT_GT(exercise(h.copy_path(), h.original(), 1), 0u);
}

TEST(SHMREG_CORRUPTION_SUITE, RandomDamageNeverCrashesHangsOrTripsASanitizer) {
  CorruptionHarness h;
  // A damaged copy must at least sometimes be noticed, or the damage misses.
  std::uint64_t noticed = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    h.damage(seed);
    auto r = SegmentReader::open(h.copy_path());
    noticed += !r || !validate(*r).empty();
  }
  EXPECT_GT(noticed, 40u) << "much of the damage must be seen by open() or validate()";

  for (std::uint64_t first = 0; first < kSeeds; first += kBatch) {
    const std::uint64_t last = std::min(first + kBatch, kSeeds);
    const int status = h.run_batch(first, last, kBatchAlarmSeconds);
    if (WIFEXITED(status) && WEXITSTATUS(status) == kChildOk) continue;
    // Find the first seed of the batch that fails on its own.
    std::string detail = "batch of seeds [" + std::to_string(first) + ", " + std::to_string(last) + ") " +
                         describe_status(status);
    for (std::uint64_t seed = first; seed < last; ++seed) {
      const int one = h.run_batch(seed, seed + 1, 30);
      if (WIFEXITED(one) && WEXITSTATUS(one) == kChildOk) continue;
      detail += "; first failing seed " + std::to_string(seed) + " (" + describe_status(one) +
                (WIFSIGNALED(one) && WTERMSIG(one) == SIGALRM ? ", a hang" : "") + "): " + h.damage(seed);
      break;
    }
    ADD_FAILURE() << detail;
    return;
  }
}

// -- damage that once broke a reader, pinned ----------------------------------------------

// Peak resident memory of this process, in KiB (VmHWM).
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

RecordHeader* record_at(std::byte* base, std::uint32_t registry, std::uint32_t idx) {
  const auto& d = reinterpret_cast<const RegistryDesc*>(base + kHeaderSize)[registry];
  return reinterpret_cast<RecordHeader*>(base + d.records_offset + std::uint64_t{idx} * d.record_size);
}

TEST(SHMREG_CORRUPTION_SUITE, OwnerListCycleMakesKeysFailWithoutRunningAway) {
  CorruptionHarness h;
  // Point the head record of pid 100's entry list at itself.
  std::uint32_t head_registry = kMaxRegistries;
  h.reset_copy([&](std::byte* base) {
    const auto& hdr = *reinterpret_cast<const SegmentHeader*>(base);
    const auto* slots = reinterpret_cast<const OwnerSlot*>(base + hdr.owner_table_offset);
    for (std::uint32_t s = 0; s < hdr.owner_capacity; ++s)
      if (slots[s].state == kOwnerLive && slots[s].pid == 100) {
        const RecordRef head = slots[s].head;
        record_at(base, ref_registry(head), ref_record(head))->owner_next = head;
        head_registry = ref_registry(head);
      }
  });
  ASSERT_LT(head_registry, kMaxRegistries);
  const int status = fork_and_wait([&] {
    ::alarm(60);
    auto r = SegmentReader::open(h.copy_path());
    if (!r) return 10;
    auto reg = r->registry_by_id(head_registry);
    if (!reg) return 11;
    const long before = peak_rss_kib();
    const auto keys = r->keys(*reg, 100);
    const long grown = peak_rss_kib() - before;
    if (keys || keys.error() != Errc::corrupt) return 12;
    return grown < 64 * 1024 ? 0 : 13;  // a walk of the cycle would hold millions of keys
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_status(status) << " (10/11: cannot open, 12: not corrupt, 13: memory ran away)";
}

TEST(SHMREG_CORRUPTION_SUITE, HighWaterPastTheRecordPoolIsReportedNotFollowed) {
  CorruptionHarness h;
  const std::uint64_t capacity =
      reinterpret_cast<const RegistryDesc*>(h.original().bytes.data() + kHeaderSize)[0].record_capacity;
  for (const std::uint64_t hw : {capacity + 1, std::uint64_t{1} << 20, std::uint64_t{0xffffffff}, ~std::uint64_t{0}}) {
    SCOPED_TRACE("records_high_water " + std::to_string(hw));
    h.reset_copy([&](std::byte* base) {
      reinterpret_cast<RegistryDesc*>(base + kHeaderSize)[0].records_high_water = hw;
    });
    const int status = fork_and_wait([&] {
      ::alarm(60);
      auto r = SegmentReader::open(h.copy_path());
      if (!r) return 10;
      auto reg = r->registry("uniq");
      if (!reg) return 11;
      // for_each walks the index, never the pool up to the high water: it
      // lists the registry's entries as if nothing were wrong.
      const auto listed = r->for_each(*reg, [](const Entry&) {});
      const auto count = r->count(*reg);
      if (!listed || !count || *listed != *count) return 12;
      return validate(*r).empty() ? 13 : 0;
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << describe_status(status) << " (12: for_each did not list the entries, 13: validate missed it)";
  }
}

TEST(SHMREG_CORRUPTION_SUITE, DuplicateChainCycleMakesLookupFailWithCorrupt) {
  CorruptionHarness h;
  // topic-11 has several entries; make its first entry point back at itself.
  h.reset_copy([](std::byte* base) {
    const auto& d = reinterpret_cast<const RegistryDesc*>(base + kHeaderSize)[1];
    for (std::uint32_t i = 0; i < d.records_high_water; ++i) {
      RecordHeader* k = record_at(base, 1, i);
      if (k->state == kRecordKeyNode && k->aux > 1) {
        RecordHeader* first = record_at(base, 1, k->key_next - 1);
        first->key_next = k->key_next;
        break;
      }
    }
  });
  const int status = fork_and_wait([&] {
    ::alarm(60);
    auto r = SegmentReader::open(h.copy_path());
    if (!r) return 10;
    auto reg = r->registry("dup");
    if (!reg) return 11;
    int corrupt = 0;
    for (int i = 0; i < 12; ++i) {
      auto e = r->lookup_copy(*reg, "topic-" + std::to_string(i));
      corrupt += !e && e.error() == Errc::corrupt;
    }
    if (corrupt != 1) return 12;
    return validate(*r).empty() ? 13 : 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_status(status) << " (12: the cycle was not reported once, 13: validate missed it)";
}

// Every index word of the duplicate registry names one key node, whose
// chain runs through every entry record: each word's read is a whole chain,
// so an unbounded walk would copy words x records entries (quadratic in the
// segment). The walk stops past twice the pool and says corrupt.
TEST(SHMREG_CORRUPTION_SUITE, IndexWordsSharingOneLongChainMakeForEachFailWithCorruptNotRunAway) {
  CorruptionHarness h;
  h.reset_copy([&](std::byte* base) {
    const auto& d = reinterpret_cast<const RegistryDesc*>(base + kHeaderSize)[1];
    std::vector<std::uint32_t> entries;
    std::uint32_t node = 0;  // record + 1
    for (std::uint32_t i = 0; i < d.records_high_water; ++i) {
      const RecordHeader* r = record_at(base, 1, i);
      if (r->state == kRecordEntry) entries.push_back(i);
      if (r->state == kRecordKeyNode && node == 0) node = i + 1;
    }
    ASSERT_NE(node, 0u);
    ASSERT_GT(entries.size(), 4u);
    record_at(base, 1, node - 1)->key_next = entries[0] + 1;
    for (std::size_t i = 0; i < entries.size(); ++i)
      record_at(base, 1, entries[i])->key_next = i + 1 < entries.size() ? entries[i + 1] + 1 : 0;
    const Region& idx = h.original().index[1];
    const std::uint64_t word = make_entry(0x5a5a5a5a, node - 1);
    for (std::uint64_t off = idx.offset; off < idx.offset + idx.size; off += 8) std::memcpy(base + off, &word, 8);
  });
  const int status = fork_and_wait([&] {
    ::alarm(60);
    auto r = SegmentReader::open(h.copy_path());
    if (!r) return 10;
    auto reg = r->registry("dup");
    if (!reg) return 11;
    std::size_t seen = 0;
    auto n = r->for_each(*reg, [&](const Entry&) { ++seen; });
    if (n || n.error() != Errc::corrupt || seen != 0) return 12;
    return validate(*r).empty() ? 13 : 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_status(status) << " (12: for_each did not fail with corrupt before listing, 13: validate missed it)";
}

TEST(SHMREG_CORRUPTION_SUITE, IndexWithoutEmptyWordsStillEndsEveryProbe) {
  CorruptionHarness h;
  h.reset_copy([&](std::byte* base) {
    const Region& idx = h.original().index[0];
    for (std::uint64_t off = idx.offset; off < idx.offset + idx.size; off += 8) {
      const std::uint64_t tombstone = make_tombstone(0x5a5a5a5a);
      std::memcpy(base + off, &tombstone, 8);
    }
  });
  const int status = fork_and_wait([&] {
    ::alarm(60);
    auto r = SegmentReader::open(h.copy_path());
    if (!r) return 10;
    auto reg = r->registry("uniq");
    if (!reg) return 11;
    std::string value;
    for (const std::string& key : h.original().keys)
      if (r->lookup_value(*reg, key, value).value_or(true)) return 12;
    return validate(*r).empty() ? 13 : 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_status(status) << " (12: found a key in an index of tombstones, 13: validate missed it)";
}

}  // namespace
}  // namespace shmreg::shm::test
