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
#include <string>
#include <vector>

#include "clock.hpp"
#include "percentiles.hpp"
#include "shmreg/shm/events.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace {

using namespace shmreg;

using bench::now_ns;

void report(benchmark::State& state, const std::vector<std::int64_t>& samples) {
  if (samples.empty()) return;
  const bench::Stats s = bench::stats_of(samples);
  state.counters["p50_us"] = s.p50 / 1000.0;
  state.counters["p99_us"] = s.p99 / 1000.0;
}

// The child: for each round, wait until woken, then send its wake time.
// `wait_once` returns once it has seen round r's change.
template <class Wait>
pid_t spawn_waiter(int ready_fd, int out_fd, int rounds, Wait wait_once) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (int r = 0; r < rounds; ++r) {
    (void)!::write(ready_fd, "r", 1);
    wait_once(r);
    const std::int64_t t = now_ns();
    (void)!::write(out_fd, &t, sizeof t);
  }
  ::_exit(0);
}

void BM_RawFutexWakeAcrossProcesses(benchmark::State& state) {
  auto* word = static_cast<std::uint32_t*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  *word = 0;
  const int rounds = static_cast<int>(state.range(0));
  int ready[2], out[2];
  if (::pipe(ready) != 0 || ::pipe(out) != 0) return state.SkipWithError("pipe");
  const pid_t child = spawn_waiter(ready[1], out[1], rounds, [&](int r) {
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == static_cast<std::uint32_t>(r))
      ::syscall(SYS_futex, word, FUTEX_WAIT, r, nullptr, nullptr, 0);
  });
  std::vector<std::int64_t> samples;
  for (auto _ : state) {
    for (int r = 0; r < rounds; ++r) {
      char c;
      if (::read(ready[0], &c, 1) != 1) break;
      ::usleep(200);  // let the child reach its futex wait
      const std::int64_t t0 = now_ns();
      __atomic_store_n(word, static_cast<std::uint32_t>(r + 1), __ATOMIC_RELEASE);
      ::syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      std::int64_t t1 = 0;
      if (::read(out[0], &t1, sizeof t1) != sizeof t1) break;
      samples.push_back(t1 - t0);
    }
  }
  ::waitpid(child, nullptr, 0);
  report(state, samples);
  ::munmap(word, 4096);
}

void BM_WatcherWakeAfterRegister(benchmark::State& state) {
  const std::string ns = "bench-ev-" + std::to_string(::getpid());
  auto w = shm::SegmentWriter::create(ns, shm::CreateOptions{});
  if (!w) return state.SkipWithError("cannot create the segment");
  shm::RegistrySpec spec;
  spec.name = "r";
  spec.capacity = 4096;
  auto id = w->create_registry(spec);
  if (!id) return state.SkipWithError("cannot create the registry");
  const int rounds = static_cast<int>(state.range(0));
  int ready[2], out[2];
  if (::pipe(ready) != 0 || ::pipe(out) != 0) return state.SkipWithError("pipe");
  const pid_t child = ::fork();
  if (child == 0) {
    // A reader with its own read-only mapping, like any watcher.
    auto r = shm::SegmentReader::open(ns);
    if (!r) ::_exit(2);
    auto reg = r->registry("r");
    if (!reg) ::_exit(3);
    for (int i = 0; i < rounds; ++i) {
      std::string key = "k";
      key += std::to_string(i);
      (void)!::write(ready[1], "r", 1);
      auto got = shm::await_key(*r, *reg, key, std::chrono::seconds(30));
      const std::int64_t t = now_ns();
      if (!got || !*got) ::_exit(4);
      (void)!::write(out[1], &t, sizeof t);
    }
    ::_exit(0);
  }
  const shm::OwnerIdentity owner{1, 0, shm::kIdentityStartTime, 1};
  std::vector<std::int64_t> samples;
  for (auto _ : state) {
    for (int i = 0; i < rounds; ++i) {
      char c;
      if (::read(ready[0], &c, 1) != 1) break;
      ::usleep(200);  // let the child reach its futex wait
      const std::int64_t t0 = now_ns();
      std::string key = "k";
      key += std::to_string(i);
      (void)w->insert(*id, key, "v", owner);
      std::int64_t t1 = 0;
      if (::read(out[0], &t1, sizeof t1) != sizeof t1) break;
      samples.push_back(t1 - t0);
    }
  }
  ::waitpid(child, nullptr, 0);
  report(state, samples);
  (void)shm::MappedSegment::remove(shm::segment_object_name(ns));
}

BENCHMARK(BM_RawFutexWakeAcrossProcesses)->Arg(500)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WatcherWakeAfterRegister)->Arg(500)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
