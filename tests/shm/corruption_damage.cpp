// The damage and the reader pass of the corruption suites (see corruption_damage.hpp).
#include "corruption_damage.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include "shmreg/shm/events.hpp"
#include "test_support.hpp"

namespace shmreg::shm::test {

namespace {

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

}  // namespace

Original build_original(const std::string& path) {
  Original o;
  auto w = ok(SegmentWriter::create(path, small_segment(kMinSegmentSize, 64)));
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

namespace {

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

}  // namespace

std::string apply_damage(std::byte* base, const Original& o, std::uint64_t seed) { return Damage(base, o, seed).apply(); }

// Touches every byte a view points at, so that a view past the mapping faults here.
std::uint64_t touch(std::string_view s) {
  std::uint64_t sum = 0;
  for (char c : s) sum += static_cast<unsigned char>(c);
  return sum;
}

std::uint64_t exercise(const SegmentReader& r, const Original& o, std::uint64_t salt, std::vector<Errc>* errors) {
  // The value of a result, or fallback after noting its error.
  auto got = [&]<class T>(const Result<T>& res, T fallback) -> T {
    if (res) return *res;
    if (errors != nullptr) errors->push_back(res.error());
    return fallback;
  };
  auto note = [&](Errc e) {
    if (errors != nullptr) errors->push_back(e);
  };
  std::uint64_t sum = r.header().commit_seq;
  std::vector<RegistryView> views;
  if (auto all = r.registries())
    views = *all;
  else
    note(all.error());
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
      sum += got(n, std::size_t{0});
      std::string value;
      std::uint32_t pid = 0;
      sum += got(r.lookup_value(v, key, value, &pid), false) + value.size() + pid;
      sum += got(r.lookup_copy(v, key), std::vector<Entry>{}).size();
      sum += got(r.values(v, key, o.pids[rng() % o.pids.size()]), std::vector<Entry>{}).size();
    }
    for (std::uint32_t pid : o.pids) sum += got(r.keys(v, pid), std::vector<std::string>{}).size();
    for (std::size_t i = 0; i < keys.size(); i += 3) {
      sum += got(r.owner_queue(v, keys[i]), std::vector<Entry>{}).size();
      sum += got(await_key(r, v, keys[i], std::chrono::nanoseconds(0)), false);
    }
    const std::uint64_t head = event_head(r, v);
    const std::uint64_t starts[] = {1, head > 3 ? head - 3 : 1, head + 1, rng() | 1, ~std::uint64_t{0}};
    for (const std::uint64_t from : starts) {
      std::uint64_t next = 0;
      for (const Event& e : got(read_events(r, v, from, 128, next), std::vector<Event>{})) sum += e.key.size() + e.seq;
    }
    sum += change_counter(r, v);
    sum += wait_for_change(r, v, change_counter(r, v) + 1, std::chrono::nanoseconds(0));
    sum += got(r.count(v), std::uint64_t{0});
    sum += got(r.for_each(v, [&](const Entry& e) { sum += e.key.size() + e.value.size(); }), std::size_t{0});
    sum += got(r.meta(v), std::vector<std::pair<std::string, std::string>>{}).size();
  }
  sum += got(r.owners(), std::vector<OwnerInfo>{}).size();
  sum += validate(r).size();
  return sum;
}

std::uint64_t exercise(const std::string& path, const Original& o, std::uint64_t salt) {
  auto opened = SegmentReader::open(path);
  if (!opened) return 0;
  return exercise(*opened, o, salt);
}

}  // namespace shmreg::shm::test
