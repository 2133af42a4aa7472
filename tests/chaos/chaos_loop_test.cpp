// The crash loop (docs/reliability.md, "The crash loop"): a real broker and
// many real owner processes, killed, stopped and restarted at random moments
// drawn from a seeded PRNG, checked after every burst against a model of who
// is alive and what each holds (settle_check.hpp), while reader processes
// look keys up throughout (agent.hpp).
//
// Built twice: a short run for the default suite (label quick, about a
// minute; also run in the TSan build, smaller, label tsan) and, with
// SHMREG_STRESS, one that runs until it has sent at least 10,000 SIGKILLs,
// 1,000 of them to the broker (label stress).
//
// SHMREG_CHAOS_SEED=<n> replays a run's choices (the timing of the processes
// is the machine's); SHMREG_CHAOS_SECONDS=<n> changes the quick run's length.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include "broker_control.hpp"
#include "broker_process.hpp"
#include "bursts.hpp"
#include "chaos_value.hpp"
#include "model.hpp"
#include "owners.hpp"
#include "readers.hpp"
#include "settle_check.hpp"
#include "totals.hpp"

namespace shmreg::chaos {
namespace {

using namespace std::chrono_literals;

#ifdef SHMREG_STRESS
#define CHAOS_SUITE ChaosLoopStressTest
constexpr LoopShape kShape{.max_alive = 300, .big_burst = 250, .churners = 4};
constexpr std::uint64_t kMinKills = 10000, kMinBrokerKills = 1000;
constexpr auto kDefaultDuration = 0s;
#elif defined(__SANITIZE_THREAD__)
// The TSan build (label tsan): every process of the loop is instrumented and
// several times slower, and each maps TSan's shadow memory, so the run is
// smaller and shorter. Its point is the two-thread churning owners
// (agent_owner.cpp) under broker kills, not the count of kills.
#define CHAOS_SUITE ChaosLoopTest
constexpr LoopShape kShape{.max_alive = 40, .big_burst = 30, .churners = 4};
constexpr std::uint64_t kMinKills = 0, kMinBrokerKills = 0;
constexpr auto kDefaultDuration = 30s;
#else
#define CHAOS_SUITE ChaosLoopTest
constexpr LoopShape kShape{.max_alive = 150, .big_burst = 120, .churners = 4};
constexpr std::uint64_t kMinKills = 0, kMinBrokerKills = 0;
constexpr auto kDefaultDuration = 45s;
#endif

// How long the broker has to reap a dead owner once it is up. Reaping takes
// it microseconds; the window is for a machine shared with other builds.
constexpr auto kReapWindow = 10s;
// How long owners may take to finish registering after a burst (each retries
// for about 20 s through broker restarts).
constexpr auto kRegisterDeadline = 60s;
constexpr unsigned kReaders = 2;
constexpr std::size_t kLogTail = 40;
constexpr std::size_t kOwnersLogTail = 4000;  // bytes
constexpr std::size_t kPidHistoryLines = 20, kPidHistoryBytes = 16000;

std::uint64_t env_number(const char* name, std::uint64_t otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : otherwise;
}

class CHAOS_SUITE : public ::testing::Test {
 protected:
  CHAOS_SUITE()
      : seed_(env_number("SHMREG_CHAOS_SEED", std::random_device{}())),
        duration_(std::chrono::seconds(env_number("SHMREG_CHAOS_SECONDS", kDefaultDuration.count()))),
        paths_{.ns = test::unique_namespace(),
               .socket = dir_.path() + "/chaos.sock",
               .dir = dir_.path(),
               .agent = SHMREG_CHAOS_AGENT_BIN,
               .cli = test::cli_binary(),
               .fifo = dir_.path() + "/reports.fifo",
               .owners_log = dir_.path() + "/owners.log"},
        process_(paths_.ns, paths_.socket, dir_.path() + "/broker.log"),
        broker_(process_, dir_.path() + "/broker.log",
                {"--segment-size", "64M", "--default-capacity", std::to_string(kShape.max_alive * 8 + 256)},
                model_, totals_) {}

  bool finished(Clock::time_point began) const {
    if (kMinKills > 0) return totals_.kills >= kMinKills && totals_.broker_kills >= kMinBrokerKills;
    return Clock::now() - began >= duration_;
  }

  void note(std::vector<std::string> more) { problems_.insert(problems_.end(), more.begin(), more.end()); }

  // The broker up, every owner done registering, then the segment checked.
  void settle(Owners& owners, Readers& readers, const SettleCheck& check) {
    if (broker_.ended_unasked()) {
      ++totals_.unexpected_exits;
      note({"the broker ended without the loop's kill"});
      broker_.kill(false);
    }
    if (!broker_.up()) {
      if (auto r = broker_.start(); !r) return note({"cannot restart the broker: " + r.error()});
    }
    if (!owners.wait_done(kRegisterDeadline)) ++totals_.stuck;
    const SettleOutcome o = check.run(model_, owners);
    totals_.lost += o.lost;
    totals_.stale += o.stale;
    totals_.validation_failures += o.validation_failures;
    totals_.foreign += o.foreign;
    ++totals_.settle_points;
    note(o.problems);
    note(owners.take_problems());
    note(readers.check(totals_));
  }

  std::string report() const {
    std::string r = "seed " + std::to_string(seed_) + " (SHMREG_CHAOS_SEED=" + std::to_string(seed_) +
                    " replays its choices)\n" + totals_.line() + "\n";
    for (const auto& p : problems_) r += "  " + p + "\n";
    // The owners' stderr holds the expected complaints of CLI owners that met
    // no broker; only its end is near the failure.
    const std::string owners_log = test::file_text(paths_.owners_log);
    return r + pid_histories() + "--- the broker's log, last lines:\n" + broker_.log_tail(kLogTail) +
           "\n--- the owners' stderr, end:\n" +
           owners_log.substr(owners_log.size() - std::min(owners_log.size(), kOwnersLogTail));
  }

  // For each pid a problem names ("(pid N"), what the brokers' logs say of
  // it: a reap, a refusal, a dropped connection, with a recycled pid's
  // earlier owners among them.
  std::string pid_histories() const {
    std::set<pid_t> pids;
    for (const auto& p : problems_)
      for (auto at = p.find("(pid "); at != std::string::npos; at = p.find("(pid ", at + 1))
        if (const long pid = std::strtol(p.c_str() + at + 5, nullptr, 10); pid > 0) pids.insert(static_cast<pid_t>(pid));
    std::string out;
    for (const pid_t pid : pids)
      if (out.size() < kPidHistoryBytes)
        out += "--- the broker's log on pid " + std::to_string(pid) + ":\n" + broker_.log_lines_naming(pid, kPidHistoryLines);
    return out;
  }

  bool create_registries() {
    const auto base = std::vector<std::string>{paths_.cli, "--namespace", paths_.ns, "--socket", paths_.socket, "create"};
    auto with = [&](std::vector<std::string> args) {
      std::vector<std::string> argv = base;
      argv.insert(argv.end(), args.begin(), args.end());
      const auto r = test::run(argv);
      if (r.exit_code() != 0) note({"create: " + r.describe()});
      return r.exit_code() == 0;
    };
    return with({std::string(kUniqueRegistry)}) && with({std::string(kPoolRegistry), "--keys", "duplicate"});
  }

  test::TempDir dir_;
  std::uint64_t seed_;
  std::chrono::seconds duration_;
  RunPaths paths_;
  test::BrokerProcess process_;
  Model model_;
  Totals totals_;
  BrokerControl broker_;
  std::vector<std::string> problems_;
};

TEST_F(CHAOS_SUITE, LiveOwnersKeepTheirEntriesAndDeadOwnersLoseThemWhateverIsKilled) {
  std::cout << "chaos seed=" << seed_ << "\n" << std::flush;
  auto started = broker_.start();
  ASSERT_TRUE(started) << started.error();
  ASSERT_TRUE(create_registries()) << report();
  const SettleCheck check(test::segment_path(paths_.dir, paths_.ns), kReapWindow);
  {
    Owners owners(paths_, model_, totals_);
    Readers readers(paths_, kReaders);
    std::mt19937_64 rng(seed_);
    Bursts bursts(kShape, rng, owners, broker_, totals_);
    const auto began = Clock::now();
    while (!finished(began) && totals_.failures() == 0 && problems_.empty()) {
      if (auto r = bursts.run(); !r) note({"cannot restart the broker: " + r.error()});
      settle(owners, readers, check);
      if (totals_.settle_points % 100 == 0) std::cout << totals_.line() << "\n" << std::flush;
    }
    // The last settle point: every owner dead, every entry gone.
    owners.kill_all();
    settle(owners, readers, check);
    note(readers.finish(totals_));
  }
  totals_.repairs_at_attach = broker_.repairs_at_attach();
  std::cout << totals_.line() << "\n";
  EXPECT_EQ(totals_.failures(), 0u) << report();
  EXPECT_TRUE(problems_.empty()) << report();
  if (!problems_.empty() || totals_.failures() > 0) return;
  auto stopped = process_.stop();
  EXPECT_TRUE(stopped) << stopped.error();
}

}  // namespace
}  // namespace shmreg::chaos
