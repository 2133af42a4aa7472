// shmreg-bench-mirror: what issue 14's mirror costs a reader, and how long
// a remote registration takes to reach this host's segment.
//
// - lookup/{local,remote}: SegmentReader::lookup of a key drawn uniformly at
//   random from 1,000 keys a local owner holds, then from 1,000 keys a
//   remote owner (another host, put_remote) holds, in one registry of one
//   segment, in the same run; the view's value and host are read. The
//   difference is the cost of a remote entry's host (a branch and the host
//   slot's line).
// - put_to_visible: a key put into etcd in the cluster schema (standing in
//   for another host's broker), until a SegmentReader sees it in the
//   segment that a ClusterMirror writes; p50/p99 of the whole, and of the
//   etcd put alone (put_p50_us), so that the mirror's share (watch delivery,
//   the hand-over to the event loop, the segment write) is their difference.
//   Against the tests' three-member etcd on loopback.
#include <benchmark/benchmark.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "clock.hpp"
#include "cluster_mirror.hpp"
#include "etcd_cluster.hpp"
#include "keys.hpp"
#include "percentiles.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace {

using namespace shmreg;

bool g_failed = false;
constexpr std::uint32_t kKeys = 1000;

// A segment in a temporary directory, removed at exit.
struct Segment {
  std::string dir;
  std::optional<shm::SegmentWriter> writer;
  std::optional<shm::SegmentReader> reader;
  std::uint32_t reg = 0;
  Segment(const Segment&) = delete;
  Segment() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/shmreg-bench-mirror-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    dir = tmpl;
    shm::CreateOptions o;
    o.size = std::size_t{16} << 20;
    o.owner_capacity = 4096;
    auto w = shm::SegmentWriter::create(dir + "/bench.segment", o);
    if (!w) return;
    writer.emplace(std::move(*w));
    auto id = writer->create_registry({.name = "services", .capacity = 4 * kKeys});
    if (!id) return;
    reg = *id;
    auto r = shm::SegmentReader::open(dir + "/bench.segment");
    if (r) reader.emplace(std::move(*r));
  }
  ~Segment() {
    reader.reset();
    writer.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
  bool ok() const { return reader.has_value(); }
};

Segment& lookup_segment() {
  static Segment seg;
  static const bool filled = [] {
    if (!seg.writer) return false;
    for (std::uint32_t i = 0; i < kKeys; ++i) {
      const std::string v = bench::value_string(i);
      const shm::OwnerIdentity local{100 + i % 50, 1000, shm::kIdentityStartTime, 1};
      if (!seg.writer->insert(seg.reg, bench::key_string("local-", i), v, local)) return false;
      if (!seg.writer->put_remote(seg.reg, bench::key_string("remote", i), v, {"node-b", 100 + i % 50, 1000}))
        return false;
    }
    return true;
  }();
  if (!filled) seg.reader.reset();
  return seg;
}

void run_lookups(benchmark::State& state, const char* prefix) {
  Segment& seg = lookup_segment();
  if (!seg.ok()) {
    g_failed = true;
    state.SkipWithError("could not build the segment");
    return;
  }
  auto view = seg.reader->registry("services");
  std::vector<std::string> keys;
  for (std::uint32_t i = 0; i < kKeys; ++i) keys.push_back(bench::key_string(prefix, i));
  const auto order = bench::random_indexes(kKeys, 1 << 16, 42);
  std::size_t i = 0, hits = 0;
  for (auto _ : state) {
    const std::string& k = keys[order[i++ & 0xffff]];
    auto n = seg.reader->lookup(*view, k, [&](std::span<const shm::EntryView> views) {
      if (views.empty()) return;
      benchmark::DoNotOptimize(views[0].value.size());
      benchmark::DoNotOptimize(views[0].host.size());
    });
    hits += n && *n == 1;
  }
  if (hits != i) {
    g_failed = true;
    state.SkipWithError("a lookup missed");
  }
}

void BM_LookupLocal(benchmark::State& state) { run_lookups(state, "local-"); }
void BM_LookupRemote(benchmark::State& state) { run_lookups(state, "remote"); }

// -- put to visible ----------------------------------------------------------------------

void BM_PutToVisible(benchmark::State& state) {
  auto* etcd = test::EtcdCluster::process_cluster("shmreg-bench-mirror");
  if (etcd == nullptr) {
    state.SkipWithError("no etcd cluster (is etcd-server installed?)");
    return;
  }
  Segment seg;
  if (!seg.ok()) {
    g_failed = true;
    state.SkipWithError("could not build the segment");
    return;
  }
  cluster::ClientOptions options;
  options.endpoints = etcd->client_urls();
  auto client = cluster::EtcdClient::make(options);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  broker::BrokerLog log("bench");
  static int run = 0;
  const std::string prefix = "/shmreg-bench-mirror/" + std::to_string(++run);
  {
    broker::ClusterMirror mirror(io, *seg.writer, log,
                                 {.client = options, .prefix = prefix, .host = "node-a",
                                  .registries = {{"services", shm::RegistryKind::unique}}});
    if (!client || !mirror.start()) {
      g_failed = true;
      state.SkipWithError("cannot start the mirror");
    } else {
      auto view = seg.reader->registry("services");
      std::vector<std::int64_t> total, put_only;
      std::int64_t i = 0;
      const std::string value = R"({"host":"node-b","pid":7,"uid":0,"value":"dmFsdWU="})";
      // Untimed: the mirror's first read and watch are in place once a
      // first key is visible.
      const std::string first = bench::key_string("warm-up", 0);
      std::string got;
      (void)client->put(prefix + "/names/services/" + broker::to_key_hex(first), value, 0,
                        cluster::deadline_in(std::chrono::seconds(10)));
      for (const std::int64_t t = bench::now_ns(); bench::now_ns() - t < 10'000'000'000;) {
        if (auto hit = seg.reader->lookup_value(*view, first, got); hit && *hit) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      for (auto _ : state) {
        const std::string key = bench::key_string("k", static_cast<std::uint64_t>(i++));
        const std::string etcd_key = prefix + "/names/services/" + broker::to_key_hex(key);
        const std::int64_t t0 = bench::now_ns();
        if (!client->put(etcd_key, value, 0, cluster::deadline_in(std::chrono::seconds(10)))) {
          g_failed = true;
          state.SkipWithError("put failed");
          break;
        }
        const std::int64_t t1 = bench::now_ns();
        bool seen = false;
        while (!seen && bench::now_ns() - t0 < 10'000'000'000) {
          auto hit = seg.reader->lookup_value(*view, key, got);
          seen = hit && *hit;
          if (!seen) std::this_thread::yield();
        }
        if (!seen) {
          g_failed = true;
          state.SkipWithError("not visible within 10 s");
          break;
        }
        const std::int64_t t2 = bench::now_ns();
        total.push_back(t2 - t0);
        put_only.push_back(t1 - t0);
      }
      if (!total.empty()) {
        const bench::Stats s = bench::stats_of(total), p = bench::stats_of(put_only);
        state.counters["p50_us"] = s.p50 / 1000.0;
        state.counters["p99_us"] = s.p99 / 1000.0;
        state.counters["put_p50_us"] = p.p50 / 1000.0;
        state.counters["put_p99_us"] = p.p99 / 1000.0;
      }
    }
  }
  work.reset();
  io.stop();
  loop.join();
}

BENCHMARK(BM_LookupLocal);
BENCHMARK(BM_LookupRemote);
BENCHMARK(BM_PutToVisible)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
