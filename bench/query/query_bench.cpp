// shmreg-bench-query: what the read-side queries of libshmreg cost on large
// registries (figures and discussion in docs/benchmarks-queries.md).
//
// Two registries, built once per run directly with SegmentWriter (no broker,
// no processes: owners are made-up pids) and read through the public client
// API, exactly as an application reads them:
//   "big"    duplicate, 8 partitions, 100,000 entries under the key "all",
//            owned by 1,000 pids; each value is a JSON object of about 45
//            bytes, {"id":i,"zone":"z<i%4>","load":<(37i mod 100)/100>}.
//   "topic"  duplicate, 8 partitions, 10,000 entries under the key "topic",
//            owned by 1,000 pids; values as above.
// The segment's name is unlinked as soon as both sides have mapped it, so an
// interrupted run leaves no segment file behind.
//
// Benchmarks (items_per_second: entries visited per second):
//   lookup_copy         lookup("all"): copy all 100k entries; the floor for match
//   match/wildcard      match("all", "_"): the same, through the matcher
//   match/subset        match("all", {"zone":"z1"}): parses every value, keeps 1 in 4
//   match/guard         match("all", {"load":"$1"}, [[">","$1",0.9]]): keeps 9 in 100
//   count_match/subset  count_match with the subset pattern
//   select/scan         select, value pattern + return template, every record of "big"
//   select/literal_key  the same spec naming "all": one lookup instead of a scan
//   count_select/scan   count_select of the scan spec
//   lookup_views        lookup("topic", fn), zero-copy: the floor for dispatch
//   dispatch/serial     dispatch("topic", fn): one call per partition (8)
//   dispatch/parallel   the same with {.parallel = true}: 7 threads started per call
// The dispatch callback only sums the value lengths, so those figures are the
// cost of delivering the views, not of doing anything with them.
//
// Exit status: 0, or 1 if setup failed or a query returned a wrong answer
// (checked once before timing).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "shmreg/shm/segment.hpp"
#include "shmreg/shm/writer.hpp"
#include "shmreg/shmreg.hpp"

namespace query_bench {
namespace {

namespace shm = shmreg::shm;

constexpr std::uint32_t kBigEntries = 100'000;
constexpr std::uint32_t kTopicEntries = 10'000;
constexpr std::uint32_t kOwners = 1'000;
constexpr std::uint32_t kPidBase = 3'900'001;  // made-up owners; never looked up in /proc
constexpr std::uint32_t kPartitions = 8;

const char* const kSubset = R"({"zone":"z1"})";
const char* const kLoadPattern = R"({"load":"$1"})";
const char* const kLoadGuard = R"([[">","$1",0.9]])";
const char* const kScanSpec =
    R"([{"match": {"pid": "$1", "value": {"zone": "z1", "id": "$2"}}, "return": ["$1", "$2"]}])";
const char* const kLiteralSpec =
    R"([{"match": {"key": "all", "pid": "$1", "value": {"zone": "z1", "id": "$2"}}, "return": ["$1", "$2"]}])";

std::string value_of(std::uint32_t i) {
  return R"({"id":)" + std::to_string(i) + R"(,"zone":"z)" + std::to_string(i % 4) + R"(","load":)" +
         std::to_string((i * 37) % 100 / 100.0).substr(0, 4) + "}";
}

struct World {
  std::optional<shm::SegmentWriter> writer;
  std::optional<shmreg::Client> client;
  std::optional<shmreg::Registry> big;
  std::optional<shmreg::Registry> topic;
};

World* g_world = nullptr;
std::atomic<bool> g_query_failed{false};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void fill(shm::SegmentWriter& w, const char* name, const char* key, std::uint32_t n) {
  auto id = w.create_registry({.name = name,
                               .kind = shm::RegistryKind::duplicate,
                               .partitions = kPartitions,
                               .max_key = 16,
                               .max_value = 64,
                               .capacity = n + 16});
  if (!id) fail(std::string("create registry: ") + std::string(shm::to_string(id.error())));
  for (std::uint32_t i = 0; i < n; ++i) {
    const shm::OwnerIdentity owner{kPidBase + i % kOwners, static_cast<std::uint32_t>(::getuid()),
                                   shm::kIdentityStartTime, 1};
    if (auto r = w.insert(*id, key, value_of(i), owner); !r)
      fail(std::string("insert: ") + std::string(shm::to_string(r.error())));
  }
}

void build(World& world) {
  const std::string ns = "bq-" + std::to_string(::getpid());
  // A client finds <ns>.segment beside its socket; no broker listens there.
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string segment = dir + "/" + ns + ".segment";
  shm::CreateOptions opt;
  opt.size = std::size_t{128} << 20;
  auto w = shm::SegmentWriter::create(segment, opt);
  if (!w) fail(std::string("create segment: ") + std::string(shm::to_string(w.error())));
  world.writer.emplace(std::move(*w));
  shmreg::ClientOptions client_options;
  client_options.ns = ns;
  client_options.socket = dir + "/" + ns + ".sock";
  auto client = shmreg::Client::open(client_options);
  (void)shm::MappedSegment::remove(segment);  // both sides hold the mapping now
  if (!client) fail("open client: " + client.error().message);
  world.client.emplace(std::move(*client));
  fill(*world.writer, "big", "all", kBigEntries);
  fill(*world.writer, "topic", "topic", kTopicEntries);
  auto big = world.client->registry("big");
  auto topic = world.client->registry("topic");
  if (!big || !topic) fail("open registries");
  world.big.emplace(std::move(*big));
  world.topic.emplace(std::move(*topic));
}

// The answers the timed loops rely on, checked once.
void verify(const World& w) {
  auto all = w.big->match("all", R"("_")");
  if (!all || all->size() != kBigEntries) fail("match _ did not return every entry");
  auto subset = w.big->count_match("all", kSubset, "");
  if (!subset || *subset != kBigEntries / 4) fail("count_match subset is wrong");
  auto scan = w.big->count_select(kScanSpec);
  auto literal = w.big->select(kLiteralSpec);
  if (!scan || *scan != kBigEntries / 4 || !literal || literal->size() != kBigEntries / 4)
    fail("select is wrong");
  std::size_t calls = 0, entries = 0;
  bool mixed = false;
  auto d = w.topic->dispatch("topic", [&](std::span<const shmreg::EntryView> v) {
    ++calls;
    entries += v.size();
    for (const auto& e : v) mixed |= e.pid % kPartitions != v.front().pid % kPartitions;
  });
  if (!d || calls != kPartitions || entries != kTopicEntries || mixed) fail("dispatch is wrong");
}

void check(bool ok, benchmark::State& state) {
  if (ok) return;
  g_query_failed = true;
  state.SkipWithError("query failed");
}

// Keeps a query's result from being optimised away; true if it succeeded.
template <class Result>
bool kept(Result&& r) {
  benchmark::DoNotOptimize(r);
  return r.has_value();
}

// Registers one query over the 100k entries of "big".
template <class Query>
void add_big(const char* name, Query query) {
  benchmark::RegisterBenchmark(name, [query](benchmark::State& state) {
    for (auto _ : state) check(query(*g_world->big), state);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kBigEntries);
  })->Unit(benchmark::kMillisecond);
}

void BM_lookup_views(benchmark::State& state) {
  std::size_t sum = 0;
  for (auto _ : state) {
    auto r = g_world->topic->lookup("topic", [&](std::span<const shmreg::EntryView> v) {
      for (const auto& e : v) sum += e.value.size();
    });
    check(r.has_value(), state);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kTopicEntries);
}

void BM_dispatch(benchmark::State& state, bool parallel) {
  std::atomic<std::size_t> sum{0};
  for (auto _ : state) {
    auto r = g_world->topic->dispatch(
        "topic",
        [&](std::span<const shmreg::EntryView> v) {
          std::size_t s = 0;
          for (const auto& e : v) s += e.value.size();
          sum.fetch_add(s, std::memory_order_relaxed);
        },
        shmreg::DispatchOptions{.parallel = parallel});
    check(r.has_value(), state);
  }
  benchmark::DoNotOptimize(sum.load());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kTopicEntries);
}

void register_all() {
  using shmreg::Registry;
  add_big("lookup_copy", [](const Registry& r) {
    auto v = r.lookup("all");
    return kept(v) && v->size() == kBigEntries;
  });
  add_big("match/wildcard", [](const Registry& r) { return kept(r.match("all", R"("_")", "")); });
  add_big("match/subset", [](const Registry& r) { return kept(r.match("all", kSubset, "")); });
  add_big("match/guard", [](const Registry& r) { return kept(r.match("all", kLoadPattern, kLoadGuard)); });
  add_big("count_match/subset", [](const Registry& r) { return kept(r.count_match("all", kSubset, "")); });
  add_big("select/scan", [](const Registry& r) { return kept(r.select(kScanSpec)); });
  add_big("select/literal_key", [](const Registry& r) { return kept(r.select(kLiteralSpec)); });
  add_big("count_select/scan", [](const Registry& r) { return kept(r.count_select(kScanSpec)); });
  benchmark::RegisterBenchmark("lookup_views", BM_lookup_views)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("dispatch/serial", BM_dispatch, false)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("dispatch/parallel", BM_dispatch, true)->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace query_bench

int main(int argc, char** argv) {
  using namespace query_bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  World world;
  try {
    build(world);
    verify(world);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmreg-bench-query: %s\n", e.what());
    return 1;
  }
  g_world = &world;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_query_failed ? 1 : 0;
}
