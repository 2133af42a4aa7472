// shmreg-bench-cluster: round trips of the etcd client (cluster/) against a
// real three-member etcd cluster on loopback (the tests' EtcdCluster), one
// call at a time: the register primitive (create_if_absent, a transaction
// that raft commits), a linearizable read, a serializable read, and a
// lease keep-alive. The floor for issue 14's cluster register, which will
// add the broker's work to the first. p50 and p99 are user counters.
//
// The cluster's members write their data under the system's temporary
// directory, so the commit includes etcd's fsyncs on that disk.
#include <benchmark/benchmark.h>

#include <memory>
#include <optional>

#include "etcd_cluster.hpp"
#include "percentiles.hpp"
#include "clock.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace {

using namespace shmreg;

// A call failed: the run exits 1 (a missing etcd is a skip, not a failure).
bool g_call_failed = false;

// The cluster is started by the first benchmark and stopped at exit.
std::optional<cluster::EtcdClient> make_client(benchmark::State& state) {
  auto* etcd = test::EtcdCluster::process_cluster("shmreg-bench-cluster");
  if (etcd == nullptr) {
    state.SkipWithError("no etcd cluster (is etcd-server installed?)");
    return std::nullopt;
  }
  cluster::ClientOptions options;
  options.endpoints = etcd->client_urls();
  auto client = cluster::EtcdClient::make(options);
  if (!client) {
    g_call_failed = true;
    state.SkipWithError(client.error().message.c_str());
    return std::nullopt;
  }
  return std::move(*client);
}

// Times op once per iteration; op returns false on a failed call.
template <class Op>
void run_timed(benchmark::State& state, Op op) {
  std::vector<std::int64_t> samples;
  std::int64_t i = 0;
  for (auto _ : state) {
    const std::int64_t t0 = bench::now_ns();
    const bool ok = op(i++);
    samples.push_back(bench::now_ns() - t0);
    if (!ok) {
      g_call_failed = true;
      state.SkipWithError("an etcd call failed");
      return;
    }
  }
  const bench::Stats s = bench::stats_of(samples);
  state.counters["p50_us"] = s.p50 / 1000.0;
  state.counters["p99_us"] = s.p99 / 1000.0;
}

constexpr auto kCallTimeout = std::chrono::seconds(10);

void BM_CreateIfAbsentTxn(benchmark::State& state) {
  auto client = make_client(state);
  if (!client) return;
  const std::string prefix = "/bench/create/" + std::to_string(bench::now_ns()) + "/";
  run_timed(state, [&](std::int64_t i) {
    auto r = client->create_if_absent(prefix + std::to_string(i), "node-a:1234", 0, cluster::deadline_in(kCallTimeout));
    return r && r->created;
  });
}

void BM_LinearizableGet(benchmark::State& state) {
  auto client = make_client(state);
  if (!client) return;
  if (!client->put("/bench/get", "node-a:1234", 0, cluster::deadline_in(kCallTimeout))) {
    g_call_failed = true;
    state.SkipWithError("the put before the reads failed");
    return;
  }
  run_timed(state, [&](std::int64_t) {
    auto r = client->get("/bench/get", cluster::ReadMode::linearizable, cluster::deadline_in(kCallTimeout));
    return r && r->kvs.size() == 1;
  });
}

void BM_SerializableGet(benchmark::State& state) {
  auto client = make_client(state);
  if (!client) return;
  if (!client->put("/bench/get", "node-a:1234", 0, cluster::deadline_in(kCallTimeout))) {
    g_call_failed = true;
    state.SkipWithError("the put before the reads failed");
    return;
  }
  run_timed(state, [&](std::int64_t) {
    auto r = client->get("/bench/get", cluster::ReadMode::serializable, cluster::deadline_in(kCallTimeout));
    return r && r->kvs.size() == 1;
  });
}

void BM_LeaseKeepAlive(benchmark::State& state) {
  auto client = make_client(state);
  if (!client) return;
  auto lease = client->lease_grant(60, cluster::deadline_in(kCallTimeout));
  if (!lease) {
    g_call_failed = true;
    state.SkipWithError(lease.error().message.c_str());
    return;
  }
  run_timed(state, [&](std::int64_t) { return client->lease_keep_alive(lease->id, cluster::deadline_in(kCallTimeout)).has_value(); });
}

BENCHMARK(BM_CreateIfAbsentTxn)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LinearizableGet)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SerializableGet)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LeaseKeepAlive)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_call_failed ? 1 : 0;
}
