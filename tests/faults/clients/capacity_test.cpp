// A segment filled up: a registry at its capacity, the owner table at
// --owner-capacity with real processes, the arena with registries. Each
// refusal is its own `full` code with a message that names the limit and its
// value, and the broker serves on; a place freed is taken again.
#include <gtest/gtest.h>

#include <vector>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

constexpr int kOwnerCapacity = 4;

class CapacityFaults : public BrokerTest {
 protected:
  std::vector<std::string> broker_args() const override {
    return {"--segment-size", "2M", "--owner-capacity", std::to_string(kOwnerCapacity)};
  }
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc", "--capacity", "64"});
  }
  static ::testing::AssertionResult refused_naming(const std::vector<std::string>& answer, const std::string& errc,
                                                   const std::vector<std::string>& words) {
    if (errc_of(answer) != errc) return ::testing::AssertionFailure() << "answer: " << join_fields(answer);
    for (const std::string& w : words)
      if (message_of(answer).find(w) == std::string::npos)
        return ::testing::AssertionFailure() << "'" << w << "' missing from: " << message_of(answer);
    return ::testing::AssertionSuccess();
  }
};

TEST_F(CapacityFaults, AFullRegistryRefusesNamingItsCapacityAndTakesAFreedPlaceAgain) {
  cli_ok({"create", "small", "--capacity", "3"});
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(owner.registers("small", "k" + std::to_string(i), "v"));
  EXPECT_TRUE(refused_naming(owner.ask({"register", "small", "k3", "v"}), "registry_full",
                             {"registry 'small' is full", "capacity is 3 entries"}));
  EXPECT_EQ(cli_count("small"), 3);

  // The broker serves on, the same owner included.
  ASSERT_TRUE(owner.registers("svc", "elsewhere", "v"));
  ASSERT_TRUE(owner.unregisters("small", "k0"));
  // The freed place is reused once its grace period has passed.
  EXPECT_TRUE(wait_until([&] { return is_ok(owner.ask({"register", "small", "k3", "v"})); }));
  EXPECT_EQ(cli_count("small"), 3);
}

TEST_F(CapacityFaults, AFullOwnerTableRefusesANewProcessNamingOwnerCapacityAndTakesItOnceAnOwnerDies) {
  std::vector<Actor> owners;
  for (int i = 0; i < kOwnerCapacity; ++i) {
    owners.push_back(Actor::start(ns(), socket_path()));
    ASSERT_TRUE(owners.back().ready());
    ASSERT_TRUE(owners.back().registers("svc", "owner-" + std::to_string(i), "v"));
  }
  Actor late = Actor::start(ns(), socket_path());
  ASSERT_TRUE(late.ready());
  EXPECT_TRUE(refused_naming(late.ask({"register", "svc", "late", "v"}), "owner_table_full",
                             {"at most " + std::to_string(kOwnerCapacity) + " owner processes", "--owner-capacity"}));
  // Owners already in the table still register more.
  EXPECT_TRUE(owners.front().registers("svc", "second-of-0", "v"));
  EXPECT_EQ(cli_count("svc"), kOwnerCapacity + 1);

  ASSERT_TRUE(owners.back().process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return is_ok(late.ask({"register", "svc", "late", "v"})); })) << broker().log();
  EXPECT_EQ(cli_lookup("svc", "late"), (Lookup{{late.pid(), "v"}}));
}

TEST_F(CapacityFaults, AFullArenaRefusesANewRegistryNamingTheSegmentSizeAndServesOn) {
  RunResult refused;
  for (int i = 0; i < 64; ++i) {
    refused = cli({"create", "big-" + std::to_string(i), "--capacity", "1024", "--max-value", "256"});
    if (refused.exit_code() != 0) break;
  }
  ASSERT_NE(refused.exit_code(), 0) << "64 registries fit a 2 MiB segment";
  EXPECT_NE(refused.err.find("segment is full"), std::string::npos) << refused.describe();
  EXPECT_NE(refused.err.find(" bytes does not fit in the "), std::string::npos) << refused.describe();
  EXPECT_NE(refused.err.find("arena bytes left"), std::string::npos) << refused.describe();
  EXPECT_NE(refused.err.find("--segment-size"), std::string::npos) << refused.describe();

  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "after-full", "v"));
  EXPECT_EQ(cli_lookup("svc", "after-full"), (Lookup{{owner.pid(), "v"}}));
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();
}

}  // namespace
}  // namespace shmreg::test
