// update_value and set_value from real processes, and `shmreg update`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"

namespace shmreg::test {
namespace {

using UpdateValue = ClientTest;

TEST_F(UpdateValue, ReplacesTheCallersValueReturnsTheOldOneAndIsSeenByOthersOnReturn) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  auto reg = a.ask({"register", "svc", "db", "host=a"});
  ASSERT_TRUE(is_ok(reg));

  auto up = a.ask({"update", "svc", "db", "host=b"});
  ASSERT_TRUE(is_ok(up));
  ASSERT_EQ(up.size(), 4u);
  EXPECT_GT(std::stoull(up[1]), std::stoull(reg[1]));  // a new version
  EXPECT_EQ(up[2], "host=a");
  EXPECT_EQ(up[3], "host=b");
  // Read-your-writes across processes: no waiting once the update returned.
  EXPECT_EQ(entries("svc", "db"), (std::vector<std::pair<std::uint32_t, std::string>>{{a.pid(), "host=b"}}));
}

TEST_F(UpdateValue, OfAKeyAnotherProcessOwnsIsNotFoundAndChangesNothing) {
  create("svc", true);
  Actor owner = Actor::start(ns(), socket_path());
  Actor other = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready() && other.ready());
  ASSERT_TRUE(is_ok(owner.ask({"register", "svc", "db", "mine"})));

  auto up = other.ask({"update", "svc", "db", "stolen"});
  EXPECT_EQ(errc_of(up), "not_found") << join_fields(up);
  EXPECT_EQ(entries("svc", "db"), (std::vector<std::pair<std::uint32_t, std::string>>{{owner.pid(), "mine"}}));
}

TEST_F(UpdateValue, OfAKeyNobodyHoldsIsNotFound) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  EXPECT_EQ(errc_of(a.ask({"update", "svc", "nothing", "x"})), "not_found");
  EXPECT_EQ(errc_of(a.ask({"set", "svc", "nothing", "x", "-"})), "not_found");
}

TEST_F(UpdateValue, OnADuplicateRegistryIsAnInvalidArgument) {
  create("topics", false);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "topics", "t", "1"})));
  auto up = a.ask({"update", "topics", "t", "2"});
  EXPECT_EQ(errc_of(up), "invalid_argument");
  EXPECT_NE(message_of(up).find("unique"), std::string::npos) << message_of(up);
  // The broker says the same to a set_value that skips the client's check.
  EXPECT_EQ(errc_of(a.ask({"set", "topics", "t", "2", "-"})), "invalid_argument");
}

TEST_F(UpdateValue, SetValueAtAStaleVersionIsAVersionConflictAndChangesNothing) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  auto reg = a.ask({"register", "svc", "k", "v1"});
  ASSERT_TRUE(is_ok(reg));
  auto set = a.ask({"set", "svc", "k", "v2", reg[1]});
  ASSERT_TRUE(is_ok(set));

  auto stale = a.ask({"set", "svc", "k", "v3", reg[1]});
  EXPECT_EQ(errc_of(stale), "version_conflict") << join_fields(stale);
  EXPECT_EQ(entries("svc", "k"), (std::vector<std::pair<std::uint32_t, std::string>>{{a.pid(), "v2"}}));
  EXPECT_TRUE(is_ok(a.ask({"set", "svc", "k", "v3", set[1]})));
  EXPECT_TRUE(is_ok(a.ask({"set", "svc", "k", "v4", "-"})));  // no expected version: unconditional
  EXPECT_EQ(entries("svc", "k"), (std::vector<std::pair<std::uint32_t, std::string>>{{a.pid(), "v4"}}));
}

TEST_F(UpdateValue, ConcurrentUpdatesFromManyThreadsOfOneProcessLoseNoIncrement) {
  create("counters", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "counters", "hits", "0"})));
  // Four threads share one connection and race on one entry: every conflict
  // must be retried, none may overwrite another thread's increment.
  ASSERT_TRUE(is_ok(a.ask({"increment", "counters", "hits", "50", "4"})));
  EXPECT_EQ(entries("counters", "hits"), (std::vector<std::pair<std::uint32_t, std::string>>{{a.pid(), "200"}}));
}

TEST_F(UpdateValue, AnUpdateFunctionThatThrowsChangesNothing) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "svc", "k", "before"})));
  EXPECT_EQ(errc_of(a.ask({"update_throwing", "svc", "k"})), "invalid_argument");
  EXPECT_EQ(entries("svc", "k"), (std::vector<std::pair<std::uint32_t, std::string>>{{a.pid(), "before"}}));
}

TEST_F(UpdateValue, ForAnotherProcessChangesThatProcesssEntryWhichStaysItsOwn) {
  create("svc", true);
  ForkedChild target = start_bystander();
  ASSERT_EQ(target.receive(), std::optional<std::string>("ready"));
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  const std::string tpid = std::to_string(target.pid());
  ASSERT_TRUE(is_ok(a.ask({"register_for", tpid, "svc", "k", "old"})));
  auto up = a.ask({"update", "svc", "k", "new", tpid});
  ASSERT_TRUE(is_ok(up));
  EXPECT_EQ(up[2], "old");
  EXPECT_EQ(entries("svc", "k"),
            (std::vector<std::pair<std::uint32_t, std::string>>{{static_cast<std::uint32_t>(target.pid()), "new"}}));
  // The caller's own entry under the key: none.
  EXPECT_EQ(errc_of(a.ask({"update", "svc", "k", "mine"})), "not_found");
}

// -- the CLI -------------------------------------------------------------------------------------

TEST_F(UpdateValue, CliUpdateChangesTheEntryOfARegisterCommandChild) {
  create("svc", true);
  Subprocess holder = Subprocess::spawn(cli_argv({"register", "svc", "db", "v1", "--", "sleep", "60"}));
  const auto hpid = static_cast<std::uint32_t>(holder.pid());
  ASSERT_TRUE(entries_become("svc", "db", {{hpid, "v1"}}));

  auto r = cli({"--json", "update", "svc", "db", "v2", "--pid", std::to_string(hpid)});
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["old_value"], "v1");
  EXPECT_EQ(j["value"], "v2");
  EXPECT_EQ(j["pid"], hpid);
  EXPECT_EQ(entries("svc", "db"), (std::vector<std::pair<std::uint32_t, std::string>>{{hpid, "v2"}}));

  // A compare-and-set at a version the entry has left: exit 4, nothing changes.
  const auto version = j["version"].get<std::uint64_t>();
  auto stale = cli({"update", "svc", "db", "v3", "--pid", std::to_string(hpid), "--expect-version",
                    std::to_string(version - 1)});
  EXPECT_EQ(stale.exit_code(), 4) << stale.describe();
  auto ok = cli({"update", "svc", "db", "v3", "--pid", std::to_string(hpid), "--expect-version",
                 std::to_string(version)});
  EXPECT_EQ(ok.exit_code(), 0) << ok.describe();
  EXPECT_EQ(entries("svc", "db"), (std::vector<std::pair<std::uint32_t, std::string>>{{hpid, "v3"}}));
}

TEST_F(UpdateValue, CliUpdateWithoutPidExplainsThatTheCliOwnsNothing) {
  create("svc", true);
  auto r = cli({"update", "svc", "db", "v"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find("--pid"), std::string::npos) << r.err;
}

TEST_F(UpdateValue, CliUpdateOfAnEntryThePidDoesNotHoldExitsOne) {
  create("svc", true);
  ForkedChild target = start_bystander();
  ASSERT_EQ(target.receive(), std::optional<std::string>("ready"));
  auto r = cli({"--json", "update", "svc", "db", "v", "--pid", std::to_string(target.pid())});
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_EQ(nlohmann::json::parse(r.err)["error"], "not_found") << r.err;
}

}  // namespace
}  // namespace shmreg::test
