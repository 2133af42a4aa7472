// The worlds the lookup benchmark reads, built on first use per key count:
//   - a Plan: the key order of the dependent chain and the uniform random
//     draws of the independent lookups, both made before timing;
//   - a segment with one unique registry holding the keys, written by
//     SegmentWriter and read through a separate read-only SegmentReader;
//   - an LMDB environment on tmpfs holding the same keys and values;
//   - pointer-chase buffers as large as the registry's working set.
// Every world is verified once (hits found intact, misses absent) before any
// benchmark reads it. A world that failed to build is not retried; its error
// is thrown again to every benchmark that asks for it.
//
// Thread-safety: the builders run on the benchmark thread. A ChurnWriter
// writes the segment from its own thread while the benchmark thread reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chase.hpp"
#include "keys.hpp"
#include "lmdb_store.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::bench {

namespace shm = shmreg::shm;

struct Plan {
  std::uint32_t n = 0;
  std::vector<std::uint32_t> next;  // next[i]: the key after i along one random cycle
  std::vector<std::uint32_t> idx;   // uniform random key indices, read in order
  std::uint32_t idx_mask = 0;
  std::uint32_t cursor = 0;         // where the next benchmark starts reading idx
};

// Facts about the built worlds, reported as counters.
struct WorldInfo {
  std::size_t segment_bytes = 0, shm_working_set = 0, churn_keys = 0;
  std::size_t registry_bytes = 0;  // the registry's arena footprint (RegistryView::bytes)
  LmdbStore::Shape lmdb;
};

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

  // 1 found, 0 absent, -1 error.
  int get(std::string_view key, std::string& value) const {
    const auto r = reader->lookup_value(view, key, value);
    return r ? static_cast<int>(*r) : -1;
  }
};

// Each throws std::runtime_error when its world cannot be built.
Plan& plan(std::uint32_t n);
ShmWorld& shm_world(std::uint32_t n);
LmdbStore& lmdb_world(std::uint32_t n);
ChaseBuffer& chase_buffer(std::uint32_t n, ChaseNodes nodes, ChaseBacking backing);
const WorldInfo& world_info(std::uint32_t n);
// True once any world failed to build.
bool setup_failed();
// Unmaps and removes every world.
void destroy_worlds();

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
  void run();

  ShmWorld& w_;
  std::uint64_t seed_;
  std::thread thread_;
  std::atomic<bool> started_{false}, stop_{false};
  std::uint64_t ops_ = 0, failures_ = 0;
};

}  // namespace shmreg::bench