// shmreg-bench-shm: what a lookup in the shared segment costs, measured three
// ways, next to LMDB and next to the memory-latency limit, all in one run.
//
// For each key count (1k, 100k, 1M; 32-byte keys, 64-byte values, unique
// registry) the run builds, on first use:
//   - a segment with one registry holding the keys, written by SegmentWriter
//     and read through a separate read-only SegmentReader mapping;
//   - an LMDB environment on tmpfs holding the same keys and values;
//   - pointer-chase buffers as large as the registry's working set
// (worlds.hpp) and measures
//   tput   independent lookups back to back: ns/op is throughput, and the CPU
//          may overlap the cache misses of consecutive lookups;
//   lat    each lookup bracketed by fenced cycle-counter reads: p50/p99 of the
//          latency of one lookup, timer cost subtracted (user counters);
//   chain  each lookup's key index is read from the previous lookup's value,
//          so lookups cannot overlap: ns/op is the mean latency;
//   chase  a dependent pointer chase over a buffer of the working-set size
//          (lines, one line per page, 2- and 3-line records; 4 KiB or 2 MiB
//          pages): the latency of one random access, the yardstick for the above;
//   batch  SegmentReader::lookup_batch over 256 keys at a time: ns_per_key
//          (the product's pipelined batch, every answer checked).
// Keys are drawn uniformly at random from the whole key set, through an index
// array built before timing starts. "writer:churn" runs a thread that keeps
// inserting, updating and removing other keys of the same registry through
// SegmentWriter while the benchmark thread reads. Figures are CPU time of the
// benchmark thread. The worlds' sizes are counters of the tput/hit cases.
// scripts/bench-check.py shm reads the JSON output and prints the Markdown
// summary, ratios and bars that docs/benchmarks.md discusses.
//
// Full run:  --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//            --benchmark_min_time=0.2 --benchmark_out=lookup.json --benchmark_out_format=json
//            then scripts/bench-check.py shm lookup.json
// CI smoke:  --benchmark_min_time=0.01 --benchmark_filter=keys:1000/
// Exit status: 0, or 1 if a lookup returned a wrong answer or setup failed.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "clock.hpp"
#include "cleanup.hpp"
#include "counters.hpp"
#include "worlds.hpp"

namespace shmreg::bench {
namespace {

constexpr std::uint32_t kSizes[] = {1000, 100000, 1000000};
bool g_case_failed = false;

// -- Benchmark bodies -------------------------------------------------------------------------

enum class Mode { tput, lat, chain };

// The world `build` returns, or nullptr once the case is skipped with the
// reason it could not be built.
template <class Build>
auto* world_or_skip(benchmark::State& st, Build build) {
  try {
    return &build();
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
    return static_cast<decltype(&build())>(nullptr);
  }
}

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
    report_ticks(st, samples, overhead);
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
  ShmWorld* w = world_or_skip(st, [&]() -> ShmWorld& { return shm_world(n); });
  if (w == nullptr) return;
  std::optional<ChurnWriter> writer;
  if (churn) writer.emplace(*w);
  const auto t0 = std::chrono::steady_clock::now();
  run_lookups(st, plan(n), set, mode, [w](std::string_view key, std::string& value) { return w->get(key, value); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (mode == Mode::tput && set == KeySet::hit && !churn) {
    const WorldInfo& info = world_info(n);
    st.counters["working_set_MiB"] = double(info.shm_working_set) / 1048576.0;
    st.counters["segment_MiB"] = double(info.segment_bytes) / 1048576.0;
    st.counters["churn_keys"] = double(info.churn_keys);
    // What the registry costs the segment per entry, beyond its key and value.
    st.counters["registry_B_per_entry"] = double(info.registry_bytes) / n;
    st.counters["overhead_B_per_entry"] = double(info.registry_bytes) / n - double(kKeyLen + kValueLen);
  }
  if (writer) {
    writer->stop();
    st.counters["writer_Mops_s"] = double(writer->ops()) / secs / 1e6;
    if (writer->failures() != 0) st.SkipWithError("the churn writer saw failed writes");
  }
}

// SegmentReader::lookup_batch, the product's batch: each iteration looks up
// kBatchKeys keys drawn as the single lookups draw theirs and checks every
// answer; ns_per_key is CPU time per key.
constexpr std::uint32_t kBatchKeys = 256;

void bm_shm_batch(benchmark::State& st, std::uint32_t n, KeySet set, bool churn) {
  ShmWorld* w = world_or_skip(st, [&]() -> ShmWorld& { return shm_world(n); });
  if (w == nullptr) return;
  std::optional<ChurnWriter> writer;
  if (churn) writer.emplace(*w);
  Plan& p = plan(n);
  const std::uint32_t* idx = p.idx.data();
  const std::uint32_t mask = p.idx_mask;
  std::uint32_t pos = p.cursor;
  std::vector<Key> keys(kBatchKeys);
  std::vector<std::string_view> views(kBatchKeys);
  std::uint64_t found = 0, errors = 0, seen = 0;
  for (auto _ : st) {
    for (std::uint32_t i = 0; i < kBatchKeys; ++i) {
      make_key(keys[i], set, idx[pos]);
      views[i] = keys[i].view();
      pos = (pos + 1) & mask;
    }
    const auto r = w->reader->lookup_batch(w->view, views, [&](std::size_t, std::span<const shm::EntryView> v) {
      seen += v.empty() ? 0 : v[0].value.size();
    });
    if (r) found += *r;
    errors += !r;
  }
  p.cursor = pos;
  benchmark::DoNotOptimize(seen);
  if (writer) {
    writer->stop();
    if (writer->failures() != 0) st.SkipWithError("the churn writer saw failed writes");
  }
  st.counters["ns_per_key"] = benchmark::Counter(double(st.iterations()) * kBatchKeys * 1e-9,
                                                 benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  const auto keys_total = static_cast<std::uint64_t>(st.iterations()) * kBatchKeys;
  if (errors != 0 || found != (set == KeySet::hit ? keys_total : 0)) st.SkipWithError("wrong results");
}

void bm_lmdb(benchmark::State& st, std::uint32_t n, KeySet set, Mode mode) {
  LmdbStore* s = world_or_skip(st, [&]() -> LmdbStore& { return lmdb_world(n); });
  if (s == nullptr) return;
  run_lookups(st, plan(n), set, mode, [s](std::string_view key, std::string& value) { return s->get(key, value); });
  if (mode == Mode::tput && set == KeySet::hit) {
    const LmdbStore::Shape& shape = world_info(n).lmdb;
    st.counters["lmdb_depth"] = shape.depth;
    st.counters["lmdb_branch_pages"] = double(shape.branch_pages);
    st.counters["lmdb_leaf_pages"] = double(shape.leaf_pages);
    st.counters["lmdb_page_size"] = double(shape.page_size);
  }
}

void bm_chase(benchmark::State& st, std::uint32_t n, ChaseNodes nodes, ChaseBacking backing, bool timed) {
  ChaseBuffer* b = world_or_skip(st, [&]() -> ChaseBuffer& { return chase_buffer(n, nodes, backing); });
  if (b == nullptr) return;
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
    report_ticks(st, samples, overhead);
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
std::string batch_name(std::uint32_t n, KeySet s, bool churn) {
  return "shm/batch/" + keys_tag(n) + "/" + set_tag(s) + (churn ? "/writer:churn" : "/writer:none");
}
std::string lmdb_name(Mode m, std::uint32_t n, KeySet s) {
  return std::string("lmdb/") + mode_tag(m) + "/" + keys_tag(n) + "/" + set_tag(s);
}
std::string chase_name(bool timed, std::uint32_t n, const char* kind) {
  return std::string(timed ? "chase_lat/" : "chase/") + keys_tag(n) + "/" + kind;
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) {
    fn(st);
    if (st.error_occurred()) g_case_failed = true;
  })->Unit(benchmark::kNanosecond);
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
      for (const KeySet s : {KeySet::hit, KeySet::miss})
        add(batch_name(n, s, churn), [=](auto& st) { bm_shm_batch(st, n, s, churn); });
      if (churn) continue;
      for (const Mode m : {Mode::tput, Mode::lat})
        for (const KeySet s : {KeySet::hit, KeySet::miss})
          add(lmdb_name(m, n, s), [=](auto& st) { bm_lmdb(st, n, s, m); });
      add(lmdb_name(Mode::chain, n, KeySet::hit), [=](auto& st) { bm_lmdb(st, n, KeySet::hit, Mode::chain); });
    }
  }
}

}  // namespace
}  // namespace shmreg::bench

int main(int argc, char** argv) {
  using namespace shmreg::bench;
  install_cleanup_handlers();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The cycle counter's calibration, for the summary of bench-check.py.
  benchmark::AddCustomContext("timer_ticks_per_ns", std::to_string(ticks_per_ns()));
  benchmark::AddCustomContext("timer_step_ticks", std::to_string(timer_step_ticks()));
  benchmark::AddCustomContext("timer_overhead_ticks", std::to_string(timer_overhead_ticks()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  std::fflush(stdout);
  const bool ok = !g_case_failed && !setup_failed();
  destroy_worlds();
  cleanup_all();
  benchmark::Shutdown();
  return ok ? 0 : 1;
}
