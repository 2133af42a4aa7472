// Entries leave with their owner process (invariants 3 and 7): SIGKILL, a
// normal exit, a zombie nobody has waited for, and `shmreg register -- CMD`,
// whose entry lives exactly as long as CMD.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

class ReapingTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
    cli_ok({"create", "cfg", "--partitions", "4"});
  }

  // pid -> entry count, from the owner table (`shmreg --json dump`).
  std::map<pid_t, unsigned> owner_table() {
    RunResult r = cli({"--json", "dump"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    std::map<pid_t, unsigned> out;
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("owners")) {
      ADD_FAILURE() << "dump --json: " << r.out;
      return out;
    }
    for (const auto& o : j["owners"]) out[o["pid"].get<pid_t>()] = o["entries"].get<unsigned>();
    return out;
  }

  bool holds_nothing(pid_t pid) {
    for (const char* reg : {"svc", "pool", "cfg"})
      if (cli({"keys", reg, std::to_string(pid)}).exit_code() != 1) return false;
    return true;
  }

  void expect_consistent_segment() {
    RunResult f = cli({"fsck"});
    EXPECT_EQ(f.exit_code(), 0) << f.describe();
  }

  // Registers a spread of entries for `o`: unique, duplicate, partitioned.
  void register_spread(Actor& o, const std::string& tag) {
    ASSERT_TRUE(o.registers("svc", tag + "-a", "1"));
    ASSERT_TRUE(o.registers("svc", tag + "-b", "2"));
    ASSERT_TRUE(o.registers("pool", "worker", tag));
    ASSERT_TRUE(o.registers("pool", tag + "-only", "3"));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(o.registers("cfg", tag + "-c" + std::to_string(i), "x"));
  }
};

TEST_F(ReapingTest, SigkillOfTheOwnerRemovesEveryEntryItHadInEveryRegistry) {
  Actor victim = Actor::start(ns(), socket_path());
  Actor bystander = Actor::start(ns(), socket_path());
  ASSERT_TRUE(victim.ready() && bystander.ready());
  ASSERT_NO_FATAL_FAILURE(register_spread(victim, "v"));
  ASSERT_NO_FATAL_FAILURE(register_spread(bystander, "b"));
  ASSERT_EQ(cli_count("svc"), 4);
  ASSERT_EQ(cli_count("pool"), 4);
  ASSERT_EQ(cli_count("cfg"), 10);
  ASSERT_EQ(cli_lookup("pool", "worker").size(), 2u);
  const pid_t victim_pid = victim.pid();

  ASSERT_TRUE(victim.process().kill_and_wait());

  EXPECT_TRUE(wait_until([&] { return holds_nothing(victim_pid); })) << broker().log();
  EXPECT_EQ(cli_count("svc"), 2);
  EXPECT_EQ(cli_count("pool"), 2);
  EXPECT_EQ(cli_count("cfg"), 5);
  EXPECT_EQ(cli_lookup("pool", "worker"), (Lookup{{bystander.pid(), "b"}}));
  EXPECT_EQ(cli_lookup("svc", "b-a"), (Lookup{{bystander.pid(), "1"}}));
  const auto owners = owner_table();
  EXPECT_EQ(owners.count(victim_pid), 0u) << "the dead owner keeps its slot";
  EXPECT_EQ(owners.count(bystander.pid()) ? owners.at(bystander.pid()) : 0u, 9u);
  expect_consistent_segment();
  EXPECT_TRUE(broker().running());
}

TEST_F(ReapingTest, OwnerThatNobodyHasWaitedForIsReapedWhileStillAZombie) {
  Actor victim = Actor::start(ns(), socket_path());
  ASSERT_TRUE(victim.ready());
  ASSERT_NO_FATAL_FAILURE(register_spread(victim, "z"));
  ASSERT_TRUE(victim.process().signal(SIGKILL));  // not waited for: it stays a zombie

  EXPECT_TRUE(wait_until([&] { return holds_nothing(victim.pid()); })) << broker().log();
  EXPECT_TRUE(owner_table().empty());
  expect_consistent_segment();
}

TEST_F(ReapingTest, NormalExitOfTheOwnerRemovesItsEntries) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_NO_FATAL_FAILURE(register_spread(owner, "n"));
  ASSERT_TRUE(owner.send({"exit", "0"}));
  const auto status = owner.process().wait();
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status)) << describe_wait_status(*status);

  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0 && cli_count("cfg") == 0; }))
      << broker().log();
  EXPECT_TRUE(owner_table().empty());
  expect_consistent_segment();
}

TEST_F(ReapingTest, RegisterWithCommandKeepsTheEntryExactlyWhileTheCommandRuns) {
  // The command waits for its stdin to close, then exits 0 on its own.
  SpawnOptions o;
  o.stdin_pipe = true;
  Subprocess job = Subprocess::spawn(cli_argv({"register", "svc", "job", "j1", "--", "sh", "-c", "read line; exit 0"}), o);
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "job").empty() || !job.running(); }));
  ASSERT_TRUE(job.running()) << "the command ended early";
  EXPECT_EQ(cli_lookup("svc", "job"), (Lookup{{job.pid(), "j1"}}));
  // Still there on a later look: nothing but the command's end removes it.
  cli_ok({"ping"});
  EXPECT_EQ(cli_lookup("svc", "job"), (Lookup{{job.pid(), "j1"}}));

  job.close_stdin();
  const auto status = job.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "job").empty(); })) << broker().log();
}

TEST_F(ReapingTest, RegisterWithCommandLosesTheEntryWhenTheCommandIsKilled) {
  for (const int sig : {SIGKILL, SIGTERM}) {
    const std::string key = std::string("job-") + sigabbrev_np(sig);
    Subprocess job = Subprocess::spawn(cli_argv({"register", "svc", key, "v", "--", "sleep", "60"}));
    ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", key).empty() || !job.running(); }));
    ASSERT_EQ(cli_lookup("svc", key), (Lookup{{job.pid(), "v"}}));

    ASSERT_TRUE(job.signal(sig));
    const auto status = job.wait();
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == sig) << describe_wait_status(*status);
    EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", key).empty(); })) << key << "\n" << broker().log();
  }
}

TEST_F(ReapingTest, RegisterWithCommandPassesOnTheCommandsExitCodeAndDropsTheEntry) {
  Subprocess job = Subprocess::spawn(cli_argv({"register", "svc", "short", "v", "--", "sh", "-c", "exit 7"}));
  const auto status = job.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 7) << describe_wait_status(*status);
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; })) << broker().log();

  RunResult missing = cli({"register", "svc", "nocmd", "v", "--", "/nonexistent/command"});
  EXPECT_EQ(missing.exit_code(), 127) << missing.describe();
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "nocmd").empty(); })) << broker().log();
  expect_consistent_segment();
}

}  // namespace
}  // namespace shmreg::test
