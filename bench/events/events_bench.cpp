// shmreg-bench-events: how fast a watcher in another process wakes after a
// registration, against a raw shared futex wake between two processes,
// measured in the same run.
//
// Both cases: a child process sleeps (FUTEX_WAIT) and reads CLOCK_MONOTONIC
// when it wakes; the parent reads the clock right before the write (shmreg:
// SegmentWriter::insert, which publishes, bumps the registry's futex word and
// wakes; raw: store + FUTEX_WAKE) and the difference is one sample. The child
// reports through a pipe; p50 and p99 are user counters.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "percentiles.hpp"
#include "shmreg/shm/events.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"
#include "shmreg/sys/io.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace {

using namespace shmreg;

using bench::now_ns;

void report(benchmark::State& state, const std::vector<std::int64_t>& samples) {
  if (samples.empty()) return;
  const bench::Stats s = bench::stats_of(samples);
  state.counters["p50_us"] = s.p50 / 1000.0;
  state.counters["p99_us"] = s.p99 / 1000.0;
}

// A waiter process and the rounds that wake it. The child runs prepare(),
// then for each round r says it is ready, waits (wait_once(r) returns once
// it has seen round r's change; false on failure) and sends its wake time.
// The parent reads the clock, then wake(r) makes the change. One sample per
// round.
template <class Prepare, class Wait, class Wake>
void run_rounds(benchmark::State& state, Prepare prepare, Wait wait_once, Wake wake) {
  const int rounds = static_cast<int>(state.range(0));
  sys::Pipe ready = sys::Pipe::make(), out = sys::Pipe::make();
  if (!ready.read || !out.read) return state.SkipWithError("pipe");
  const pid_t child = ::fork();
  if (child == 0) {
    if (!prepare()) ::_exit(2);
    for (int r = 0; r < rounds; ++r) {
      (void)sys::write_all(ready.write.get(), "r", 1);
      if (!wait_once(r)) ::_exit(4);
      const std::int64_t t = now_ns();
      (void)sys::write_all(out.write.get(), &t, sizeof t);
    }
    ::_exit(0);
  }
  ready.write.reset();
  out.write.reset();
  std::vector<std::int64_t> samples;
  for (auto _ : state) {
    for (int r = 0; r < rounds; ++r) {
      char c;
      if (!sys::read_full(ready.read.get(), &c, 1)) break;
      ::usleep(200);  // let the child reach its futex wait
      const std::int64_t t0 = now_ns();
      wake(r);
      std::int64_t t1 = 0;
      if (!sys::read_full(out.read.get(), &t1, sizeof t1)) break;
      samples.push_back(t1 - t0);
    }
  }
  ::waitpid(child, nullptr, 0);
  report(state, samples);
}

void BM_RawFutexWakeAcrossProcesses(benchmark::State& state) {
  auto* word = static_cast<std::uint32_t*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  *word = 0;
  run_rounds(
      state, [] { return true; },
      [&](int r) {
        while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == static_cast<std::uint32_t>(r))
          ::syscall(SYS_futex, word, FUTEX_WAIT, r, nullptr, nullptr, 0);
        return true;
      },
      [&](int r) {
        __atomic_store_n(word, static_cast<std::uint32_t>(r + 1), __ATOMIC_RELEASE);
        ::syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      });
  ::munmap(word, 4096);
}

void BM_WatcherWakeAfterRegister(benchmark::State& state) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("bench-ev-" + std::to_string(::getpid()) + ".segment")).string();
  auto w = shm::SegmentWriter::create(path, shm::CreateOptions{});
  if (!w) return state.SkipWithError("cannot create the segment");
  shm::RegistrySpec spec;
  spec.name = "r";
  spec.capacity = 4096;
  auto id = w->create_registry(spec);
  if (!id) return state.SkipWithError("cannot create the registry");
  // The child's reader, with its own read-only mapping like any watcher.
  std::optional<shm::SegmentReader> reader;
  std::optional<shm::RegistryView> reg;
  auto key = [](int r) { return "k" + std::to_string(r); };
  const shm::OwnerIdentity owner{1, 0, shm::kIdentityStartTime, 1};
  run_rounds(
      state,
      [&] {
        auto r = shm::SegmentReader::open(path);
        if (!r) return false;
        reader.emplace(std::move(*r));
        auto v = reader->registry("r");
        if (v) reg.emplace(*v);
        return v.has_value();
      },
      [&](int r) {
        auto got = shm::await_key(*reader, *reg, key(r), std::chrono::seconds(30));
        return got && *got;
      },
      [&](int r) { (void)w->insert(*id, key(r), "v", owner); });
  (void)shm::MappedSegment::remove(path);
}

BENCHMARK(BM_RawFutexWakeAcrossProcesses)->Arg(500)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WatcherWakeAfterRegister)->Arg(500)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
