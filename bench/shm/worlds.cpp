// Building, verifying and caching the lookup benchmark's worlds (see worlds.hpp).
#include "worlds.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "cleanup.hpp"

namespace shmreg::bench {
namespace {

constexpr std::uint32_t kReaderPidBase = 4'190'001;  // fake owners of the looked-up keys
constexpr std::uint32_t kChurnPidBase = 4'190'101;   // fake owners of the churn keys
constexpr std::uint64_t kSeed = 0x5eed0001;

std::map<std::uint32_t, std::unique_ptr<Plan>> g_plans;
std::map<std::uint32_t, WorldInfo> g_info;
std::map<std::string, std::string> g_failed;  // what -> why, so a failed build is not retried

std::string tmp_parent() {
  if (const char* env = std::getenv("SHMREG_BENCH_TMPDIR"); env != nullptr && *env != '\0') return env;
  if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";  // tmpfs, like a runtime directory
  return std::filesystem::temp_directory_path().string();
}

shm::OwnerIdentity reader_owner(std::uint32_t i) {
  return {kReaderPidBase + (i & 3u), static_cast<std::uint32_t>(::getuid()), shm::kIdentityStartTime, 1};
}
shm::OwnerIdentity churn_owner(std::uint32_t i) {
  return {kChurnPidBase + (i & 1u), static_cast<std::uint32_t>(::getuid()), shm::kIdentityStartTime, 1};
}

std::map<std::uint32_t, std::unique_ptr<ShmWorld>> g_shm;
std::map<std::uint32_t, std::unique_ptr<LmdbStore>> g_lmdb;
std::map<std::string, std::unique_ptr<ChaseBuffer>> g_chase;

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

std::unique_ptr<ShmWorld> build_shm_world(std::uint32_t n) {
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
  w->object = tmp_parent() + "/" + ns + ".segment";
  auto sw = shm::SegmentWriter::create(w->object, opt);
  if (!sw) setup_error("create segment", sw.error());
  cleanup_register(CleanupKind::file, w->object);
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

  auto sr = shm::SegmentReader::open(w->object);
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
  WorldInfo& info = g_info[n];
  info.segment_bytes = w->reader->size();
  info.shm_working_set = std::size_t{d->record_capacity} * d->record_size +
                         std::size_t{d->index_buckets} * sizeof(shm::IndexBucket);
  info.churn_keys = w->churn_keys;
  info.registry_bytes = w->view.bytes();
  const ShmWorld& cw = *w;
  verify(p, [&cw](std::string_view key, std::string& value) { return cw.get(key, value); }, "shm");
  return w;
}

std::unique_ptr<LmdbStore> build_lmdb_world(std::uint32_t n) {
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
  return store;
}

// The world cached under n, built by build() the first time. A failed build
// is remembered, and its error thrown again to every later caller.
template <class T, class Build>
T& cached(std::map<std::uint32_t, std::unique_ptr<T>>& cache, std::uint32_t n, const char* what, Build build) {
  if (auto it = cache.find(n); it != cache.end()) return *it->second;
  const std::string name = std::string(what) + " keys:" + std::to_string(n);
  if (auto f = g_failed.find(name); f != g_failed.end()) throw std::runtime_error(f->second);
  try {
    return *(cache[n] = build(n));
  } catch (const std::exception& e) {
    g_failed[name] = name + ": " + e.what();
    throw std::runtime_error(g_failed[name]);
  }
}

}  // namespace

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
  p->idx = random_indexes(n, q, rng.next());
  p->idx_mask = static_cast<std::uint32_t>(q - 1);
  slot = std::move(p);
  return *slot;
}

void ChurnWriter::run() {
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

// -- Chase buffers -----------------------------------------------------------------------

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

ShmWorld& shm_world(std::uint32_t n) { return cached(g_shm, n, "shm world", build_shm_world); }

LmdbStore& lmdb_world(std::uint32_t n) { return cached(g_lmdb, n, "lmdb world", build_lmdb_world); }

const WorldInfo& world_info(std::uint32_t n) { return g_info[n]; }

bool setup_failed() { return !g_failed.empty(); }

void destroy_worlds() {
  g_chase.clear();
  g_lmdb.clear();
  g_shm.clear();
  g_plans.clear();
}

}  // namespace shmreg::bench
