// lookup_consistent: entries whose owners the broker has just verified alive.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"

namespace shmreg::test {
namespace {

using LookupConsistent = ClientTest;
using Pairs = std::vector<std::pair<std::uint32_t, std::string>>;

std::string listed(const Actor& a, const std::string& value) { return std::to_string(a.pid()) + "=" + value; }

TEST_F(LookupConsistent, ReturnsTheEntriesOfLiveOwners) {
  create("workers", false);
  Actor a = Actor::start(ns(), socket_path());
  Actor b = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready() && b.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "workers", "pool", "a"})));
  ASSERT_TRUE(is_ok(b.ask({"register", "workers", "pool", "b"})));

  auto r = a.ask({"lookup_consistent", "workers", "pool"});
  ASSERT_TRUE(is_ok(r));
  ASSERT_EQ(r.size(), 2u);
  const bool a_first = r[1] == listed(a, "a") + "," + listed(b, "b");
  const bool b_first = r[1] == listed(b, "b") + "," + listed(a, "a");
  EXPECT_TRUE(a_first || b_first) << r[1];
}

// The broker is stopped (SIGSTOP) while an owner dies, so the segment still
// holds the dead owner's entry: a plain lookup shows it. A consistent lookup
// sent meanwhile is answered once the broker runs again, and never with it.
TEST_F(LookupConsistent, NeverReturnsAnOwnerThatHasDied) {
  create("workers", false);
  Actor doomed = Actor::start(ns(), socket_path());
  Actor survivor = Actor::start(ns(), socket_path());
  Actor asker = Actor::start(ns(), socket_path());
  ASSERT_TRUE(doomed.ready() && survivor.ready() && asker.ready());
  ASSERT_TRUE(is_ok(doomed.ask({"register", "workers", "pool", "doomed"})));
  ASSERT_TRUE(is_ok(survivor.ask({"register", "workers", "pool", "survivor"})));
  ASSERT_TRUE(is_ok(asker.ask({"lookup_consistent", "workers", "pool"})));  // connected before the stop

  ASSERT_EQ(::kill(broker().pid(), SIGSTOP), 0);
  const auto doomed_pid = static_cast<std::uint32_t>(doomed.pid());
  ASSERT_TRUE(doomed.process().kill_and_wait());
  auto stale = entries("workers", "pool");
  std::sort(stale.begin(), stale.end());
  Pairs both{{doomed_pid, "doomed"}, {survivor.pid(), "survivor"}};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(stale, both) << "the stopped broker cannot have reaped yet";
  ASSERT_TRUE(asker.send({"lookup_consistent", "workers", "pool"}));
  ASSERT_EQ(::kill(broker().pid(), SIGCONT), 0);

  auto r = asker.answer();
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r[1], listed(survivor, "survivor"));
  EXPECT_TRUE(entries_become("workers", "pool", {{survivor.pid(), "survivor"}}));
}

TEST_F(LookupConsistent, OfAnAbsentKeyIsEmptyAndOfAnAbsentRegistryIsRegistryNotFound) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  auto empty = a.ask({"lookup_consistent", "svc", "nothing"});
  ASSERT_TRUE(is_ok(empty));
  EXPECT_EQ(empty[1], "");
  EXPECT_EQ(errc_of(a.ask({"lookup_consistent", "nope", "k"})), "registry_not_found");
}

TEST_F(LookupConsistent, WhoseEntriesExceedOneReplyIsReplyTooLarge) {
  constexpr std::uint32_t kValue = 1u << 20;  // the largest value a registry allows
  Actor a = Actor::start(ns(), socket_path());
  Actor b = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready() && b.ready());
  ASSERT_TRUE(is_ok(a.ask({"create", "big", "duplicate", std::to_string(kValue), "2"})));
  ASSERT_TRUE(is_ok(a.ask({"register_filled", "big", "k", std::to_string(kValue)})));
  auto one = a.ask({"lookup_consistent", "big", "k"});
  ASSERT_TRUE(is_ok(one));  // one maximal entry fits
  ASSERT_TRUE(is_ok(b.ask({"register_filled", "big", "k", std::to_string(kValue)})));
  auto two = a.ask({"lookup_consistent", "big", "k"});
  EXPECT_EQ(errc_of(two), "reply_too_large") << join_fields(two).substr(0, 200);
  EXPECT_EQ(entries("big", "k").size(), 2u);  // a plain lookup has no such limit
}

TEST_F(LookupConsistent, CliLookupConsistentPrintsLikeLookup) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "svc", "db", "host=a"})));

  EXPECT_EQ(cli_ok({"lookup", "--consistent", "svc", "db"}), cli_ok({"lookup", "svc", "db"}));
  auto j = nlohmann::json::parse(cli_ok({"--json", "lookup", "--consistent", "svc", "db"}));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["pid"], a.pid());
  EXPECT_EQ(j[0]["value"], "host=a");
  EXPECT_EQ(cli({"lookup", "--consistent", "svc", "absent"}).exit_code(), 1);
  EXPECT_EQ(cli({"lookup", "--consistent", "nope", "db"}).exit_code(), 2);
}

}  // namespace
}  // namespace shmreg::test
