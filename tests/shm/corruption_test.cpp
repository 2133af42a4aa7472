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
#include <random>

#include "shmreg/shm/events.hpp"
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

struct Region {
  std::uint64_t offset, size;
};

// The pristine segment and where its structures are.
struct Original {
  std::vector<std::byte> bytes;
  std::vector<std::string> keys;
  std::vector<std::uint32_t> pids;
  Region header, owners, used;
  std::vector<Region> descriptors, records, partitions, index, meta, events;
  std::vector<std::uint32_t> record_sizes;  // per entry of `records`
};

// Small event rings, so that they fit the segment and wrap.
RegistrySpec with_ring(RegistrySpec s, std::uint32_t events) {
  s.event_capacity = events;
  return s;
}

void build_content(SegmentWriter& w, Original& o) {
  const auto uniq = ok(w.create_registry(with_ring(spec("uniq", RegistryKind::unique, 2, 64, 24, 48), 64)));
  const auto dup = ok(w.create_registry(with_ring(spec("dup", RegistryKind::duplicate, 3, 64, 24, 48), 32)));
  const auto small = ok(w.create_registry(with_ring(spec("small", RegistryKind::unique, 1, 4, 8, 0), 4)));
  ok(w.create_registry(with_ring(spec("empty", RegistryKind::duplicate, 1, 8, 8, 8), 2)));
  for (int i = 0; i < 40; ++i) {
    const std::string key = "svc-" + std::to_string(i * 37);
    o.keys.push_back(key);
    ok(w.insert(uniq, key, "value of " + key, owner(100 + i % 8)));
  }
  for (int i = 0; i < 12; ++i) {
    const std::string key = "topic-" + std::to_string(i);
    o.keys.push_back(key);
    for (int j = 0; j <= i % 5; ++j) ok(w.insert(dup, key, key + "#" + std::to_string(j), owner(100 + (i + j) % 9)));
  }
  ok(w.insert(small, "s", "", owner(108)));
  // Tombstones, freed records and replaced records, as a live segment has them.
  for (int i = 0; i < 40; i += 3) ok(w.remove(uniq, o.keys[static_cast<std::size_t>(i)], 100 + i % 8));
  for (int i = 1; i < 40; i += 5)
    if (i % 3 != 0) ok(w.update_value(uniq, o.keys[static_cast<std::size_t>(i)], 100 + i % 8, "updated", std::nullopt));
  ok(w.remove(dup, "topic-4", 104));
  // Owner queues: two waiting behind a primary, and a replaced primary.
  ok(w.insert_queued(uniq, o.keys[2], "waiting-1", owner(105), 0));
  ok(w.insert_queued(uniq, o.keys[2], "waiting-2", owner(106), kQueueAllowReplacement));
  o.keys.push_back("queued");
  ok(w.insert_queued(uniq, "queued", "first", owner(107), kQueueAllowReplacement));
  ok(w.insert_queued(uniq, "queued", "second", owner(108), kQueueReplaceExisting));
  ok(w.put_meta(uniq, "owner", "team"));
  ok(w.put_meta(dup, "ttl", "30"));
  for (std::uint32_t pid = 100; pid < 110; ++pid) o.pids.push_back(pid);
  o.pids.push_back(0);
  o.pids.push_back(4242);
}

Original build_original(const std::string& ns) {
  Original o;
  auto w = ok(SegmentWriter::create(ns, small_segment(kMinSegmentSize, 64)));
  build_content(w, o);
  o.bytes.assign(w.data(), w.data() + w.size());
  const auto& h = *reinterpret_cast<const SegmentHeader*>(w.data());
  o.header = {0, 144};
  o.owners = {h.owner_table_offset, std::uint64_t{h.owner_capacity} * sizeof(OwnerSlot)};
  o.used = {0, h.arena_offset + h.arena_used};
  const auto* dir = reinterpret_cast<const RegistryDesc*>(w.data() + kHeaderSize);
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id) {
    const RegistryDesc& d = dir[id];
    if (d.state != kRegistryLive) continue;
    o.descriptors.push_back({kHeaderSize + std::uint64_t{id} * sizeof(RegistryDesc), sizeof(RegistryDesc)});
    o.records.push_back({d.records_offset, std::max<std::uint64_t>(1, d.records_high_water) * d.record_size});
    o.record_sizes.push_back(d.record_size);
    o.partitions.push_back({d.partitions_offset, std::uint64_t{d.partitions} * sizeof(PartitionData)});
    o.index.push_back({d.index_offset, std::uint64_t{d.partitions} * 2 * d.index_buckets * sizeof(IndexBucket)});
    o.meta.push_back({d.meta_offset, 2 * std::uint64_t{kMetaBlockSize}});
    o.events.push_back({d.events_offset, std::uint64_t{d.event_capacity} * d.event_size});
  }
  return o;
}

// -- damage ----------------------------------------------------------------------

class Damage {
 public:
  Damage(std::byte* base, const Original& o, std::uint64_t seed) : base_(base), o_(o), rng_(seed) {}

  // Applies one kind of damage chosen by the seed; returns what it did.
  std::string apply() {
    const unsigned kind = static_cast<unsigned>(rng_() % 13);
    switch (kind) {
      case 0: return sprinkle();
      case 1: return smash(o_.header, 4 + rng_() % 2 * 4, "header");
      case 2: return smash(pick(o_.descriptors), 4 + rng_() % 2 * 4, "descriptor");
      case 3: return smash(pick(o_.partitions), 4 + rng_() % 2 * 4, "partition");
      case 4: return index_words();
      case 5: return record_fields();
      case 6: return smash(o_.owners, 4 + rng_() % 2 * 4, "owner slot");
      case 7: return smash(pick(o_.meta), 4 + rng_() % 2 * 4, "meta");
      case 8: return rewire_links();
      case 9: return block();
      case 11: return smash(pick(o_.events), 4 + rng_() % 2 * 4, "event");
      case 10: {
        std::string what;
        const int n = 2 + static_cast<int>(rng_() % 6);
        for (int i = 0; i < n; ++i) what += apply_simple() + "; ";
        return what;
      }
      default: return smash(o_.used, 4 + rng_() % 2 * 4, "anywhere");
    }
  }

 private:
  std::string apply_simple() {
    switch (rng_() % 5) {
      case 0: return smash(o_.header, 8, "header");
      case 1: return smash(pick(o_.descriptors), 4, "descriptor");
      case 2: return record_fields();
      case 3: return index_words();
      default: return rewire_links();
    }
  }

  const Region& pick(const std::vector<Region>& regions) { return regions[rng_() % regions.size()]; }

  template <class T>
  T read(std::uint64_t off) const {
    T v;
    std::memcpy(&v, base_ + off, sizeof v);
    return v;
  }
  template <class T>
  void write(std::uint64_t off, T v) {
    std::memcpy(base_ + off, &v, sizeof v);
  }

  std::uint64_t interesting(std::uint64_t old) {
    switch (rng_() % 14) {
      case 0: return 0;
      case 1: return 1;
      case 2: return old + 1;
      case 3: return old - 1;
      case 4: return old ^ (std::uint64_t{1} << (rng_() % 64));
      case 5: return 0x7fffffffULL;
      case 6: return 0x80000000ULL;
      case 7: return 0xffffffffULL;
      case 8: return ~std::uint64_t{0};
      case 9: return std::uint64_t{1} << 63;
      case 10: return rng_() % 4096;
      case 11: return old * 2;
      case 12: return o_.bytes.size() - rng_() % 256;
      default: return rng_();
    }
  }

  std::string smash(const Region& r, unsigned width, const char* where) {
    const std::uint64_t slots = r.size / width;
    const std::uint64_t off = r.offset + (rng_() % slots) * width;
    if (width == 8) {
      const auto v = interesting(read<std::uint64_t>(off));
      write<std::uint64_t>(off, v);
      return std::string(where) + " u64 @" + std::to_string(off) + " = " + std::to_string(v);
    }
    const auto v = static_cast<std::uint32_t>(interesting(read<std::uint32_t>(off)));
    write<std::uint32_t>(off, v);
    return std::string(where) + " u32 @" + std::to_string(off) + " = " + std::to_string(v);
  }

  std::string sprinkle() {
    const int n = 1 + static_cast<int>(rng_() % 16);
    std::string what = "sprinkle";
    for (int i = 0; i < n; ++i) {
      const std::uint64_t off = rng_() % o_.used.size;
      base_[off] = static_cast<std::byte>(rng_());
      what += " @" + std::to_string(off);
    }
    return what;
  }

  std::string block() {
    const std::uint64_t len = std::uint64_t{16} << (rng_() % 13);  // 16 B .. 64 KiB
    const std::uint64_t off = rng_() % o_.used.size;
    const std::uint64_t end = std::min<std::uint64_t>(off + len, o_.bytes.size());
    const unsigned fill = static_cast<unsigned>(rng_() % 4);
    for (std::uint64_t i = off; i < end; ++i)
      base_[i] = static_cast<std::byte>(fill == 0 ? 0x00 : fill == 1 ? 0xff : rng_());
    return "block @" + std::to_string(off) + " +" + std::to_string(end - off) + " fill " + std::to_string(fill);
  }

  // Index words that point at the wrong records, or copies of real words in
  // the wrong places, or holes in probe sequences.
  std::string index_words() {
    const std::size_t reg = rng_() % o_.index.size();
    const Region& r = o_.index[reg];
    const std::uint64_t words = r.size / 8;
    const int n = 1 + static_cast<int>(rng_() % 8);
    std::string what = "index";
    for (int i = 0; i < n; ++i) {
      const std::uint64_t off = r.offset + (rng_() % words) * 8;
      const std::uint64_t other = read<std::uint64_t>(r.offset + (rng_() % words) * 8);
      std::uint64_t v = 0;
      switch (rng_() % 5) {
        case 0: v = other; break;
        case 1: v = (other & 0xffffffff00000000ULL) | (rng_() % 300); break;
        case 2: v = 0; break;
        case 3: v = (other & 0xffffffff00000000ULL) | 0xffffffffULL; break;
        default: v = rng_(); break;
      }
      write<std::uint64_t>(off, v);
      what += " @" + std::to_string(off);
    }
    return what;
  }

  std::string record_fields() {
    const std::size_t reg = rng_() % o_.records.size();
    const Region& r = o_.records[reg];
    const std::uint64_t rs = o_.record_sizes[reg];
    const std::uint64_t rec = r.offset + (rng_() % (r.size / rs)) * rs;
    const unsigned field = static_cast<unsigned>(rng_() % 18);
    if (field >= 16) {  // key or value bytes
      const std::uint64_t off = rec + sizeof(RecordHeader) + rng_() % (rs - sizeof(RecordHeader));
      base_[off] = static_cast<std::byte>(rng_());
      return "record payload @" + std::to_string(off);
    }
    const std::uint64_t off = rec + field * 4;
    const auto v = static_cast<std::uint32_t>(interesting(read<std::uint32_t>(off)));
    write<std::uint32_t>(off, v);
    return "record field @" + std::to_string(off) + " = " + std::to_string(v);
  }

  // Link fields that point at other live records: cycles and shared tails.
  std::string rewire_links() {
    const std::size_t reg = rng_() % o_.records.size();
    const Region& r = o_.records[reg];
    const std::uint64_t rs = o_.record_sizes[reg];
    const std::uint64_t n = r.size / rs;
    const std::uint64_t from = rng_() % n, to = rng_() % n;
    const std::uint64_t rec = r.offset + from * rs;
    static constexpr std::size_t kLinks[] = {offsetof(RecordHeader, owner_next), offsetof(RecordHeader, owner_prev),
                                             offsetof(RecordHeader, key_next), offsetof(RecordHeader, key_prev),
                                             offsetof(RecordHeader, key_node)};
    const std::size_t field = kLinks[rng_() % std::size(kLinks)];
    const bool is_ref = field == offsetof(RecordHeader, owner_next) || field == offsetof(RecordHeader, owner_prev);
    const std::uint32_t v = is_ref ? make_ref(static_cast<std::uint32_t>(reg), static_cast<std::uint32_t>(to))
                                   : static_cast<std::uint32_t>(to + 1);
    write<std::uint32_t>(rec + field, v);
    return "link of record " + std::to_string(from) + " field +" + std::to_string(field) + " -> " + std::to_string(to);
  }

  std::byte* base_;
  const Original& o_;
  std::mt19937_64 rng_;
};

// -- reading everything ----------------------------------------------------------------

// Touches every byte a view points at, so that a view past the mapping faults here.
std::uint64_t touch(std::string_view s) {
  std::uint64_t sum = 0;
  for (char c : s) sum += static_cast<unsigned char>(c);
  return sum;
}

std::uint64_t exercise(const std::string& ns, const Original& o, std::uint64_t salt) {
  auto opened = SegmentReader::open(ns);
  if (!opened) return 0;
  const SegmentReader& r = *opened;
  std::uint64_t sum = r.header().commit_seq;
  std::vector<RegistryView> views;
  if (auto all = r.registries()) views = *all;
  for (std::uint32_t id = 0; id < kMaxRegistries; ++id)
    if (auto v = r.registry_by_id(id); v && views.size() < 8 && std::none_of(views.begin(), views.end(), [&](auto& x) {
                                            return x.id() == id;
                                          }))
      views.push_back(*v);
  for (const char* name : {"uniq", "dup", "small", "empty", "nope"}) sum += r.registry(name).has_value();
  std::vector<std::string> keys = o.keys;
  std::mt19937_64 rng(salt);
  for (int i = 0; i < 8; ++i) keys.push_back("random-" + std::to_string(rng() % 1000));
  keys.push_back(std::string(24, 'x'));
  for (const RegistryView& v : views) {
    sum += touch(v.name());
    for (const std::string& key : keys) {
      auto n = r.lookup(v, key, [&](std::span<const EntryView> entries) {
        for (const EntryView& e : entries) sum += touch(e.key) + touch(e.value) + e.pid + e.version;
      });
      sum += n.value_or(0);
      std::string value;
      std::uint32_t pid = 0;
      sum += r.lookup_value(v, key, value, &pid).value_or(false) + value.size() + pid;
      if (auto c = r.lookup_copy(v, key)) sum += c->size();
      if (auto c = r.values(v, key, o.pids[rng() % o.pids.size()])) sum += c->size();
    }
    for (std::uint32_t pid : o.pids)
      if (auto k = r.keys(v, pid)) sum += k->size();
    for (std::size_t i = 0; i < keys.size(); i += 3) {
      if (auto q = r.owner_queue(v, keys[i])) sum += q->size();
      sum += await_key(r, v, keys[i], std::chrono::nanoseconds(0)).value_or(false);
    }
    const std::uint64_t head = event_head(r, v);
    const std::uint64_t starts[] = {1, head > 3 ? head - 3 : 1, head + 1, rng() | 1, ~std::uint64_t{0}};
    for (const std::uint64_t from : starts) {
      std::uint64_t next = 0;
      if (auto events = read_events(r, v, from, 128, next)) {
        for (const Event& e : *events) sum += e.key.size() + e.seq;
      }
    }
    sum += change_counter(r, v);
    sum += wait_for_change(r, v, change_counter(r, v) + 1, std::chrono::nanoseconds(0));
    sum += r.count(v).value_or(0);
    (void)r.for_each(v, [&](const Entry& e) { sum += e.key.size() + e.value.size(); });
    if (auto m = r.meta(v)) sum += m->size();
  }
  if (auto owners = r.owners()) sum += owners->size();
  sum += validate(r).size();
  return sum;
}

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
    reset_copy([&](std::byte* base) { what = Damage(base, original_, seed).apply(); });
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
      if (r->for_each(*reg, [](const Entry&) {}).has_value()) return 12;
      return validate(*r).empty() ? 13 : 0;
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << describe_status(status) << " (12: for_each accepted it, 13: validate missed it)";
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
