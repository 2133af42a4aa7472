// unregister_match: only the acting process's entries, only those whose
// value matches, and a malformed pattern or guard is an error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

using UnregisterMatch = ClientTest;
using Pairs = std::vector<std::pair<std::uint32_t, std::string>>;

TEST_F(UnregisterMatch, RemovesOnlyTheCallersMatchingEntries) {
  create("roles", false);
  Actor a = Actor::start(ns(), socket_path());
  Actor b = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready() && b.ready());
  const std::string primary = R"({"role":"primary","port":5432})";
  ASSERT_TRUE(is_ok(a.ask({"register", "roles", "db", primary})));
  ASSERT_TRUE(is_ok(b.ask({"register", "roles", "db", primary})));

  auto r = a.ask({"unregister_match", "roles", "db", R"({"role":"primary"})", ""});
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r[1], "1");
  EXPECT_EQ(entries("roles", "db"), (Pairs{{b.pid(), primary}}));
}

TEST_F(UnregisterMatch, LeavesAnEntryWhoseValueOrGuardDoesNotMatch) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "svc", "k", R"({"n":5})"})));

  auto none = a.ask({"unregister_match", "svc", "k", R"({"n":"$1"})", R"([[">","$1",10]])"});
  ASSERT_TRUE(is_ok(none));
  EXPECT_EQ(none[1], "0");
  EXPECT_EQ(entries("svc", "k"), (Pairs{{a.pid(), R"({"n":5})"}}));
  none = a.ask({"unregister_match", "svc", "k", R"({"m":"_"})", ""});
  EXPECT_EQ(none[1], "0");

  auto one = a.ask({"unregister_match", "svc", "k", R"({"n":"$1"})", R"([["<","$1",10]])"});
  ASSERT_TRUE(is_ok(one));
  EXPECT_EQ(one[1], "1");
  EXPECT_TRUE(entries("svc", "k").empty());
}

TEST_F(UnregisterMatch, AnInvalidPatternOrGuardIsAnInvalidArgumentWithTheReason) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "svc", "k", "1"})));

  auto bad_pattern = a.ask({"unregister_match", "svc", "k", "{not json", ""});
  EXPECT_EQ(errc_of(bad_pattern), "invalid_argument");
  EXPECT_NE(message_of(bad_pattern).find("not valid JSON"), std::string::npos) << message_of(bad_pattern);
  auto bad_guard = a.ask({"unregister_match", "svc", "k", R"("$1")", R"([["nope","$1"]])"});
  EXPECT_EQ(errc_of(bad_guard), "invalid_argument");
  EXPECT_NE(message_of(bad_guard).find("unknown guard"), std::string::npos) << message_of(bad_guard);
  auto unbound = a.ask({"unregister_match", "svc", "k", R"("_")", R"([[">","$2",0]])"});
  EXPECT_EQ(errc_of(unbound), "invalid_argument");
  EXPECT_EQ(entries("svc", "k"), (Pairs{{a.pid(), "1"}}));
}

// The client checks patterns before sending; the broker must not rely on it.
TEST_F(UnregisterMatch, TheBrokerItselfRejectsAnInvalidPattern) {
  create("svc", true);
  auto conn = RawConnection::connect(socket_path());
  ASSERT_TRUE(conn);
  auto results = conn->call({proto::UnregisterMatch{"svc", "k", "{not json", "", 0}});
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ(results->front().status, proto::Status::invalid_argument);
  EXPECT_NE(results->front().message.find("not valid JSON"), std::string::npos) << results->front().message;
}

TEST_F(UnregisterMatch, RemovesSomeOfOneProcesssEntriesUnderAKeyAndKeepsTheOthers) {
  create("subs", false);
  Actor a = Actor::start(ns(), socket_path());
  Actor b = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready() && b.ready());
  ASSERT_TRUE(is_ok(a.ask({"register", "subs", "topic", R"({"v":1})"})));
  ASSERT_TRUE(is_ok(a.ask({"register", "subs", "topic", R"({"v":2})"})));
  ASSERT_TRUE(is_ok(a.ask({"register", "subs", "topic", R"({"v":3})"})));
  ASSERT_TRUE(is_ok(b.ask({"register", "subs", "topic", R"({"v":1})"})));

  auto some = a.ask({"unregister_match", "subs", "topic", R"({"v":"$1"})", R"([["<","$1",3]])"});
  ASSERT_TRUE(is_ok(some)) << join_fields(some);
  EXPECT_EQ(some[1], "2");
  EXPECT_TRUE(entries_become("subs", "topic", {{a.pid(), R"({"v":3})"}, {b.pid(), R"({"v":1})"}}))
      << "only the caller's matching entries go";

  auto all = a.ask({"unregister_match", "subs", "topic", R"({"v":"$1"})", R"([[">","$1",0]])"});
  ASSERT_TRUE(is_ok(all));
  EXPECT_EQ(all[1], "1");
  EXPECT_TRUE(entries_become("subs", "topic", {{b.pid(), R"({"v":1})"}}));
}

TEST_F(UnregisterMatch, CliUnregisterMatchActsForTheGivenPid) {
  create("svc", true);
  Subprocess holder =
      Subprocess::spawn(cli_argv({"register", "svc", "db", R"({"state":"draining"})", "--", "sleep", "60"}));
  const auto hpid = static_cast<std::uint32_t>(holder.pid());
  ASSERT_TRUE(entries_become("svc", "db", {{hpid, R"({"state":"draining"})"}}));

  auto none = cli({"--json", "unregister-match", "svc", "db", R"({"state":"up"})", "--pid", std::to_string(hpid)});
  ASSERT_EQ(none.exit_code(), 0) << none.describe();
  EXPECT_EQ(nlohmann::json::parse(none.out)["removed"], 0);
  auto one = cli({"unregister-match", "svc", "db", R"({"state":"$1"})", R"([["==","$1","draining"]])", "--pid",
                  std::to_string(hpid)});
  ASSERT_EQ(one.exit_code(), 0) << one.describe();
  EXPECT_EQ(one.out, "removed 1\n");
  EXPECT_TRUE(entries("svc", "db").empty());
}

TEST_F(UnregisterMatch, CliUnregisterMatchWithoutPidOrWithABadPatternIsAnError) {
  create("svc", true);
  auto no_pid = cli({"unregister-match", "svc", "db", R"("_")"});
  EXPECT_EQ(no_pid.exit_code(), 2) << no_pid.describe();
  EXPECT_NE(no_pid.err.find("--pid"), std::string::npos) << no_pid.err;
  // A bare _ is the wildcard (its help says so); a pattern that is not JSON is refused.
  auto bad = cli({"--json", "unregister-match", "svc", "db", "{\"a\":", "--pid", std::to_string(::getpid())});
  EXPECT_EQ(bad.exit_code(), 2) << bad.describe();
  EXPECT_EQ(nlohmann::json::parse(bad.err)["error"], "invalid_argument") << bad.err;
}

}  // namespace
}  // namespace shmreg::test
