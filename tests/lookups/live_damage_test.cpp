// The client library's read APIs while the segment is damaged under them
// (issue 9, item 5): a Client that opened a segment never crashes and never
// hangs whatever its bytes become afterwards; each call gives a plausible
// answer or corrupt_segment, busy, registry_not_found or segment_replaced (a
// damaged partition word whose bit 31 reads as the broker's superseded mark).
//
// The harness is the shm suites' (tests/shm/live_damage.hpp): the test holds
// the segment read-write and damages it with deterministic seeds, printed on
// failure, while a forked child that opened it with Client::open runs every
// read API of libshmreg, pass after pass: lookup (copying and zero-copy),
// lookup_value, keys, values, count, list, match, count_match, select,
// count_select, dispatch, owner_queue, meta, event_head, events, await and a
// Watcher. No broker runs: these calls read the segment only. The stress build
// (label `stress`) runs many more rounds.
#include <string>
#include <vector>

#include "live_damage.hpp"
#include "shmreg/shmreg.hpp"

#ifdef SHMREG_STRESS
#define SHMREG_CLIENT_DAMAGE_SUITE ClientReadsUnderDamageStress
#else
#define SHMREG_CLIENT_DAMAGE_SUITE ClientReadsUnderDamage
#endif

namespace shmreg::shm::test {
namespace {

#ifdef SHMREG_STRESS
constexpr std::uint64_t kRounds = 200;
#else
constexpr std::uint64_t kRounds = 8;
#endif

// Collects what a pass found wrong: an error other than the expected ones, or
// an answer that cannot be.
class Verdict {
 public:
  template <class T>
  void check(const shmreg::Result<T>& r, const char* call) {
    if (r || wrong_.size() > 0) return;
    const shmreg::Errc e = r.error().code;
    if (e != shmreg::Errc::corrupt_segment && e != shmreg::Errc::busy && e != shmreg::Errc::registry_not_found &&
        e != shmreg::Errc::segment_replaced)
      wrong_ = std::string(call) + ": unexpected error " + std::string(shmreg::to_string(e)) + " (" +
               r.error().message + ")";
  }
  void implausible(const std::string& what) {
    if (wrong_.empty()) wrong_ = what;
  }
  const std::string& wrong() const { return wrong_; }

 private:
  std::string wrong_;
};

// Where the bytes of every view go, so that reading them is not optimised away.
volatile std::uint64_t g_touched = 0;

void read_registry(const shmreg::Registry& reg, const std::vector<std::string>& keys, Verdict& v) {
  std::uint64_t touched = 0;
  for (const std::string& key : keys) {
    auto copied = reg.lookup(key);
    v.check(copied, "lookup");
    if (copied && reg.unique() && copied->size() > 1) v.implausible("unique key " + key + " with several entries");
    v.check(reg.lookup(key, [&](std::span<const shmreg::EntryView> views) {
      for (const auto& e : views) touched += touch(e.key) + touch(e.value);
    }), "lookup (views)");
    v.check(reg.lookup_value(key), "lookup_value");
    v.check(reg.values(key, 100), "values");
    v.check(reg.match(key, R"("_")"), "match");
    v.check(reg.count_match(key, R"("_")"), "count_match");
    v.check(reg.dispatch(key, [&](std::span<const shmreg::EntryView> views) {
      for (const auto& e : views) touched += touch(e.key) + touch(e.value);
    }), "dispatch");
    v.check(reg.owner_queue(key), "owner_queue");
    v.check(reg.await(key, std::chrono::nanoseconds(0)), "await");
  }
  for (std::uint32_t pid = 100; pid < 110; ++pid) v.check(reg.keys(pid), "keys");
  v.check(reg.count(), "count");
  v.check(reg.list(), "list");
  v.check(reg.select(R"([{"match": {}}])"), "select");
  v.check(reg.count_select(R"([{"match": {"key": "$1"}, "return": "$1"}])"), "count_select");
  v.check(reg.meta(), "meta");
  v.check(reg.meta("owner"), "meta(key)");
  auto head = reg.event_head();
  v.check(head, "event_head");
  std::uint64_t next = 0;
  v.check(reg.events(1, 64, next), "events");
  auto watcher = reg.watch(std::nullopt, std::uint64_t{1});
  v.check(watcher.next(std::chrono::nanoseconds(0)), "watch");
  g_touched = g_touched + touched;
}

ReaderChild client_reader(const LiveSegment& s) {
  return [&s]() -> std::variant<ReaderPass, std::string> {
    auto client = shmreg::Client::open(shmreg::ClientOptions{.ns = s.ns(), .socket = s.socket()});
    if (!client) return client.error().message;
    return ReaderPass([&s, c = std::make_shared<shmreg::Client>(std::move(*client))](std::uint64_t) {
      Verdict v;
      for (const char* name : {"uniq", "dup", "small", "empty", "nope"}) {
        auto reg = c->registry(name);
        v.check(reg, "registry");
        if (reg) read_registry(*reg, s.original().keys, v);
      }
      return v.wrong();
    });
  };
}

TEST(SHMREG_CLIENT_DAMAGE_SUITE, DamageWhileAClientReadsNeverCrashesOrHangsIt) {
  LiveSegment s;
  for (std::uint64_t round = 0; round < kRounds; ++round) {
    const std::string failure = run_live_round(s, round, client_reader(s));
    ASSERT_TRUE(failure.empty()) << failure;
  }
}

}  // namespace
}  // namespace shmreg::shm::test
