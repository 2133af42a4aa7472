// The segment outlives the broker (invariant 8): lookups keep answering while
// no broker runs, a restarted broker keeps the entries of live owners, re-arms
// their pidfds and reaps those that died in between, and a Client reconnects
// on its next write.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

class BrokerRestartTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
  }

  void register_pair(Actor& o, const std::string& tag) {
    ASSERT_TRUE(o.registers("svc", tag, "u-" + tag));
    ASSERT_TRUE(o.registers("pool", "member", tag));
  }

  void expect_consistent_segment() {
    RunResult f = cli({"fsck"});
    EXPECT_EQ(f.exit_code(), 0) << f.describe();
  }
};

TEST_F(BrokerRestartTest, RestartKeepsLiveOwnersEntriesAndReapsOwnersThatDiedMeanwhile) {
  Actor survivor = Actor::start(ns(), socket_path());
  Actor casualty = Actor::start(ns(), socket_path());
  ASSERT_TRUE(survivor.ready() && casualty.ready());
  ASSERT_NO_FATAL_FAILURE(register_pair(survivor, "alive"));
  ASSERT_NO_FATAL_FAILURE(register_pair(casualty, "dead"));

  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(casualty.process().kill_and_wait());
  // Nobody reaps while the broker is down: readers still see the dead owner.
  EXPECT_EQ(cli_lookup("svc", "dead"), (Lookup{{casualty.pid(), "u-dead"}}));

  ASSERT_TRUE(start_broker());
  // The broker reconciles the owner table before it listens, so once it
  // answers a ping the dead owner is gone: no polling here.
  EXPECT_EQ(cli_lookup("svc", "dead"), Lookup{});
  EXPECT_EQ(cli_lookup("svc", "alive"), (Lookup{{survivor.pid(), "u-alive"}}));
  EXPECT_EQ(cli_lookup("pool", "member"), (Lookup{{survivor.pid(), "alive"}}));
  EXPECT_EQ(cli_count("svc"), 1);
  expect_consistent_segment();

  // The survivor's pidfd was re-armed: its death is noticed by the new broker.
  ASSERT_TRUE(survivor.process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0; })) << broker().log();
  expect_consistent_segment();
}

TEST_F(BrokerRestartTest, CrashedBrokerLeavesEntriesAndTheNextBrokerTakesOver) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_NO_FATAL_FAILURE(register_pair(owner, "one"));

  broker().kill_hard();  // no clean shutdown: the socket file and the lock file stay
  EXPECT_EQ(cli_lookup("svc", "one"), (Lookup{{owner.pid(), "u-one"}}));

  ASSERT_TRUE(start_broker());
  EXPECT_EQ(cli_lookup("svc", "one"), (Lookup{{owner.pid(), "u-one"}}));
  // The owner's Client finds the new broker on its next write.
  ASSERT_TRUE(owner.registers("svc", "two", "u-two"));
  EXPECT_EQ(cli_lookup("svc", "two"), (Lookup{{owner.pid(), "u-two"}}));
  expect_consistent_segment();

  ASSERT_TRUE(owner.process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; })) << broker().log();
}

TEST_F(BrokerRestartTest, LookupsKeepAnsweringFromTheSegmentWhileTheBrokerIsStopped) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_NO_FATAL_FAILURE(register_pair(owner, "held"));
  cli_ok({"create", "empty"});
  const std::string pid = std::to_string(owner.pid());

  ASSERT_TRUE(stop_broker());

  RunResult lookup = cli({"lookup", "svc", "held"});
  EXPECT_EQ(lookup.exit_code(), 0) << lookup.describe();
  EXPECT_EQ(lookup.out, pid + "\tu-held\n");
  EXPECT_EQ(cli({"lookup", "svc", "absent"}).exit_code(), 1);

  RunResult list = cli({"list", "pool"});
  EXPECT_EQ(list.exit_code(), 0) << list.describe();
  EXPECT_EQ(list.out, "member\t" + pid + "\theld\n");
  EXPECT_EQ(cli({"list", "empty"}).exit_code(), 1);

  RunResult count = cli({"count", "svc"});
  EXPECT_EQ(count.exit_code(), 0) << count.describe();
  EXPECT_EQ(count.out, "1\n");

  RunResult keys = cli({"keys", "svc", pid});
  EXPECT_EQ(keys.exit_code(), 0) << keys.describe();
  EXPECT_EQ(keys.out, "held\n");
  EXPECT_EQ(cli({"keys", "svc", "1"}).exit_code(), 1);

  RunResult dump = cli({"--json", "dump"});
  EXPECT_EQ(dump.exit_code(), 0) << dump.describe();
  EXPECT_FALSE(nlohmann::json::parse(dump.out, nullptr, false).is_discarded()) << dump.out;
  EXPECT_EQ(cli({"dump"}).exit_code(), 0);
  expect_consistent_segment();

  // The library reads without a broker too.
  auto client = shmreg::Client::open({ns(), socket_path()});
  ASSERT_TRUE(client) << client.error().message;
  auto value = client->registry("svc")->lookup_value("held");
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, std::optional<std::string>("u-held"));

  // What needs the broker fails with exit 2, and says so.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ping"}, {"create", "later"}, {"register", "svc", "k", "v"}}) {
    RunResult r = cli(args);
    EXPECT_EQ(r.exit_code(), 2) << r.describe();
    EXPECT_FALSE(r.err.empty());
  }
}

TEST_F(BrokerRestartTest, ClientReconnectsToARestartedBrokerOnItsNextWrite) {
  auto client = shmreg::Client::open({ns(), socket_path()});
  ASSERT_TRUE(client) << client.error().message;
  ASSERT_TRUE(client->register_key("svc", "before", "1"));
  const auto broker_before = client->ping();
  ASSERT_TRUE(broker_before);

  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker());

  // The same Client object: its connection went away with the old broker.
  auto r = client->register_key("svc", "after", "2");
  ASSERT_TRUE(r) << r.error().message;
  const auto broker_after = client->ping();
  ASSERT_TRUE(broker_after);
  EXPECT_EQ(static_cast<pid_t>(*broker_after), broker().pid());
  EXPECT_NE(*broker_after, *broker_before);
  const auto me = ::getpid();
  EXPECT_EQ(cli_lookup("svc", "before"), (Lookup{{me, "1"}}));
  EXPECT_EQ(cli_lookup("svc", "after"), (Lookup{{me, "2"}}));
}

TEST_F(BrokerRestartTest, WriteWhileTheBrokerIsDownFailsCleanlyAndTheNextOneAfterRestartSucceeds) {
  auto client = shmreg::Client::open({ns(), socket_path()});
  ASSERT_TRUE(client) << client.error().message;
  ASSERT_TRUE(client->ping());

  ASSERT_TRUE(stop_broker());
  auto down = client->register_key("svc", "k", "v");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, shmreg::Errc::broker_unavailable) << down.error().message;
  EXPECT_FALSE(down.error().maybe_applied);
  EXPECT_EQ(cli_lookup("svc", "k"), Lookup{});

  ASSERT_TRUE(start_broker());
  auto up = client->register_key("svc", "k", "v");
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(cli_lookup("svc", "k"), (Lookup{{::getpid(), "v"}}));
}

}  // namespace
}  // namespace shmreg::test
