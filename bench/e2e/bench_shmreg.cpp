// shmreg through its public client API, against a real broker process:
// register (and ping), lookup, reaping of one killed owner, owner-queue
// handover from a killed primary owner, and mass death.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>

#include "e2e.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::bench::e2e {

namespace {

// Skips the case (and returns false) when the broker is not running.
bool need_broker(benchmark::State& state) {
  Broker& b = broker();
  if (!b.error.empty() || !b.client) {
    state.SkipWithError(("shmreg broker unavailable: " + b.error).c_str());
    return false;
  }
  return true;
}

constexpr std::size_t kRegisterChunk = 4096;

std::uint64_t next_run() {
  static std::uint64_t run = 0;
  return ++run;
}

// The broker's own CPU time over each round, from the kill to the entry gone
// (its work, plus closing the dead owners' connections), and how long it was
// runnable but waiting for a CPU.
void report_broker_cpu(benchmark::State& state, const std::vector<std::int64_t>& cpu,
                       const std::vector<std::int64_t>& wait) {
  const Stats w = stats_of(wait);
  state.counters["brk_cpu_ns"] = benchmark::Counter(stats_of(cpu).p50);
  state.counters["brk_wait_ns"] = benchmark::Counter(w.p50);
  state.counters["brk_wait_p99_ns"] = benchmark::Counter(w.p99);
}

// -- register and ping --------------------------------------------------------------------------

void bm_register(benchmark::State& state, Placement p) {
  if (!need_broker(state)) return;
  Broker& b = broker();
  const shmreg::Client& c = *b.client;
  PlacementGuard guard(p, b.pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());

  const std::uint64_t run = next_run();
  const std::string prefix = "reg/" + std::to_string(run) + "/";
  const std::string value = value_string(run);
  for (int i = 0; i < 50; ++i) (void)c.ping();  // warm the connection and both caches

  // Keys are registered kRegisterChunk at a time, then unregistered between
  // two timed operations (manual time excludes that), so the registry never
  // fills up and stays at a steady, low load.
  std::vector<std::string> keys;
  keys.reserve(kRegisterChunk);
  std::vector<std::int64_t> samples, unreg;
  samples.reserve(options().rt_ops);
  std::string error;
  auto unregister_all = [&] {
    for (const std::string& k : keys) {
      const std::int64_t t0 = now_ns();
      auto r = c.unregister(kRegRegister, k);
      const std::int64_t t1 = now_ns();
      if (!r) error = "unregister: " + r.error().message;
      unreg.push_back(t1 - t0);
    }
    keys.clear();
  };
  CpuMeter meter(b.pid);
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (keys.size() == kRegisterChunk) {
      meter.pause();
      unregister_all();
      meter.resume();
    }
    keys.push_back(key_string(prefix, i++));
    const std::int64_t t0 = now_ns();
    auto r = c.register_key(kRegRegister, keys.back(), value);
    const std::int64_t t1 = now_ns();
    if (!r) {
      error = "register_key: " + r.error().message;
      break;
    }
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  meter.finish(state, samples.size());
  unregister_all();
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, samples);
  state.counters["unreg_p50_ns"] = benchmark::Counter(stats_of(unreg).p50);
}

// A WriteBatch of kBatchEntries registrations, applied in one round trip:
// one iteration is one batch of fresh keys, each of whose results must be a
// success; the keys are unregistered (another batch, untimed) in between.
// Against redis/SET_pipelined_1000.
void bm_register_batch(benchmark::State& state, Placement p) {
  if (!need_broker(state)) return;
  Broker& b = broker();
  const shmreg::Client& c = *b.client;
  PlacementGuard guard(p, b.pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const std::uint64_t run = next_run();
  const std::string value = value_string(run);
  for (int i = 0; i < 50; ++i) (void)c.ping();
  std::vector<std::int64_t> samples;
  std::string error;
  CpuMeter meter(b.pid);
  std::uint64_t round = 0;
  for (auto _ : state) {
    shmreg::WriteBatch add, remove;
    const std::string prefix = "batch/" + std::to_string(run) + "/" + std::to_string(round++) + "/";
    for (std::size_t i = 0; i < kBatchEntries; ++i) {
      const std::string key = key_string(prefix, i);
      add.register_key(kRegRegister, key, value);
      remove.unregister(kRegRegister, key);
    }
    const std::int64_t t0 = now_ns();
    auto r = c.apply(add);
    const std::int64_t t1 = now_ns();
    if (!r) error = "apply: " + r.error().message;
    for (std::size_t i = 0; r && i < r->size() && error.empty(); ++i)
      if (!(*r)[i]) error = "register " + std::to_string(i) + ": " + (*r)[i].error().message;
    if (!error.empty()) break;
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    meter.pause();
    if (auto u = c.apply(remove); !u) error = "unregister batch: " + u.error().message;
    meter.resume();
    if (!error.empty()) break;
  }
  meter.finish(state, samples.size() * kBatchEntries);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, samples);
  report_entries_per_second(state, samples, kBatchEntries);
}

void bm_ping(benchmark::State& state, Placement p) {
  if (!need_broker(state)) return;
  Broker& b = broker();
  const shmreg::Client& c = *b.client;
  PlacementGuard guard(p, b.pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  for (int i = 0; i < 50; ++i) (void)c.ping();

  std::vector<std::int64_t> samples;
  samples.reserve(options().rt_ops);
  CpuMeter meter(b.pid);
  std::string error;
  auto ping = [&] {
    auto r = c.ping();
    if (!r) error = "ping: " + r.error().message;
    return r.has_value();
  };
  if (!time_each(state, samples, ping)) return state.SkipWithError(error.c_str());
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

// -- lookup -----------------------------------------------------------------------------------------

// The lookup key set, registered by this process once.
const std::vector<std::string>* lookup_keys(benchmark::State& state) {
  static std::vector<std::string> keys;
  static bool ready = false;
  if (ready) return &keys;
  const shmreg::Client& c = *broker().client;
  for (std::uint32_t i = 0; i < options().keys; ++i) {
    keys.push_back(key_string("lookup/", i));
    auto r = c.register_key(kRegLookup, keys.back(), value_string(i));
    if (!r && r.error().code != shmreg::Errc::already_registered) {
      state.SkipWithError(("registering the lookup keys: " + r.error().message).c_str());
      keys.clear();
      return nullptr;
    }
  }
  ready = true;
  return &keys;
}

// value:  Registry::lookup_value (copies the value into a new std::string).
// value_into: Registry::lookup_value(key, out), into one reused string.
// view:   Registry::lookup with a callback over zero-copy views.
// shm_value, shm_view: the same two reads straight on shm::SegmentReader (the
//         reader half the client wraps; the value copy reuses one string), to
//         separate what the client API adds from what the segment read costs.
enum class LookupKind { value, value_into, view, shm_value, shm_view };

const char* lookup_key(LookupKind k) {
  switch (k) {
    case LookupKind::value: return "lookup/value";
    case LookupKind::value_into: return "lookup/value_into";
    case LookupKind::view: return "lookup/view";
    case LookupKind::shm_value: return "lookup/shm_reader_value";
    case LookupKind::shm_view: return "lookup/shm_reader_view";
  }
  return "lookup/?";
}

void bm_lookup(benchmark::State& state, LookupKind kind) {
  if (!need_broker(state)) return;
  const auto* keys = lookup_keys(state);
  if (keys == nullptr) return;
  auto reg = broker().client->registry(kRegLookup);
  if (!reg) return state.SkipWithError(("registry: " + reg.error().message).c_str());
  auto shm_reader = shm::SegmentReader::open(proto::client_paths(broker().socket, broker().ns).segment());
  if (!shm_reader) return state.SkipWithError("shm::SegmentReader::open failed");
  auto shm_reg = shm_reader->registry(kRegLookup);
  if (!shm_reg) return state.SkipWithError("shm::SegmentReader::registry failed");
  const auto idx = random_indexes(static_cast<std::uint32_t>(keys->size()), options().lookup_ops, 42);

  std::size_t misses = 0, bytes = 0;
  std::string scratch;
  // One lookup of `key`; false when it is not found.
  auto one = [&](const std::string& key) -> bool {
    switch (kind) {
      case LookupKind::value: {
        auto r = reg->lookup_value(key);
        if (!r || !*r) return false;
        bytes += (*r)->size();
        return true;
      }
      case LookupKind::value_into: {
        auto r = reg->lookup_value(key, scratch);
        if (!r || !*r) return false;
        bytes += scratch.size();
        return true;
      }
      case LookupKind::view: {
        auto r = reg->lookup(key, [&](std::span<const shmreg::EntryView> v) {
          if (!v.empty()) bytes += v.front().value.size();
        });
        return r && *r == 1;
      }
      case LookupKind::shm_value: {
        auto r = shm_reader->lookup_value(*shm_reg, key, scratch);
        if (!r || !*r) return false;
        bytes += scratch.size();
        return true;
      }
      case LookupKind::shm_view: {
        auto r = shm_reader->lookup(*shm_reg, key, [&](std::span<const shm::EntryView> v) {
          if (!v.empty()) bytes += v.front().value.size();
        });
        return r && *r == 1;
      }
    }
    return false;
  };

  std::vector<std::int64_t> samples;
  samples.reserve(idx.size());
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& key = (*keys)[idx[i++ % idx.size()]];
    const std::int64_t t0 = now_ns();
    const bool found = one(key);
    const std::int64_t t1 = now_ns();
    misses += found ? 0 : 1;
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  // The same lookups timed 64 at a time with one clock pair: the mean cost of
  // one lookup without the clock's own ~20 ns (a mean per batch, so its p99
  // is not the p99 of single lookups).
  constexpr std::size_t kBatch = 64;
  std::vector<std::int64_t> batched;
  for (std::size_t b = 0; b + kBatch <= idx.size() && batched.size() < 4000; b += kBatch) {
    const std::int64_t t0 = now_ns();
    for (std::size_t k = b; k < b + kBatch; ++k) misses += one((*keys)[idx[k]]) ? 0 : 1;
    batched.push_back((now_ns() - t0 + static_cast<std::int64_t>(kBatch) / 2) / static_cast<std::int64_t>(kBatch));
  }
  benchmark::DoNotOptimize(bytes);
  if (misses != 0) return state.SkipWithError("a registered key was not found");
  report_latency(state, samples);
  state.counters["batch_mean_ns"] = benchmark::Counter(stats_of(batched).p50);
  state.counters["clock_ns"] = benchmark::Counter(static_cast<double>(clock_overhead_ns()));
}

// -- reap: one owner killed ------------------------------------------------------------------------------
//
// The owner is a helper process (see HelperSpec) that registered one key and
// keeps its client open. This process spins on lookups of that key from the
// SIGKILL until the entry is gone. With placement split, the spinner has one
// CPU to itself and the broker and the owner share the other, so that the
// spinner never competes with the processes it is timing.

void bm_reap(benchmark::State& state, Placement p, std::uint32_t rss_mb) {
  if (!need_broker(state)) return;
  auto reg = broker().client->registry(kRegReap);
  if (!reg) return state.SkipWithError(("registry: " + reg.error().message).c_str());
  PlacementGuard guard(p, broker().pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const std::uint64_t run = next_run();
  auto noop = [](std::span<const shmreg::EntryView>) {};

  std::vector<std::int64_t> samples, broker_cpu, broker_wait;
  std::uint64_t round = 0;
  std::string error;
  for (auto _ : state) {
    HelperSpec spec{HelperSpec::Mode::owner, rss_mb, std::string(kRegReap),
                    key_string("reap/" + std::to_string(run) + "/", round++)};
    const pid_t owner = start_ready_helper(spec, error);
    auto seen = reg->lookup(spec.key, noop);
    if (owner < 0 || !seen || *seen != 1) {
      kill_and_reap(owner);
      error = "the owner process could not register its key";
      break;
    }
    if (guard.server_cpu() >= 0) pin_process(owner, guard.server_cpu());
    ::usleep(200);  // let the broker and the owner settle into their sleeps

    const Sched before = sched_of(broker().pid);
    const std::int64_t t0 = now_ns();
    ::kill(owner, SIGKILL);
    std::int64_t t1 = t0;
    for (;;) {
      auto n = reg->lookup(spec.key, noop);
      t1 = now_ns();
      if (n && *n == 0) break;
      if (t1 - t0 > 5'000'000'000) {
        error = "the killed owner's entry was still there after 5 s";
        break;
      }
    }
    ::waitpid(owner, nullptr, 0);
    // A task's accounting is brought up to date when it leaves the CPU: read
    // it once the broker has gone back to sleep.
    ::usleep(2000);
    const Sched after = sched_of(broker().pid);
    broker_cpu.push_back(after.cpu - before.cpu);
    broker_wait.push_back(after.wait - before.wait);
    if (!error.empty()) break;
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, samples);
  report_broker_cpu(state, broker_cpu, broker_wait);
}

// -- handover: an owner queue's primary killed ---------------------------------------------------------
//
// Two helper processes queue for one key of a unique registry with
// Client::request_name: the first becomes its primary owner, the second waits
// in its queue (both checked through Registry::owner_queue). From the SIGKILL
// of the primary until this process reads the segment showing the waiter as
// the owner. The broker does a reap plus one promotion, in one step.
//
//   watcher: sleeps in Watcher::next on the key (a futex wait) until the
//            owner_changed event naming the waiter: what a reader that
//            follows the key sees.
//   spin:    spins on lookups of the key until they show the waiter, as
//            bm_reap spins until the entry is gone: the same method as reap,
//            for the ratio. Placement split only: with any, a spinner on two
//            CPUs mostly times where the scheduler put the broker and the
//            dying owner (see reap/broker/any). Every read on the way must
//            show an owner (the old one or the new one); the case fails if
//            one did not.
//
// Each round has a new key, a new primary and a new waiter; it ends by killing
// the waiter (now the owner) and waiting for its owner_died event, so that
// the broker has finished with the round before the next one starts.

enum class HandoverWait { watcher, spin };

// Reads the watcher's events until one of `type` from `pid`; `t1` is when it
// was read. An event that shows the key leaving instead, or events lost, fail.
std::string await_event(shmreg::Watcher& watcher, shmreg::EventType type, std::uint32_t pid, std::int64_t t0,
                        std::int64_t& t1) {
  using shmreg::EventType;
  for (;;) {
    auto events = watcher.next(std::chrono::milliseconds(100));
    t1 = now_ns();
    if (!events) return "Watcher::next: " + events.error().message;
    for (const shmreg::Event& e : *events) {
      if (e.type == type && e.pid == pid) return {};
      if (e.type == EventType::lagged || e.type == EventType::resync)
        return "the watcher lost events (" + std::string(shmreg::to_string(e.type)) + ")";
      if (type == EventType::owner_changed && (e.type == EventType::owner_died || e.type == EventType::unregistered))
        return "the key was removed instead of handed over to the process in its queue";
    }
    if (t1 - t0 > 5'000'000'000)
      return "no " + std::string(shmreg::to_string(type)) + " event for pid " + std::to_string(pid) + " within 5 s";
  }
}

struct HandoverSample {
  std::int64_t latency = 0;       // SIGKILL of the primary -> the waiter seen as the owner
  std::int64_t broker_cpu = 0;    // the broker's CPU time from the kill to the handover (and 2 ms after)
  std::int64_t broker_wait = 0;   // how long it was runnable but waiting for a CPU in that window
  std::uint64_t empty_reads = 0;  // spin: lookups that found no owner
};

// One round; empty on success.
std::string handover_round(const shmreg::Registry& reg, const std::string& key, int server_cpu, HandoverWait wait,
                           HandoverSample& out) {
  std::string error;
  HelperProcess primary(
      start_ready_helper({HelperSpec::Mode::queue_primary, 0, std::string(kRegHandover), key, 0}, error));
  if (primary.pid() < 0) return error;
  HelperProcess waiter(
      start_ready_helper({HelperSpec::Mode::queue_waiter, 0, std::string(kRegHandover), key, 0}, error));
  if (waiter.pid() < 0) return error;
  const auto a = static_cast<std::uint32_t>(primary.pid()), b = static_cast<std::uint32_t>(waiter.pid());
  auto line = reg.owner_queue(key);
  if (!line) return "owner_queue: " + line.error().message;
  if (line->size() != 2 || (*line)[0].pid != a || (*line)[1].pid != b)
    return "owner_queue does not show the primary owner, then the waiter, before the kill";
  if (server_cpu >= 0) {
    pin_process(primary.pid(), server_cpu);
    pin_process(waiter.pid(), server_cpu);
  }
  shmreg::Watcher watcher = reg.watch(key);  // from the next event on
  ::usleep(200);  // let the broker and both helpers settle into their sleeps

  const Sched before = sched_of(broker().pid);
  const std::int64_t t0 = now_ns();
  ::kill(primary.pid(), SIGKILL);
  std::int64_t t1 = t0;
  if (wait == HandoverWait::watcher) {
    error = await_event(watcher, shmreg::EventType::owner_changed, b, t0, t1);
  } else {
    for (;;) {
      std::uint32_t owner = 0;
      auto n = reg.lookup(key, [&](std::span<const shmreg::EntryView> v) { owner = v.empty() ? 0 : v.front().pid; });
      t1 = now_ns();
      if (n && owner == b) break;
      if (n && *n == 0) ++out.empty_reads;
      if (t1 - t0 > 5'000'000'000) {
        error = "the key was not handed over to the waiting process within 5 s";
        break;
      }
    }
  }
  primary.reap();
  ::usleep(2000);  // see bm_reap: read the broker's accounting once it sleeps again
  const Sched after = sched_of(broker().pid);
  if (!error.empty()) return error;
  out.latency = t1 - t0;
  out.broker_cpu = after.cpu - before.cpu;
  out.broker_wait = after.wait - before.wait;

  // Leave the broker idle and the key free for the next round.
  const std::int64_t t2 = now_ns();
  ::kill(waiter.pid(), SIGKILL);
  waiter.reap();
  std::int64_t t3 = t2;
  error = await_event(watcher, shmreg::EventType::owner_died, b, t2, t3);
  if (!error.empty()) return "after killing the new owner: " + error;
  auto left = reg.lookup(key);
  if (!left || !left->empty()) return "the key still had an owner after both helpers died";
  return {};
}

void bm_handover(benchmark::State& state, Placement p, HandoverWait wait) {
  if (!need_broker(state)) return;
  auto reg = broker().client->registry(kRegHandover);
  if (!reg) return state.SkipWithError(("registry: " + reg.error().message).c_str());
  PlacementGuard guard(p, broker().pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const std::string prefix = "handover/" + std::to_string(next_run()) + "/";

  std::vector<std::int64_t> samples, broker_cpu, broker_wait;
  std::uint64_t round = 0, empty_reads = 0;
  for (auto _ : state) {
    HandoverSample s;
    const std::string error = handover_round(*reg, key_string(prefix, round++), guard.server_cpu(), wait, s);
    if (!error.empty()) return state.SkipWithError(error.c_str());
    samples.push_back(s.latency);
    broker_cpu.push_back(s.broker_cpu);
    broker_wait.push_back(s.broker_wait);
    empty_reads += s.empty_reads;
    state.SetIterationTime(static_cast<double>(s.latency) * 1e-9);
  }
  report_latency(state, samples);
  report_broker_cpu(state, broker_cpu, broker_wait);
  if (wait == HandoverWait::spin) state.counters["empty_reads"] = benchmark::Counter(static_cast<double>(empty_reads));
  // The handover is one step for readers (docs/events-and-queues.md): a
  // lookup that found the key empty is a broken invariant, not noise.
  if (empty_reads != 0)
    state.SkipWithError((std::to_string(empty_reads) + " lookups found the key without an owner during a handover")
                            .c_str());
}

// -- send by name: a message to a key's owner and its echo back --------------------------------
//
// An echo helper opens a mailbox and owns send/echo; this process owns
// send/reply with a mailbox of its own. One sample: Client::send to
// send/echo, until Mailbox::receive returns the echo that the helper sent to
// send/reply: two messages, each client -> broker -> owner's mailbox, so four
// socket hops and two routings, against the two hops of ping and of a raw
// Unix-socket echo. The helper is not pinned.

void bm_send_rt(benchmark::State& state, Placement p) {
  if (!need_broker(state)) return;
  Broker& b = broker();
  const shmreg::Client& c = *b.client;
  // One mailbox per process: kept for every placement of the run.
  static std::optional<shmreg::Mailbox> mailbox;
  if (!mailbox) {
    auto m = shmreg::Mailbox::open(c);
    if (!m) return state.SkipWithError(("open mailbox: " + m.error().message).c_str());
    mailbox.emplace(std::move(*m));
    auto r = c.register_key(kRegSend, "send/reply", "bench");
    if (!r) return state.SkipWithError(("register send/reply: " + r.error().message).c_str());
  }
  HelperSpec spec;
  spec.mode = HelperSpec::Mode::echo;
  spec.registry = std::string(kRegSend);
  spec.key = "send/echo/" + std::string(to_string(p));
  spec.reply_key = "send/reply";
  std::string error;
  HelperProcess echo(start_ready_helper(spec, error));
  if (echo.pid() <= 0) return state.SkipWithError(error.c_str());
  PlacementGuard guard(p, b.pid);
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const std::string body(32, 'm');
  auto round = [&]() -> std::string {
    auto s = c.send(kRegSend, spec.key, body);
    if (!s) return "send: " + s.error().message;
    auto m = mailbox->receive(std::chrono::seconds(5));
    if (!m) return "receive: " + m.error().message;
    if (!*m || (*m)->body != body) return "no echo within 5 s";
    return {};
  };
  for (int i = 0; i < 50; ++i)
    if (auto e = round(); !e.empty()) return state.SkipWithError(e.c_str());

  std::vector<std::int64_t> samples;
  samples.reserve(options().rt_ops);
  CpuMeter meter(b.pid);
  std::string e;
  if (!time_each(state, samples, [&] { return (e = round()).empty(); })) return state.SkipWithError(e.c_str());
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

// -- mass death ----------------------------------------------------------------------------------------------
//
// N owners, each its own process holding one key, in one process group led by
// an idle helper; one kill(-pgid, SIGKILL) reaches all of them. Timed from
// that kill until count() reads 0, spinning on count().
//
//   client_api: owner helpers (their clients and connections stay open).
//   cli_exec:   `shmreg register REG KEY VALUE -- CMD`: the CLI registers,
//               then execs CMD (the victim helper) in the same process; its
//               connection closes at exec, so the broker holds pidfds only.

enum class MassKind { client_api, cli_exec };

pid_t spawn_cli_owner(const std::string& key, const std::string& value, pid_t pgid) {
  const Broker& b = broker();
  // The command it execs is the victim helper: small, and it dies with the
  // benchmark (PR_SET_PDEATHSIG) should the benchmark itself be killed.
  return spawn_process(options().cli_path, {"shmreg", "--namespace", b.ns, "--socket", b.socket, "register",
                                            std::string(kRegMass), key, value, "--", options().helper_path, "victim",
                                            "0"},
                       pgid, -1);
}

// Spawns `n` owners of kRegMass keys into the group of `leader`.
bool spawn_mass(MassKind kind, const std::string& prefix, std::uint32_t n, pid_t leader,
                const shmreg::Registry& reg, std::vector<pid_t>& pids, std::string& error) {
  if (kind == MassKind::client_api) {
    sys::Pipe ready = sys::Pipe::make();
    if (!ready.read) {
      error = std::string("pipe: ") + std::strerror(errno);
      return false;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      const HelperSpec spec{HelperSpec::Mode::owner, 0, std::string(kRegMass), key_string(prefix, i)};
      const pid_t pid = spawn_helper(spec, leader, ready.write.get());
      if (pid < 0) break;
      pids.push_back(pid);
    }
    ready.write.reset();
    const bool ok = pids.size() == n && await_ready(ready.read.get(), n, 120000);
    if (!ok) error = "not every owner process could register (spawn or register failed)";
    return ok;
  }
  const std::string value = value_string(0);
  const std::uint32_t batch = 100;  // a thousand CLI start-ups at once would only measure the scheduler
  for (std::uint32_t i = 0; i < n; ++i) {
    const pid_t pid = spawn_cli_owner(key_string(prefix, i), value, leader);
    if (pid < 0) {
      error = std::string("posix_spawn of the shmreg CLI failed");
      return false;
    }
    pids.push_back(pid);
    if ((i + 1) % batch != 0 && i + 1 != n) continue;
    const std::int64_t deadline = now_ns() + 60'000'000'000;
    for (;;) {
      auto cnt = reg.count();
      if (cnt && *cnt >= i + 1) break;
      int status = 0;
      if (::waitpid(-leader, &status, WNOHANG) > 0) {
        error = "a `shmreg register -- CMD` process exited (status " + std::to_string(status) + "); is --cli right?";
        return false;
      }
      if (now_ns() > deadline) {
        // No owner exited (waitpid above), so every one of them registered
        // (the CLI execs CMD only after the broker said yes): the missing
        // entries were removed while their owners were alive.
        const std::uint64_t have = cnt ? *cnt : 0;
        error = std::to_string(i + 1 - have) + " of " + std::to_string(i + 1) +
                " `shmreg register -- CMD` owners are alive but their entries are gone: the broker reaped live "
                "processes (see docs/benchmarks-e2e.md)";
        return false;
      }
      ::usleep(1000);
    }
  }
  return true;
}

void bm_mass_death(benchmark::State& state, MassKind kind) {
  if (!need_broker(state)) return;
  if (kind == MassKind::cli_exec && ::access(options().cli_path.c_str(), X_OK) != 0)
    return state.SkipWithError(("no shmreg CLI at '" + options().cli_path + "' (pass --cli=PATH)").c_str());
  auto reg = broker().client->registry(kRegMass);
  if (!reg) return state.SkipWithError(("registry: " + reg.error().message).c_str());
  const std::uint32_t n = options().mass_owners;
  const std::uint64_t run = next_run();

  std::vector<std::int64_t> all, first, kill_call, broker_cpu, broker_wait;
  std::uint64_t round = 0;
  std::string error;
  for (auto _ : state) {
    auto left = reg->count();
    if (!left || *left != 0) {
      error = "the mass registry is not empty before a round";
      break;
    }
    const pid_t leader = start_ready_helper({HelperSpec::Mode::victim, 0, {}, {}}, error, 0);
    std::vector<pid_t> pids;
    pids.reserve(n);
    const std::string prefix = "mass/" + std::to_string(run) + "." + std::to_string(round++) + "/";
    if (leader < 0 || !spawn_mass(kind, prefix, n, leader, *reg, pids, error)) {
      if (leader > 0) ::kill(-leader, SIGKILL);
      for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
      if (leader > 0) ::waitpid(leader, nullptr, 0);
      if (leader < 0) error = "could not start the group leader";
      break;
    }
    auto cnt = reg->count();
    if (!cnt || *cnt != n)
      error = "expected " + std::to_string(n) + " entries before the kill, found " + std::to_string(cnt ? *cnt : 0) +
              " while every owner is alive: the broker reaped live processes";
    (void)broker().client->ping();  // the broker has drained its queue
    ::usleep(20000);                // and the owners have all gone to sleep

    const Sched before = sched_of(broker().pid);
    const std::int64_t t0 = now_ns();
    ::kill(-leader, SIGKILL);
    const std::int64_t t_kill = now_ns();
    std::int64_t t_first = -1, t1 = t0;
    while (error.empty()) {
      auto c = reg->count();
      t1 = now_ns();
      if (c && *c < n && t_first < 0) t_first = t1;
      if (c && *c == 0) break;
      if (t1 - t0 > 30'000'000'000) error = "entries of killed owners were still there after 30 s";
    }
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
    ::waitpid(leader, nullptr, 0);
    ::usleep(20000);  // see bm_reap: let the broker go back to sleep first
    const Sched after = sched_of(broker().pid);
    if (!error.empty()) break;
    all.push_back(t1 - t0);
    first.push_back(t_first - t0);
    kill_call.push_back(t_kill - t0);
    broker_cpu.push_back(after.cpu - before.cpu);
    broker_wait.push_back(after.wait - before.wait);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, all);
  state.counters["first_p50_ns"] = benchmark::Counter(stats_of(first).p50);
  state.counters["owners"] = benchmark::Counter(n);
  // kill(-pgid) itself: the kernel waking every owner to deliver SIGKILL.
  state.counters["kill_ns"] = benchmark::Counter(stats_of(kill_call).p50);
  report_broker_cpu(state, broker_cpu, broker_wait);
}

}  // namespace

void register_shmreg_cases(Group g, Placement p) {
  const Options& o = options();
  const std::string sp(to_string(p));
  switch (g) {
    case Group::round_trip:
      add_case("ping/client_api/" + sp, [p](auto& s) { bm_ping(s, p); }, o.rt_ops);
      add_case("register/client_api/" + sp, [p](auto& s) { bm_register(s, p); }, o.rt_ops);
      add_case("register_batch/client_api/" + sp, [p](auto& s) { bm_register_batch(s, p); }, kBatchRounds);
      add_case("send_rt/client_api/" + sp, [p](auto& s) { bm_send_rt(s, p); }, o.rt_ops);
      break;
    case Group::lookup:
      for (LookupKind k : {LookupKind::value, LookupKind::value_into, LookupKind::view, LookupKind::shm_value,
                           LookupKind::shm_view})
        add_case(lookup_key(k), [k](auto& s) { bm_lookup(s, k); }, o.lookup_ops, benchmark::kNanosecond);
      break;
    case Group::reap:
      if (p == Placement::same) break;  // a spinner sharing the broker's CPU times only itself
      add_case("reap/broker/" + sp, [p](auto& s) { bm_reap(s, p, 0); }, o.reap_rounds);
      if (p == Placement::any)
        add_case("reap/broker/any/rss64M", [](auto& s) { bm_reap(s, Placement::any, 64); },
                 std::max<std::uint32_t>(o.reap_rounds / 3, 1));
      add_case("handover/broker/" + sp, [p](auto& s) { bm_handover(s, p, HandoverWait::watcher); }, o.handover_rounds);
      if (p == Placement::split)
        add_case("handover/broker/split/spin", [](auto& s) { bm_handover(s, Placement::split, HandoverWait::spin); },
                 o.handover_rounds);
      break;
    case Group::mass_death:
      add_case("mass_death/client_api", [](auto& s) { bm_mass_death(s, MassKind::client_api); }, o.mass_rounds,
               benchmark::kMillisecond);
      add_case("mass_death/cli_exec", [](auto& s) { bm_mass_death(s, MassKind::cli_exec); }, o.mass_rounds,
               benchmark::kMillisecond);
      break;
  }
}

}  // namespace shmreg::bench::e2e
