// shmreg-bench-shm: what a lookup in the shared segment costs, measured three
// ways, next to LMDB and next to the memory-latency limit, all in one run.
//
// For each key count (1k, 100k, 1M; 32-byte keys, 64-byte values, unique
// registry) the run builds, on first use:
//   - a segment with one registry holding the keys, written by SegmentWriter
//     and read through a separate read-only SegmentReader mapping;
//   - an LMDB environment on tmpfs holding the same keys and values;
//   - pointer-chase buffers as large as the registry's working set.
// and measures
//   tput   independent lookups back to back: ns/op is throughput, and the CPU
//          may overlap the cache misses of consecutive lookups;
//   lat    each lookup bracketed by fenced cycle-counter reads: p50/p99 of the
//          latency of one lookup, timer cost subtracted (user counters);
//   chain  each lookup's key index is read from the previous lookup's value,
//          so lookups cannot overlap: ns/op is the mean latency;
//   chase  a dependent pointer chase over a buffer of the working-set size
//          (lines, one line per page, 2- and 3-line records; 4 KiB or 2 MiB
//          pages): the latency of one random access, the yardstick for the above;
//   shm_experiment/pipelined  lookups software-pipelined with prefetches, to
//          show what a batch lookup API could reach (not a product path).
// Keys are drawn uniformly at random from the whole key set, through an index
// array built before timing starts. "writer:churn" runs a thread that keeps
// inserting, updating and removing other keys of the same registry through
// SegmentWriter while the benchmark thread reads. Figures are CPU time of the
// benchmark thread. At the end the run prints a Markdown summary with the
// ratios that docs/benchmarks.md discusses.
//
// Full run:  --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//            --benchmark_min_time=0.2
// CI smoke:  --benchmark_min_time=0.01 --benchmark_filter=keys:1000/
// Exit status: 0, or 1 if a lookup returned a wrong answer or setup failed.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "chase.hpp"
#include "lmdb_store.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::bench {
namespace {

namespace shm = shmreg::shm;

constexpr std::uint32_t kSizes[] = {1000, 100000, 1000000};
constexpr std::uint32_t kReaderPidBase = 4'190'001;  // fake owners of the looked-up keys
constexpr std::uint32_t kChurnPidBase = 4'190'101;   // fake owners of the churn keys
constexpr std::uint64_t kSeed = 0x5eed0001;

// -- Per key count: the plan shared by the shm and LMDB sides -----------------------------

struct Plan {
  std::uint32_t n = 0;
  std::vector<std::uint32_t> next;  // next[i]: the key after i along one random cycle
  std::vector<std::uint32_t> idx;   // uniform random key indices, read in order
  std::uint32_t idx_mask = 0;
  std::uint32_t cursor = 0;         // where the next benchmark starts reading idx
};

// Facts about the built worlds, for the summary.
struct Info {
  std::size_t segment_bytes = 0, shm_working_set = 0, churn_keys = 0;
  LmdbStore::Shape lmdb;
};

std::map<std::uint32_t, std::unique_ptr<Plan>> g_plans;
std::map<std::uint32_t, Info> g_info;
std::map<std::string, std::string> g_failed;  // what -> why, so a failed build is not retried

Plan& plan(std::uint32_t n) {
  auto& slot = g_plans[n];
  if (slot) return *slot;
  auto p = std::make_unique<Plan>();
  p->n = n;
  Rng rng(kSeed ^ n);
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
  shuffle(order, rng);
  p->next.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) p->next[order[i]] = order[(i + 1) % n];
  // Four draws per key at least, so every key is drawn many times over a run.
  std::size_t q = std::size_t{1} << 16;
  while (q < std::size_t{4} * n && q < (std::size_t{1} << 22)) q <<= 1;
  p->idx.resize(q);
  for (auto& x : p->idx) x = rng.below(n);
  p->idx_mask = static_cast<std::uint32_t>(q - 1);
  slot = std::move(p);
  return *slot;
}

std::string tmp_parent() {
  if (const char* env = std::getenv("SHMREG_BENCH_TMPDIR"); env != nullptr && *env != '\0') return env;
  if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";  // tmpfs on Linux
  return std::filesystem::temp_directory_path().string();
}

// -- The shm world -------------------------------------------------------------------------

shm::OwnerIdentity reader_owner(std::uint32_t i) {
  return {kReaderPidBase + (i & 3u), static_cast<std::uint32_t>(::getuid()), shm::kIdentityStartTime, 1};
}
shm::OwnerIdentity churn_owner(std::uint32_t i) {
  return {kChurnPidBase + (i & 1u), static_cast<std::uint32_t>(::getuid()), shm::kIdentityStartTime, 1};
}

struct ShmWorld {
  std::uint32_t n = 0, churn_keys = 0, registry = 0;
  std::string object;  // segment object name, removed at destruction
  std::optional<shm::SegmentWriter> writer;
  std::optional<shm::SegmentReader> reader;
  shm::RegistryView view;
  std::vector<std::uint8_t> churn_present;
  std::uint64_t churn_seed = 1;

  ShmWorld() = default;
  ShmWorld(const ShmWorld&) = delete;
  ShmWorld& operator=(const ShmWorld&) = delete;
  ~ShmWorld() {
    reader.reset();
    writer.reset();
    if (!object.empty()) (void)shm::MappedSegment::remove(object);
  }

  int get(std::string_view key, std::string& value) const {
    const auto r = reader->lookup_value(view, key, value);
    return r ? static_cast<int>(*r) : -1;
  }
};

std::map<std::uint32_t, std::unique_ptr<ShmWorld>> g_shm;

[[noreturn]] void setup_error(const std::string& what, shm::Errc e) {
  throw std::runtime_error(what + ": " + std::string(shm::to_string(e)));
}

void verify(const Plan& p, const std::function<int(std::string_view, std::string&)>& get, const char* who) {
  Key k;
  std::string value;
  const std::uint32_t samples = std::min<std::uint32_t>(p.n, 10000);
  for (std::uint32_t s = 0; s < samples; ++s) {
    const auto i = static_cast<std::uint32_t>(std::uint64_t{s} * p.n / samples);
    make_key(k, KeySet::hit, i);
    if (get(k.view(), value) != 1 || value_next(value) != p.next[i])
      throw std::runtime_error(std::string(who) + ": a registered key was not found intact");
    make_key(k, KeySet::miss, i);
    if (get(k.view(), value) != 0) throw std::runtime_error(std::string(who) + ": an absent key was found");
  }
}

ShmWorld& shm_world(std::uint32_t n) {
  if (auto it = g_shm.find(n); it != g_shm.end()) return *it->second;
  const std::string what = "shm world keys:" + std::to_string(n);
  if (auto f = g_failed.find(what); f != g_failed.end()) throw std::runtime_error(f->second);
  try {
    Plan& p = plan(n);
    auto w = std::make_unique<ShmWorld>();
    static int counter = 0;
    const std::string ns = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    w->n = n;
    w->churn_keys = std::clamp<std::uint32_t>(n / 8, 64, 4096);
    const std::uint32_t capacity = n + w->churn_keys + 64;
    // Records are 192 bytes (64 head + 32 key + 64 value, line-padded); the
    // index has two buffers of at most 64 bytes per entry of capacity each.
    shm::CreateOptions opt;
    opt.size = (std::size_t{capacity} * (192 + 128) + (std::size_t{8} << 20) + (std::size_t{1} << 20) - 1) &
               ~((std::size_t{1} << 20) - 1);
    opt.owner_capacity = 1024;
    auto sw = shm::SegmentWriter::create(ns, opt);
    if (!sw) setup_error("create segment", sw.error());
    w->object = shm::segment_object_name(ns);
    cleanup_register(CleanupKind::shm_object, w->object);
    w->writer.emplace(std::move(*sw));
    auto id = w->writer->create_registry({.name = "bench",
                                          .max_key = static_cast<std::uint32_t>(kKeyLen),
                                          .max_value = static_cast<std::uint32_t>(kValueLen),
                                          .capacity = capacity});
    if (!id) setup_error("create registry", id.error());
    w->registry = *id;
    Key k;
    Value v;
    for (std::uint32_t i = 0; i < n; ++i) {
      make_key(k, KeySet::hit, i);
      make_value(v, i, p.next[i]);
      if (auto r = w->writer->insert(w->registry, k.view(), v.view(), reader_owner(i)); !r)
        setup_error("insert", r.error());
    }
    w->churn_present.assign(w->churn_keys, 0);

    auto sr = shm::SegmentReader::open(ns);
    if (!sr) setup_error("open reader", sr.error());
    w->reader.emplace(std::move(*sr));
    auto view = w->reader->registry("bench");
    if (!view) setup_error("reader registry", view.error());
    w->view = *view;
    // Map every page of the read-only mapping now, so that no lookup pays a
    // page fault inside the timed loop.
    std::uint64_t sum = 0;
    const auto* base = w->reader->data();
    for (std::size_t off = 0; off < w->reader->size(); off += 4096)
      sum += static_cast<std::uint8_t>(*reinterpret_cast<const volatile std::byte*>(base + off));
    benchmark::DoNotOptimize(sum);

    const auto* d = reinterpret_cast<const shm::RegistryDesc*>(base + shm::kHeaderSize) + w->registry;
    Info& info = g_info[n];
    info.segment_bytes = w->reader->size();
    info.shm_working_set = std::size_t{d->record_capacity} * d->record_size +
                           std::size_t{d->index_buckets} * sizeof(shm::IndexBucket);
    info.churn_keys = w->churn_keys;
    const ShmWorld& cw = *w;
    verify(p, [&cw](std::string_view key, std::string& value) { return cw.get(key, value); }, "shm");
    return *(g_shm[n] = std::move(w));
  } catch (const std::exception& e) {
    g_failed[what] = what + ": " + e.what();
    throw std::runtime_error(g_failed[what]);
  }
}

// Keeps changing churn keys of the registry from its own thread: insert when
// absent; when present, update the value or remove, at random. It never
// touches the keys the benchmark looks up. Flat out, as the worst case: a real
// broker is limited by socket round trips to far fewer writes per second.
class ChurnWriter {
 public:
  explicit ChurnWriter(ShmWorld& w) : w_(w), seed_(w.churn_seed++) {
    thread_ = std::thread([this] { run(); });
    while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  ~ChurnWriter() { stop(); }
  ChurnWriter(const ChurnWriter&) = delete;
  ChurnWriter& operator=(const ChurnWriter&) = delete;

  void stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  std::uint64_t ops() const noexcept { return ops_; }          // valid after stop()
  std::uint64_t failures() const noexcept { return failures_; }  // valid after stop()

 private:
  void run() {
    Rng rng(kSeed ^ (seed_ << 20));
    Key k;
    Value v;
    shm::SegmentWriter& wr = *w_.writer;
    started_.store(true, std::memory_order_release);
    while (!stop_.load(std::memory_order_relaxed)) {
      const std::uint64_t r = rng.next();
      const auto i = static_cast<std::uint32_t>(((r & 0xffffffffULL) * w_.churn_keys) >> 32);
      make_key(k, KeySet::writer, i);
      const shm::OwnerIdentity o = churn_owner(i);
      bool ok = false;
      if (w_.churn_present[i] == 0) {
        make_value(v, i, r);
        ok = wr.insert(w_.registry, k.view(), v.view(), o).has_value();
        if (ok) w_.churn_present[i] = 1;
      } else if ((r >> 32) & 1u) {
        make_value(v, i, r);
        ok = wr.update_value(w_.registry, k.view(), o.pid, v.view(), std::nullopt).has_value();
      } else {
        const auto removed = wr.remove(w_.registry, k.view(), o.pid);
        ok = removed && *removed == 1;
        if (ok) w_.churn_present[i] = 0;
      }
      ++(ok ? ops_ : failures_);
    }
  }

  ShmWorld& w_;
  std::uint64_t seed_;
  std::thread thread_;
  std::atomic<bool> started_{false}, stop_{false};
  std::uint64_t ops_ = 0, failures_ = 0;
};

// -- The LMDB world ------------------------------------------------------------------------

std::map<std::uint32_t, std::unique_ptr<LmdbStore>> g_lmdb;

LmdbStore& lmdb_world(std::uint32_t n) {
  if (auto it = g_lmdb.find(n); it != g_lmdb.end()) return *it->second;
  const std::string what = "lmdb world keys:" + std::to_string(n);
  if (auto f = g_failed.find(what); f != g_failed.end()) throw std::runtime_error(f->second);
  try {
    const Plan& p = plan(n);
    std::vector<std::pair<Key, Value>> rows(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      make_key(rows[i].first, KeySet::hit, i);
      make_value(rows[i].second, i, p.next[i]);
    }
    auto store = std::make_unique<LmdbStore>(tmp_parent(), std::size_t{n} * (kKeyLen + kValueLen + 32));
    store->load(rows);
    store->begin_read();
    g_info[n].lmdb = store->shape();
    const LmdbStore& cs = *store;
    verify(p, [&cs](std::string_view key, std::string& value) { return cs.get(key, value); }, "lmdb");
    return *(g_lmdb[n] = std::move(store));
  } catch (const std::exception& e) {
    g_failed[what] = what + ": " + e.what();
    throw std::runtime_error(g_failed[what]);
  }
}

// -- Chase buffers -----------------------------------------------------------------------

std::map<std::string, std::unique_ptr<ChaseBuffer>> g_chase;

ChaseBuffer& chase_buffer(std::uint32_t n, ChaseNodes nodes, ChaseBacking backing) {
  const std::string key = std::to_string(n) +
                          (nodes == ChaseNodes::lines      ? "/lines"
                           : nodes == ChaseNodes::pages    ? "/pages"
                           : nodes == ChaseNodes::records2 ? "/records2"
                                                           : "/records3") +
                          (backing == ChaseBacking::small_pages ? "/4k" : "/2m");
  if (auto it = g_chase.find(key); it != g_chase.end()) return *it->second;
  // As large as the registry's working set: the record pool plus one index buffer.
  shm_world(n);
  auto b = std::make_unique<ChaseBuffer>(g_info[n].shm_working_set, nodes, backing, kSeed ^ n);
  return *(g_chase[key] = std::move(b));
}

// -- Benchmark bodies -------------------------------------------------------------------------

enum class Mode { tput, lat, chain };

// Runs one lookup benchmark over `get` (1 found, 0 absent, -1 error).
template <class Get>
void run_lookups(benchmark::State& st, Plan& p, KeySet set, Mode mode, Get&& get) {
  const std::uint32_t* idx = p.idx.data();
  const std::uint32_t mask = p.idx_mask;
  std::uint32_t pos = p.cursor;
  Key k;
  std::string value;
  value.reserve(kValueLen);
  std::uint64_t found = 0, errors = 0;

  if (mode == Mode::tput) {
    for (auto _ : st) {
      make_key(k, set, idx[pos]);
      pos = (pos + 1) & mask;
      const int r = get(k.view(), value);
      found += r > 0;
      errors += r < 0;
    }
  } else if (mode == Mode::lat) {
    LatencySamples samples(static_cast<std::size_t>(st.max_iterations));
    const double overhead = timer_overhead_ticks();
    for (auto _ : st) {
      make_key(k, set, idx[pos]);
      pos = (pos + 1) & mask;
      const std::uint64_t t0 = timer_start();
      benchmark::ClobberMemory();
      const int r = get(k.view(), value);
      benchmark::ClobberMemory();
      const std::uint64_t t1 = timer_stop();
      samples.add(t1 - t0);
      found += r > 0;
      errors += r < 0;
    }
    const double tpns = ticks_per_ns();
    const auto s = samples.summarize(overhead, tpns);
    st.counters["p50_ns"] = s.p50;
    st.counters["p90_ns"] = s.p90;
    st.counters["p99_ns"] = s.p99;
    st.counters["p999_ns"] = s.p999;
    st.counters["mean_ns"] = s.mean;
    st.counters["timer_ns"] = overhead / tpns;
  } else {
    std::uint64_t cur = idx[pos];
    for (auto _ : st) {
      make_key(k, KeySet::hit, cur);
      const int r = get(k.view(), value);
      if (r > 0) [[likely]] {
        cur = value_next(value);  // the next key comes out of this lookup's value
        ++found;
      } else {
        ++errors;
        cur = idx[pos];
        pos = (pos + 1) & mask;
      }
    }
  }
  p.cursor = pos;
  benchmark::DoNotOptimize(found);
  const auto iters = static_cast<std::uint64_t>(st.iterations());
  const std::uint64_t want = set == KeySet::hit ? iters : 0;
  if (errors != 0 || found != want) {
    const std::string msg = "wrong results: " + std::to_string(found) + " found, " + std::to_string(errors) +
                            " errors in " + std::to_string(iters) + " lookups";
    st.SkipWithError(msg.c_str());
  }
}

void bm_shm(benchmark::State& st, std::uint32_t n, KeySet set, Mode mode, bool churn) {
  ShmWorld* w = nullptr;
  try {
    w = &shm_world(n);
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
    return;
  }
  std::optional<ChurnWriter> writer;
  if (churn) writer.emplace(*w);
  const auto t0 = std::chrono::steady_clock::now();
  run_lookups(st, plan(n), set, mode, [w](std::string_view key, std::string& value) { return w->get(key, value); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (writer) {
    writer->stop();
    st.counters["writer_Mops_s"] = double(writer->ops()) / secs / 1e6;
    if (writer->failures() != 0) st.SkipWithError("the churn writer saw failed writes");
  }
}

// Experiment, not a product path: how fast could a batch lookup API be? The
// benchmark thread software-pipelines the lookups the way a lookup_batch()
// inside the reader could: while lookup t runs, the record of lookup t+D and
// the index bucket of lookup t+2D are already being fetched. The prefetch
// addresses come from the reader's public inline helpers (ReaderAccess); the
// lookups themselves still go through lookup_value with full validation, so a
// wrong prefetch could only cost time, never correctness.
void bm_shm_pipelined(benchmark::State& st, std::uint32_t n, KeySet set, std::uint32_t depth) {
  ShmWorld* w = nullptr;
  try {
    w = &shm_world(n);
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
    return;
  }
  using shm::ReaderAccess;
  const shm::RegistryView& v = w->view;
  const std::uint32_t buckets = ReaderAccess::buckets(v);
  constexpr std::uint32_t kRing = 64;  // > 2 * max depth
  Key keys[kRing];
  std::uint64_t hashes[kRing];
  auto bucket_of = [&](std::uint64_t h) {
    const std::uint32_t part = shm::partition_of(h, v.partitions());
    const std::uint32_t active = shm::load_acquire(ReaderAccess::parts(v)[part].active) & 1u;
    return ReaderAccess::index_words(v, part, active) + (h & (buckets - 1)) * shm::kBucketEntries;
  };
  auto fetch_bucket = [&](std::uint32_t slot, std::uint32_t key_index) {
    make_key(keys[slot], set, key_index);
    hashes[slot] = shm::hash_key(keys[slot].bytes, kKeyLen);
    __builtin_prefetch(bucket_of(hashes[slot]));
  };
  auto fetch_record = [&](std::uint32_t slot) {
    const std::uint64_t* words = bucket_of(hashes[slot]);
    const std::uint32_t tag = shm::hash_tag(hashes[slot]);
    for (std::uint32_t j = 0; j < shm::kBucketEntries; ++j) {
      const std::uint64_t e = shm::load_relaxed(words[j]);
      if (e == 0) break;
      const auto low = static_cast<std::uint32_t>(e);
      if (low == 0 || static_cast<std::uint32_t>(e >> 32) != tag || low > v.record_capacity()) continue;
      const auto* rec = reinterpret_cast<const char*>(ReaderAccess::record(v, low - 1));
      __builtin_prefetch(rec);
      __builtin_prefetch(rec + 64);
      __builtin_prefetch(rec + 128);
      break;
    }
  };
  Plan& p = plan(n);
  const std::uint32_t* idx = p.idx.data();
  const std::uint32_t mask = p.idx_mask;
  std::uint32_t pos = p.cursor;  // idx[pos] is the key of lookup t
  for (std::uint32_t i = 0; i < 2 * depth; ++i) fetch_bucket(i % kRing, idx[(pos + i) & mask]);
  for (std::uint32_t i = 0; i < depth; ++i) fetch_record(i % kRing);
  std::string value;
  value.reserve(kValueLen);
  std::uint64_t found = 0, errors = 0, t = 0;
  for (auto _ : st) {
    fetch_bucket(static_cast<std::uint32_t>((t + 2 * depth) % kRing), idx[(pos + 2 * depth) & mask]);
    fetch_record(static_cast<std::uint32_t>((t + depth) % kRing));
    const auto r = w->reader->lookup_value(v, keys[t % kRing].view(), value);
    found += r && *r;
    errors += !r;
    pos = (pos + 1) & mask;
    ++t;
  }
  p.cursor = pos;
  benchmark::DoNotOptimize(found);
  const auto iters = static_cast<std::uint64_t>(st.iterations());
  if (errors != 0 || found != (set == KeySet::hit ? iters : 0)) st.SkipWithError("wrong results");
}

void bm_lmdb(benchmark::State& st, std::uint32_t n, KeySet set, Mode mode) {
  LmdbStore* s = nullptr;
  try {
    s = &lmdb_world(n);
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
    return;
  }
  run_lookups(st, plan(n), set, mode, [s](std::string_view key, std::string& value) { return s->get(key, value); });
}

void bm_chase(benchmark::State& st, std::uint32_t n, ChaseNodes nodes, ChaseBacking backing, bool timed) {
  ChaseBuffer* b = nullptr;
  try {
    b = &chase_buffer(n, nodes, backing);
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
    return;
  }
  void* const* p = b->start();
  static volatile std::uint64_t opaque_zero = 0;
  const std::uint64_t zero = opaque_zero;
  if (nodes == ChaseNodes::records2) {
    for (auto _ : st) {
      p = ChaseBuffer::record2_hop(p, zero);
      benchmark::DoNotOptimize(p);
    }
  } else if (nodes == ChaseNodes::records3) {
    for (auto _ : st) {
      p = ChaseBuffer::record3_hop(p, zero);
      benchmark::DoNotOptimize(p);
    }
  } else if (!timed) {
    for (auto _ : st) {
      p = static_cast<void* const*>(*p);
      benchmark::DoNotOptimize(p);
    }
  } else {
    LatencySamples samples(static_cast<std::size_t>(st.max_iterations));
    const double overhead = timer_overhead_ticks();
    for (auto _ : st) {
      const std::uint64_t t0 = timer_start();
      benchmark::ClobberMemory();
      p = static_cast<void* const*>(*p);
      benchmark::DoNotOptimize(p);
      const std::uint64_t t1 = timer_stop();
      samples.add(t1 - t0);
    }
    const double tpns = ticks_per_ns();
    const auto s = samples.summarize(overhead, tpns);
    st.counters["p50_ns"] = s.p50;
    st.counters["p99_ns"] = s.p99;
    st.counters["mean_ns"] = s.mean;
  }
  st.counters["MiB"] = double(b->bytes()) / double(1 << 20);
  if (backing == ChaseBacking::huge_pages) st.counters["huge_pct"] = 100.0 * b->huge_fraction();
}

void bm_keygen(benchmark::State& st, std::uint32_t n) {
  Plan& p = plan(n);
  const std::uint32_t* idx = p.idx.data();
  const std::uint32_t mask = p.idx_mask;
  std::uint32_t pos = p.cursor;
  Key k;
  for (auto _ : st) {
    make_key(k, KeySet::hit, idx[pos]);
    pos = (pos + 1) & mask;
    benchmark::DoNotOptimize(k);
  }
  p.cursor = pos;
}

// -- Registration and names ---------------------------------------------------------------

std::string keys_tag(std::uint32_t n) { return "keys:" + std::to_string(n); }
const char* set_tag(KeySet s) { return s == KeySet::hit ? "hit" : "miss"; }
const char* mode_tag(Mode m) { return m == Mode::tput ? "tput" : m == Mode::lat ? "lat" : "chain"; }

std::string shm_name(Mode m, std::uint32_t n, KeySet s, bool churn) {
  return std::string("shm/") + mode_tag(m) + "/" + keys_tag(n) + "/" + set_tag(s) +
         (churn ? "/writer:churn" : "/writer:none");
}
std::string pipe_name(std::uint32_t n, KeySet s, std::uint32_t depth) {
  return "shm_experiment/pipelined/" + keys_tag(n) + "/" + set_tag(s) + "/depth:" + std::to_string(depth);
}
std::string lmdb_name(Mode m, std::uint32_t n, KeySet s) {
  return std::string("lmdb/") + mode_tag(m) + "/" + keys_tag(n) + "/" + set_tag(s);
}
std::string chase_name(bool timed, std::uint32_t n, const char* kind) {
  return std::string(timed ? "chase_lat/" : "chase/") + keys_tag(n) + "/" + kind;
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) { fn(st); })->Unit(benchmark::kNanosecond);
}

void register_all() {
  for (const std::uint32_t n : kSizes) {
    add("harness/" + keys_tag(n) + "/keygen", [n](auto& st) { bm_keygen(st, n); });
    add(chase_name(false, n, "lines-4k"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::lines, ChaseBacking::small_pages, false); });
    add(chase_name(true, n, "lines-4k"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::lines, ChaseBacking::small_pages, true); });
    add(chase_name(false, n, "lines-2m"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::lines, ChaseBacking::huge_pages, false); });
    add(chase_name(false, n, "pages-4k"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::pages, ChaseBacking::small_pages, false); });
    add(chase_name(false, n, "records3-4k"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::records3, ChaseBacking::small_pages, false); });
    add(chase_name(false, n, "records2-4k"),
        [n](auto& st) { bm_chase(st, n, ChaseNodes::records2, ChaseBacking::small_pages, false); });
    for (const bool churn : {false, true}) {
      for (const Mode m : {Mode::tput, Mode::lat})
        for (const KeySet s : {KeySet::hit, KeySet::miss})
          add(shm_name(m, n, s, churn), [=](auto& st) { bm_shm(st, n, s, m, churn); });
      add(shm_name(Mode::chain, n, KeySet::hit, churn),
          [=](auto& st) { bm_shm(st, n, KeySet::hit, Mode::chain, churn); });
      if (!churn)
        for (const KeySet s : {KeySet::hit, KeySet::miss})
          for (const std::uint32_t d : {4u, 8u, 16u})
            add(pipe_name(n, s, d), [=](auto& st) { bm_shm_pipelined(st, n, s, d); });
      if (churn) continue;
      for (const Mode m : {Mode::tput, Mode::lat})
        for (const KeySet s : {KeySet::hit, KeySet::miss})
          add(lmdb_name(m, n, s), [=](auto& st) { bm_lmdb(st, n, s, m); });
      add(lmdb_name(Mode::chain, n, KeySet::hit), [=](auto& st) { bm_lmdb(st, n, KeySet::hit, Mode::chain); });
    }
  }
}

// -- Summary --------------------------------------------------------------------------------

// The console reporter, plus a copy of every figure for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  explicit SummaryReporter(OutputOptions o) : ConsoleReporter(o) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      if (r.error_occurred) {
        errors_ = true;
        continue;
      }
      Figure f;
      f.ns = r.GetAdjustedCPUTime();
      f.real_over_cpu = r.GetAdjustedRealTime() / std::max(1e-9, f.ns);
      for (const auto& [cname, c] : r.counters) f.counters[cname] = c.value;
      raw_[r.benchmark_name()].push_back(std::move(f));
    }
  }

  bool errors() const noexcept { return errors_; }

  // Wall time over CPU time of the benchmark thread, per run: 1.0 on a quiet
  // machine; more when other work took the CPU away. {median, max}.
  std::pair<double, double> noise() const {
    std::vector<double> v;
    for (const auto& [name, figs] : raw_)
      for (const Figure& f : figs) v.push_back(f.real_over_cpu);
    if (v.empty()) return {1, 1};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.back()};
  }

  // The median over repetitions of the time per op, or of one counter.
  std::optional<double> get(const std::string& name, const std::string& counter = {}) const {
    const auto it = raw_.find(name);
    if (it == raw_.end()) return std::nullopt;
    std::vector<double> v;
    for (const Figure& f : it->second) {
      if (counter.empty()) {
        v.push_back(f.ns);
      } else if (auto c = f.counters.find(counter); c != f.counters.end()) {
        v.push_back(c->second);
      }
    }
    if (v.empty()) return std::nullopt;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

 private:
  struct Figure {
    double ns = 0, real_over_cpu = 1;
    std::map<std::string, double> counters;
  };
  std::map<std::string, std::vector<Figure>> raw_;
  bool errors_ = false;
};

using Opt = std::optional<double>;

std::string fmt(Opt v, const char* spec = "%.1f") {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, *v);
  return buf;
}
Opt ratio(Opt a, Opt b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}
std::string fx(Opt v) { return v ? fmt(v, "%.2f") + "x" : "-"; }

// The fastest depth of the pipelined experiment: {ns, depth}.
std::pair<Opt, std::uint32_t> best_pipelined(const SummaryReporter& rep, std::uint32_t n, KeySet s) {
  std::pair<Opt, std::uint32_t> best{std::nullopt, 0};
  for (const std::uint32_t d : {4u, 8u, 16u})
    if (const Opt v = rep.get(pipe_name(n, s, d)); v && (!best.first || *v < *best.first)) best = {v, d};
  return best;
}

void print_summary(const SummaryReporter& rep) {
  std::printf("\n## Summary (ns of benchmark-thread CPU time; medians over repetitions)\n\n");
  std::printf("Timer: %.4f ticks/ns, step %llu ticks (%.1f ns), empty bracket %.1f ns (subtracted).\n",
              ticks_per_ns(), static_cast<unsigned long long>(timer_step_ticks()),
              double(timer_step_ticks()) / ticks_per_ns(), timer_overhead_ticks() / ticks_per_ns());
  const auto [noise_med, noise_max] = rep.noise();
  std::printf("Noise: wall/CPU time of the benchmark thread, median %.2f, max %.2f (1.00 = had the CPU throughout).\n",
              noise_med, noise_max);
  for (const std::uint32_t n : kSizes) {
    const std::string K = keys_tag(n);
    bool any = false;
    for (const std::string& name : {shm_name(Mode::tput, n, KeySet::hit, false), lmdb_name(Mode::tput, n, KeySet::hit),
                                    chase_name(false, n, "lines-4k"), "harness/" + K + "/keygen"})
      any = any || rep.get(name).has_value();
    if (!any) continue;
    const Info& info = g_info[n];
    std::printf("\n### %u keys\n\n", n);
    std::printf("shm working set (record pool + one index buffer): %.1f MiB; segment %.1f MiB; churn keys %zu.\n",
                double(info.shm_working_set) / 1048576.0, double(info.segment_bytes) / 1048576.0,
                info.churn_keys);
    if (info.lmdb.page_size != 0)
      std::printf("LMDB: depth %u, %zu branch + %zu leaf pages of %zu B = %.1f MiB.\n", info.lmdb.depth,
                  info.lmdb.branch_pages, info.lmdb.leaf_pages, info.lmdb.page_size,
                  double(info.lmdb.bytes()) / 1048576.0);
    std::printf("\n| lookup | ns/op independent | p50 | p99 | ns/op dependent chain | writer Mops/s |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    for (const bool churn : {false, true})
      for (const KeySet s : {KeySet::hit, KeySet::miss}) {
        const std::string lat = shm_name(Mode::lat, n, s, churn);
        std::printf("| shm %s%s | %s | %s | %s | %s | %s |\n", set_tag(s), churn ? ", churn writer" : "",
                    fmt(rep.get(shm_name(Mode::tput, n, s, churn))).c_str(), fmt(rep.get(lat, "p50_ns")).c_str(),
                    fmt(rep.get(lat, "p99_ns")).c_str(), fmt(rep.get(shm_name(Mode::chain, n, s, churn))).c_str(),
                    churn ? fmt(rep.get(shm_name(Mode::tput, n, s, churn), "writer_Mops_s"), "%.2f").c_str() : "");
      }
    for (const KeySet s : {KeySet::hit, KeySet::miss}) {
      const auto [v, d] = best_pipelined(rep, n, s);
      std::printf("| shm %s, pipelined batch (experiment, depth %u) | %s | | | | |\n", set_tag(s), d, fmt(v).c_str());
    }
    for (const KeySet s : {KeySet::hit, KeySet::miss}) {
      const std::string lat = lmdb_name(Mode::lat, n, s);
      std::printf("| LMDB %s | %s | %s | %s | %s | |\n", set_tag(s), fmt(rep.get(lmdb_name(Mode::tput, n, s))).c_str(),
                  fmt(rep.get(lat, "p50_ns")).c_str(), fmt(rep.get(lat, "p99_ns")).c_str(),
                  fmt(rep.get(lmdb_name(Mode::chain, n, s))).c_str());
    }
    const std::string c4 = chase_name(false, n, "lines-4k"), cl = chase_name(true, n, "lines-4k");
    std::printf("| pointer chase, lines, 4 KiB pages | %s | %s | %s | %s | |\n", fmt(rep.get(c4)).c_str(),
                fmt(rep.get(cl, "p50_ns")).c_str(), fmt(rep.get(cl, "p99_ns")).c_str(), fmt(rep.get(c4)).c_str());
    const std::string c2 = chase_name(false, n, "lines-2m");
    std::printf("| pointer chase, lines, 2 MiB pages (%s%% huge) | %s | | | %s | |\n",
                fmt(rep.get(c2, "huge_pct"), "%.0f").c_str(), fmt(rep.get(c2)).c_str(), fmt(rep.get(c2)).c_str());
    const std::string cp = chase_name(false, n, "pages-4k");
    std::printf("| pointer chase, one line per 4 KiB page | %s | | | %s | |\n", fmt(rep.get(cp)).c_str(),
                fmt(rep.get(cp)).c_str());
    const std::string r3 = chase_name(false, n, "records3-4k"), r2 = chase_name(false, n, "records2-4k");
    std::printf("| pointer chase, 3-line records, 4 KiB pages | %s | | | %s | |\n", fmt(rep.get(r3)).c_str(),
                fmt(rep.get(r3)).c_str());
    std::printf("| pointer chase, 2-line records, 4 KiB pages | %s | | | %s | |\n", fmt(rep.get(r2)).c_str(),
                fmt(rep.get(r2)).c_str());
    std::printf("| key synthesis only (harness) | %s | | | | |\n", fmt(rep.get("harness/" + K + "/keygen")).c_str());

    const Opt shm_t = rep.get(shm_name(Mode::tput, n, KeySet::hit, false));
    const Opt shm_p50 = rep.get(shm_name(Mode::lat, n, KeySet::hit, false), "p50_ns");
    const Opt shm_c = rep.get(shm_name(Mode::chain, n, KeySet::hit, false));
    const Opt shm_mt = rep.get(shm_name(Mode::tput, n, KeySet::miss, false));
    const Opt shm_mp50 = rep.get(shm_name(Mode::lat, n, KeySet::miss, false), "p50_ns");
    const Opt pipe_h = best_pipelined(rep, n, KeySet::hit).first;
    const Opt model = rep.get(c4) && rep.get(r3) ? Opt(*rep.get(c4) + *rep.get(r3)) : std::nullopt;
    std::printf("\nRatios:\n\n");
    std::printf("- LMDB / shm, hit: independent %s, p50 %s, chain %s; vs pipelined batch %s\n",
                fx(ratio(rep.get(lmdb_name(Mode::tput, n, KeySet::hit)), shm_t)).c_str(),
                fx(ratio(rep.get(lmdb_name(Mode::lat, n, KeySet::hit), "p50_ns"), shm_p50)).c_str(),
                fx(ratio(rep.get(lmdb_name(Mode::chain, n, KeySet::hit)), shm_c)).c_str(),
                fx(ratio(rep.get(lmdb_name(Mode::tput, n, KeySet::hit)), pipe_h)).c_str());
    std::printf("- LMDB / shm, miss: independent %s, p50 %s\n",
                fx(ratio(rep.get(lmdb_name(Mode::tput, n, KeySet::miss)), shm_mt)).c_str(),
                fx(ratio(rep.get(lmdb_name(Mode::lat, n, KeySet::miss), "p50_ns"), shm_mp50)).c_str());
    std::printf("- shm / pointer chase (lines, 4 KiB): hit chain %s, hit p50 %s, miss p50 %s\n",
                fx(ratio(shm_c, rep.get(c4))).c_str(), fx(ratio(shm_p50, rep.get(cl, "p50_ns"))).c_str(),
                fx(ratio(shm_mp50, rep.get(cl, "p50_ns"))).c_str());
    std::printf("- hit chain / (line chase + 3-line record chase) = %s / %s = %s\n", fmt(shm_c).c_str(),
                fmt(model).c_str(), fx(ratio(shm_c, model)).c_str());
    std::printf("- churn writer / none: hit independent %s, hit p50 %s, hit chain %s, miss independent %s\n",
                fx(ratio(rep.get(shm_name(Mode::tput, n, KeySet::hit, true)), shm_t)).c_str(),
                fx(ratio(rep.get(shm_name(Mode::lat, n, KeySet::hit, true), "p50_ns"), shm_p50)).c_str(),
                fx(ratio(rep.get(shm_name(Mode::chain, n, KeySet::hit, true)), shm_c)).c_str(),
                fx(ratio(rep.get(shm_name(Mode::tput, n, KeySet::miss, true)), shm_mt)).c_str());
  }

  const std::uint32_t lo = kSizes[0], hi = kSizes[std::size(kSizes) - 1];
  auto growth = [&](const std::string& a, const std::string& b, const std::string& c = {}) {
    return ratio(rep.get(b, c), rep.get(a, c));
  };
  const Opt grow_t = growth(shm_name(Mode::tput, lo, KeySet::hit, false), shm_name(Mode::tput, hi, KeySet::hit, false));
  const Opt grow_p = growth(shm_name(Mode::lat, lo, KeySet::hit, false), shm_name(Mode::lat, hi, KeySet::hit, false),
                         "p50_ns");
  const Opt grow_c =
      growth(shm_name(Mode::chain, lo, KeySet::hit, false), shm_name(Mode::chain, hi, KeySet::hit, false));
  const Opt grow_m = growth(shm_name(Mode::tput, lo, KeySet::miss, false), shm_name(Mode::tput, hi, KeySet::miss, false));
  const Opt grow_pipe = ratio(best_pipelined(rep, hi, KeySet::hit).first, best_pipelined(rep, lo, KeySet::hit).first);
  const Opt grow_chase = growth(chase_name(true, lo, "lines-4k"), chase_name(true, hi, "lines-4k"), "p50_ns");
  const Opt p50_hi = rep.get(shm_name(Mode::lat, hi, KeySet::hit, false), "p50_ns");
  const Opt chase_p50_hi = rep.get(chase_name(true, hi, "lines-4k"), "p50_ns");
  const Opt pipe_hi = best_pipelined(rep, hi, KeySet::hit).first;
  const Opt lmdb_t = rep.get(lmdb_name(Mode::tput, hi, KeySet::hit));
  const Opt lm_t = ratio(lmdb_t, rep.get(shm_name(Mode::tput, hi, KeySet::hit, false)));
  const Opt lm_p = ratio(rep.get(lmdb_name(Mode::lat, hi, KeySet::hit), "p50_ns"), p50_hi);
  const Opt lm_c =
      ratio(rep.get(lmdb_name(Mode::chain, hi, KeySet::hit)), rep.get(shm_name(Mode::chain, hi, KeySet::hit, false)));
  const Opt lm_pipe = ratio(lmdb_t, pipe_hi);
  auto verdict = [](Opt v, bool below, double bar) -> const char* {
    if (!v) return "not measured";
    return (below ? *v < bar : *v >= bar) ? "met" : "NOT met";
  };
  std::printf("\n### Bars (%u vs %u keys, no writer)\n\n", hi, lo);
  std::printf("- p50 hit lookup at %u keys < 100 ns: %s ns -> %s (one random access alone, chase p50: %s ns; "
              "pipelined batch experiment: %s ns/op -> %s)\n",
              hi, fmt(p50_hi).c_str(), verdict(p50_hi, true, 100), fmt(chase_p50_hi).c_str(), fmt(pipe_hi).c_str(),
              verdict(pipe_hi, true, 100));
  std::printf("- LMDB / shm >= 4x at %u keys: independent %s (%s), p50 %s (%s), chain %s (%s); "
              "pipelined batch experiment %s (%s)\n",
              hi, fx(lm_t).c_str(), verdict(lm_t, false, 4), fx(lm_p).c_str(), verdict(lm_p, false, 4),
              fx(lm_c).c_str(), verdict(lm_c, false, 4), fx(lm_pipe).c_str(), verdict(lm_pipe, false, 4));
  std::printf("- growth %u -> %u keys < 1.5x: hit independent %s (%s), hit p50 %s (%s), hit chain %s (%s), "
              "miss independent %s (%s); pipelined batch experiment %s (%s); one random access (chase p50) %s\n",
              lo, hi, fx(grow_t).c_str(), verdict(grow_t, true, 1.5), fx(grow_p).c_str(), verdict(grow_p, true, 1.5),
              fx(grow_c).c_str(), verdict(grow_c, true, 1.5), fx(grow_m).c_str(), verdict(grow_m, true, 1.5), fx(grow_pipe).c_str(),
              verdict(grow_pipe, true, 1.5), fx(grow_chase).c_str());
  for (const auto& [what, why] : g_failed) std::printf("\nSETUP FAILED: %s\n", why.c_str());
}

void destroy_worlds() {
  g_chase.clear();
  g_lmdb.clear();
  g_shm.clear();
  g_plans.clear();
}

}  // namespace
}  // namespace shmreg::bench

int main(int argc, char** argv) {
  using namespace shmreg::bench;
  install_cleanup_handlers();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  SummaryReporter reporter(::isatty(STDOUT_FILENO) != 0 ? benchmark::ConsoleReporter::OO_Color
                                                        : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  std::fflush(stdout);
  const bool ok = !reporter.errors() && g_failed.empty();
  destroy_worlds();
  cleanup_all();
  benchmark::Shutdown();
  return ok ? 0 : 1;
}
