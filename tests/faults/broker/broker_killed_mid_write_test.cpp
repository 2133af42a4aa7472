// The broker SIGKILLed while batches of registrations are in flight from
// several owner processes, three times over. After each restart fsck
// (validate()) is clean, every registration a client saw confirmed is there
// with its owner and value, and every one it did not see confirmed is there
// whole or not at all; nothing else is. The writes cut at every step of the
// segment's write path are covered one by one in tests/shm
// (CrashRepairTest); this is the same promise through real processes. The
// stress build (label `stress`) kills the broker 200 times.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

#ifdef SHMREG_STRESS
#define SHMREG_KILLED_MID_WRITE_SUITE BrokerKilledMidWriteStress
#else
#define SHMREG_KILLED_MID_WRITE_SUITE BrokerKilledMidWrite
#endif

namespace shmreg::test {
namespace {

constexpr int kWriters = 3;
constexpr int kBatch = 40;
// Owners are replaced (killed, their entries reaped) once they hold this many
// entries, so that a long run fits the registry.
constexpr std::size_t kRetireAt = 5000;
#ifdef SHMREG_STRESS
constexpr int kKills = 200;
#else
constexpr int kKills = 3;
#endif

std::string value_of(const std::string& key) { return "value-of-" + key; }

// One owner: batches of kBatch registrations ("w<id>-<n>") until one fails,
// reporting each batch as "ok FIRST COUNT" or "cut FIRST COUNT"; then waits for
// "go" (the broker is back) or the end of the channel.
int writer(ChildChannel& ch, const std::string& ns, const std::string& socket, int id) {
  auto client = shmreg::Client::open({ns, socket});
  if (!client) return child_report(ch, "open " + client.error().message);
  int next = 0;
  ch.send("ready");
  while (auto line = ch.receive()) {
    for (;;) {
      shmreg::WriteBatch batch;
      for (int i = 0; i < kBatch; ++i) {
        const std::string key = "w" + std::to_string(id) + "-" + std::to_string(next + i);
        batch.register_key("svc", key, value_of(key));
      }
      auto results = client->apply(batch);
      bool all_ok = results.has_value();
      if (results)
        for (const auto& r : *results) all_ok = all_ok && r.has_value();
      ch.send((all_ok ? "ok " : "cut ") + std::to_string(next) + " " + std::to_string(kBatch));
      next += kBatch;
      if (!all_ok) break;
    }
  }
  return 0;
}

class SHMREG_KILLED_MID_WRITE_SUITE : public BrokerTest {};

TEST_F(SHMREG_KILLED_MID_WRITE_SUITE, ConfirmedRegistrationsSurviveAndCutOnesAreWholeOrAbsent) {
  cli_ok({"create", "svc", "--capacity", std::to_string(kRetireAt * 4)});
  const std::string n = ns(), s = socket_path();
  std::vector<ForkedChild> writers;
  auto start_writers = [&] {
    writers.clear();
    for (int id = 0; id < kWriters; ++id) {
      writers.push_back(ForkedChild::start([n, s, id](ChildChannel& ch) { return writer(ch, n, s, id); }));
      ASSERT_EQ(writers.back().receive(), std::optional<std::string>("ready"));
    }
  };
  ASSERT_NO_FATAL_FAILURE(start_writers());
  // key -> owner pid, for registrations confirmed (sure) or cut (maybe).
  std::map<std::string, pid_t> sure, maybe;
  std::size_t kept = 0, cut_applied = 0, cut_absent = 0;
  auto record = [&](int id, const std::string& line) {
    std::istringstream words(line);
    std::string outcome;
    int first = 0, count = 0;
    words >> outcome >> first >> count;
    for (int i = first; i < first + count; ++i)
      (outcome == "ok" ? sure : maybe)["w" + std::to_string(id) + "-" + std::to_string(i)] = writers[id].pid();
    return outcome == "ok";
  };

  auto reader = shmreg::Client::open({n, s});
  ASSERT_TRUE(reader) << reader.error().message;
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    for (auto& w : writers) ASSERT_TRUE(w.send("go"));
    // Let every writer confirm a few batches, so that all are mid-stream.
    for (int id = 0; id < kWriters; ++id)
      for (int b = 0; b < 3; ++b) {
        auto line = writers[id].receive();
        ASSERT_TRUE(line);
        ASSERT_TRUE(record(id, *line)) << "a batch failed before the kill: " << *line << "\n" << broker().log();
      }
    broker().kill_hard();
    for (int id = 0; id < kWriters; ++id)
      for (;;) {
        auto line = writers[id].receive();
        ASSERT_TRUE(line) << "writer " << id << " went quiet";
        if (!record(id, *line)) break;
      }
    ASSERT_TRUE(start_broker());

    RunResult fsck = cli({"fsck"});
    ASSERT_EQ(fsck.exit_code(), 0) << "after kill " << kill << ": " << fsck.describe();
    auto reg = reader->registry("svc");
    ASSERT_TRUE(reg) << reg.error().message;
    auto listed = reg->list();
    ASSERT_TRUE(listed) << listed.error().message;
    std::set<std::string> present;
    for (const auto& e : *listed) {
      present.insert(e.key);
      const auto& sent = sure.count(e.key) ? sure : maybe;
      ASSERT_TRUE(sent.count(e.key)) << "entry " << e.key << " was never sent, or was cut and absent before";
      EXPECT_EQ(e.pid, static_cast<std::uint32_t>(sent.at(e.key))) << e.key;
      EXPECT_EQ(e.value, value_of(e.key)) << "a cut registration left a partial value";
    }
    std::size_t lost = 0;
    for (const auto& [key, pid] : sure) lost += present.count(key) == 0;
    EXPECT_EQ(lost, 0u) << "of " << sure.size() << " confirmed registrations, after kill " << kill;
    // A cut registration that applied is now confirmed for good.
    for (auto it = maybe.begin(); it != maybe.end();)
      if (present.count(it->first)) {
        ++cut_applied;
        sure.insert(*it);
        it = maybe.erase(it);
      } else {
        ++cut_absent;
        it = maybe.erase(it);
      }
    if (sure.size() >= kRetireAt) {
      for (auto& w : writers) ASSERT_TRUE(w.kill_and_wait());
      ASSERT_TRUE(wait_until([&] { return reg->count() == std::uint64_t{0}; })) << broker().log();
      kept += sure.size();
      sure.clear();
      maybe.clear();
      ASSERT_NO_FATAL_FAILURE(start_writers());
    }
  }
  kept += sure.size();
  std::cout << "[          ] " << kKills << " broker kills: " << kept << " registrations kept, " << cut_absent
            << " cut by a kill and absent, " << cut_applied << " cut and applied whole\n";
}

}  // namespace
}  // namespace shmreg::test
