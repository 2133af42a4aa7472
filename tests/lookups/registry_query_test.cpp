// Read-side queries of libshmreg against a real broker and real owner
// processes: match, count_match, select, count_select, dispatch, keys and
// values, each for unique and duplicate registries with 1 and 8 partitions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "query_fixture.hpp"

namespace registry_query_test {
namespace {

using nlohmann::json;
using shmreg::Entry;
using shmreg::EntryView;
using shmreg::Errc;
using shmreg::queries::Actor;
using shmreg::queries::kRegistry;
using shmreg::queries::QueryTest;
using shmreg::test::join_fields;
using PidValues = std::vector<std::pair<std::uint32_t, std::string>>;

class RegistryQuery : public QueryTest {
 protected:
  // Owners of `key` with the given values: all of them on a duplicate
  // registry, only the first on a unique one (where a key has one owner).
  std::vector<Actor*> holders(const std::string& key, const std::vector<std::string>& values) {
    std::vector<Actor*> out;
    for (std::size_t i = 0; i < values.size() && (duplicate() || i == 0); ++i) {
      Actor& o = owner();
      EXPECT_TRUE(o.registers(kRegistry, key, values[i]));
      out.push_back(&o);
    }
    return out;
  }

  // (key, pid, value as JSON) of select results in the "$_" shape, sorted.
  static std::vector<std::tuple<std::string, std::uint32_t, json>> whole_entries(
      const std::vector<std::string>& results) {
    std::vector<std::tuple<std::string, std::uint32_t, json>> out;
    for (const auto& r : results) {
      const json j = json::parse(r);
      out.emplace_back(j.at("key").get<std::string>(), j.at("pid").get<std::uint32_t>(), j.at("value"));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

// -- lookup_batch and lookup_values ------------------------------------------------------

TEST_P(RegistryQuery, ABatchAnswersEveryKeyInOrderAsSingleLookupsDo) {
  holders("db", {"1", "2"});
  holders("cache", {"3"});
  const std::vector<std::string_view> keys{"cache", "nobody", "db", "", "db"};
  std::vector<PidValues> seen(keys.size());
  std::vector<std::size_t> order;
  auto n = reg().lookup_batch(keys, [&](std::size_t i, std::span<const EntryView> views) {
    if (order.empty() || order.back() != i) order.push_back(i);
    seen[i].clear();
    for (const auto& v : views) seen[i].emplace_back(v.pid, std::string(v.value));
    std::sort(seen[i].begin(), seen[i].end());
  });
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto single = reg().lookup(keys[i]);
    ASSERT_TRUE(single.has_value()) << single.error().message;
    EXPECT_EQ(seen[i], pairs(*single)) << "key '" << keys[i] << "'";
  }
  EXPECT_EQ(seen[2].size(), duplicate() ? 2u : 1u);
}

TEST_P(RegistryQuery, LookupValuesFillsOneSlotPerKeyAndReusesThem) {
  if (duplicate()) GTEST_SKIP() << "lookup_values reads unique keys";
  holders("db", {"10.0.0.5"});
  const std::vector<std::string_view> keys{"db", "nobody"};
  std::vector<std::optional<std::string>> out{std::string(64, 'x'), std::string("stale")};
  const char* room = out[0]->data();
  auto n = reg().lookup_values(keys, out);
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "10.0.0.5");
  EXPECT_EQ(out[0]->data(), room) << "the string's room is reused";
  EXPECT_EQ(out[1], std::nullopt);
  const std::vector<std::string_view> three{"nobody", "db", "db"};
  ASSERT_TRUE(reg().lookup_values(three, out).has_value());
  EXPECT_EQ(out, (std::vector<std::optional<std::string>>{std::nullopt, "10.0.0.5", "10.0.0.5"}));
}

// -- match and count_match ----------------------------------------------------------------

TEST_P(RegistryQuery, MatchReturnsTheEntriesUnderKeyWhoseValueMatches) {
  auto svc = holders("svc", {R"({"role":"db","port":5432})", R"({"role":"cache","port":6379})"});
  Actor& elsewhere = owner();
  ASSERT_TRUE(elsewhere.registers(kRegistry, "other", R"({"role":"db","port":1})"));

  auto db = reg().match("svc", R"({"role":"db"})");
  ASSERT_TRUE(db.has_value()) << db.error().message;
  EXPECT_EQ(pairs(*db), (PidValues{{svc[0]->pid(), R"({"role":"db","port":5432})"}}));
  ASSERT_EQ(db->size(), 1u);
  EXPECT_EQ((*db)[0].key, "svc");
  auto looked_up = reg().lookup("svc");
  ASSERT_TRUE(looked_up.has_value());
  EXPECT_NE(std::find(looked_up->begin(), looked_up->end(), (*db)[0]), looked_up->end())
      << "match returns the entry as lookup does, version included";

  auto all = reg().match("svc", R"("_")");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(pairs(*all), pairs(*looked_up));
  auto web = reg().match("svc", R"({"role":"web"})");
  ASSERT_TRUE(web.has_value());
  EXPECT_TRUE(web->empty());
}

TEST_P(RegistryQuery, MatchGuardsFilterOnTheVariablesThePatternBinds) {
  auto load = holders("load", {R"({"cpu":0.9})", R"({"cpu":0.2})", R"({"cpu":0.6})"});
  auto busy = reg().match("load", R"({"cpu":"$1"})", R"([[">", "$1", 0.5]])");
  ASSERT_TRUE(busy.has_value()) << busy.error().message;
  PidValues want_busy = {{load[0]->pid(), R"({"cpu":0.9})"}};
  if (duplicate()) want_busy.emplace_back(load[2]->pid(), R"({"cpu":0.6})");
  std::sort(want_busy.begin(), want_busy.end());
  EXPECT_EQ(pairs(*busy), want_busy);

  auto idle = reg().match("load", R"({"cpu":"$1"})", R"([["and", ["is_float", "$1"], ["<", "$1", 0.5]]])");
  ASSERT_TRUE(idle.has_value());
  EXPECT_EQ(pairs(*idle), (duplicate() ? PidValues{{load[1]->pid(), R"({"cpu":0.2})"}} : PidValues{}));
}

TEST_P(RegistryQuery, AVariableUsedTwiceInAPatternMatchesEqualValuesOnly) {
  auto pair = holders("pair", {"[7,7]", "[7,8]"});
  auto same = reg().match("pair", R"(["$1","$1"])");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(pairs(*same), (PidValues{{pair[0]->pid(), "[7,7]"}}));
}

TEST_P(RegistryQuery, MatchOnAKeyNobodyHoldsFindsNothing) {
  holders("held", {"1", "2"});
  for (const std::string& key : std::vector<std::string>{"absent", "", std::string(4096, 'k')}) {
    auto m = reg().match(key, R"("_")");
    ASSERT_TRUE(m.has_value()) << m.error().message;
    EXPECT_TRUE(m->empty());
    EXPECT_EQ(reg().count_match(key, R"("_")").value_or(99), 0u);
  }
}

TEST_P(RegistryQuery, MalformedPatternsAndGuardsAreErrorsNeverEmptyMatches) {
  holders("held", {"1", "2"});
  struct Case {
    const char* pattern;
    const char* guards;
    const char* reason;
  };
  for (const Case& c : {Case{"{", "", "pattern is not valid JSON"}, Case{R"("$x")", "", "is not a variable"},
                        Case{R"("$1")", R"([["between", "$1", 1, 2]])", "unknown guard"},
                        Case{R"("_")", R"([[">", "$1", 1]])", "does not bind"},
                        Case{R"("$1")", R"({">": 1})", "JSON array of guards"}}) {
    for (const std::string key : {"held", "absent"}) {
      auto m = reg().match(key, c.pattern, c.guards);
      ASSERT_FALSE(m.has_value()) << c.pattern << " " << c.guards;
      EXPECT_EQ(m.error().code, Errc::invalid_argument);
      EXPECT_NE(m.error().message.find(c.reason), std::string::npos) << m.error().message;
      auto n = reg().count_match(key, c.pattern, c.guards);
      ASSERT_FALSE(n.has_value());
      EXPECT_EQ(n.error().code, Errc::invalid_argument);
      EXPECT_EQ(n.error().message, m.error().message);
    }
  }
}

TEST_P(RegistryQuery, AValueThatIsNotJsonMatchesOnlyTheWildcard) {
  auto raw = holders("raw", {"plain text, not json", "{\"ok\":true}"});
  auto any = reg().match("raw", R"("_")");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->size(), duplicate() ? 2u : 1u);
  auto bound = reg().match("raw", R"("$1")");
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(pairs(*bound), (duplicate() ? PidValues{{raw[1]->pid(), "{\"ok\":true}"}} : PidValues{}));
  auto as_string = reg().match("raw", R"("plain text, not json")");
  ASSERT_TRUE(as_string.has_value());
  EXPECT_TRUE(as_string->empty()) << "the bytes are not a JSON string, so no JSON literal equals them";
}

TEST_P(RegistryQuery, CountMatchCountsWhatMatchReturns) {
  holders("n", {R"({"v":1})", R"({"v":2})", R"({"v":3})", "junk"});
  struct Query {
    const char* pattern;
    const char* guards;
  };
  for (const Query& q : {Query{R"("_")", ""}, Query{R"({"v":"$1"})", ""}, Query{R"({"v":"$1"})", R"([[">=", "$1", 2]])"},
                         Query{R"({"v":2})", ""}, Query{"[]", ""}}) {
    auto m = reg().match("n", q.pattern, q.guards);
    auto n = reg().count_match("n", q.pattern, q.guards);
    ASSERT_TRUE(m.has_value() && n.has_value());
    EXPECT_EQ(*n, m->size()) << q.pattern << " " << q.guards;
  }
}

// -- select and count_select ---------------------------------------------------------------

TEST_P(RegistryQuery, SelectingTheWholeEntryListsEveryEntryOfTheRegistry) {
  holders("a", {R"({"x":1})", R"({"x":2})"});
  holders("b", {"not json", "[1]"});
  holders("c", {"null"});
  auto results = reg().select(R"([{"match": {}, "return": "$_"}])");
  ASSERT_TRUE(results.has_value()) << results.error().message;
  auto listed = reg().list();
  ASSERT_TRUE(listed.has_value());
  std::vector<std::tuple<std::string, std::uint32_t, json>> want;
  for (const Entry& e : *listed) {
    json v = json::parse(e.value, nullptr, false);
    want.emplace_back(e.key, e.pid, v.is_discarded() ? json(e.value) : v);
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(whole_entries(*results), want);
  EXPECT_EQ(results->size(), duplicate() ? 5u : 3u);
}

TEST_P(RegistryQuery, SelectBuildsResultsFromVariablesBoundAcrossKeyPidAndValue) {
  auto db = holders("db", {R"({"name":"db","port":5432})", R"({"name":"db","port":5433})"});
  holders("cache", {R"({"name":"not-cache","port":6379})"});
  auto results = reg().select(
      R"([{"match": {"key": "$1", "pid": "$2", "value": {"name": "$1", "port": "$3"}},
           "return": {"key": "$1", "owner": "$2", "port": "$3"}}])");
  ASSERT_TRUE(results.has_value()) << results.error().message;
  std::vector<json> got;
  for (const auto& r : *results) got.push_back(json::parse(r));
  std::sort(got.begin(), got.end());
  std::vector<json> want = {{{"key", "db"}, {"owner", db[0]->pid()}, {"port", 5432}}};
  if (duplicate()) want.push_back({{"key", "db"}, {"owner", db[1]->pid()}, {"port", 5433}});
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_P(RegistryQuery, SelectTriesClausesInOrderAndTheFirstMatchWins) {
  holders("a", {R"({"role":"db"})", R"({"role":"cache"})"});
  holders("b", {"opaque bytes"});
  auto results = reg().select(R"([
      {"match": {"value": {"role": "db"}}, "return": "database"},
      {"match": {"value": {"role": "$1"}}, "return": "$1"},
      {"match": {}, "return": "other"}])");
  ASSERT_TRUE(results.has_value()) << results.error().message;
  std::multiset<std::string> got(results->begin(), results->end());
  std::multiset<std::string> want = {R"("database")", R"("other")"};
  if (duplicate()) want.insert(R"("cache")");
  EXPECT_EQ(got, want);
}

TEST_P(RegistryQuery, SelectWithLiteralKeysSeesTheEntriesOfThoseKeysOnly) {
  holders("a", {"1", "2"});
  holders("b", {"3"});
  holders("c", {"4", "5"});
  auto results = reg().select(R"([{"match": {"key": "a", "value": "$1"}, "return": "$1"},
                                  {"match": {"key": {"$literal": "c"}, "value": "$1"}, "return": "$1"}])");
  ASSERT_TRUE(results.has_value()) << results.error().message;
  std::multiset<std::string> got(results->begin(), results->end());
  const std::multiset<std::string> want =
      duplicate() ? std::multiset<std::string>{"1", "2", "4", "5"} : std::multiset<std::string>{"1", "4"};
  EXPECT_EQ(got, want);
  auto none = reg().select(R"([{"match": {"key": "absent"}}])");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_P(RegistryQuery, CountSelectCountsWhatSelectReturns) {
  holders("a", {R"({"v":1})", R"({"v":2})"});
  holders("b", {R"({"v":3})", "junk"});
  for (const char* spec :
       {R"([{"match": {}}])", R"([{"match": {"value": {"v": "$1"}}, "guards": [[">", "$1", 1]]}])",
        R"([{"match": {"key": "b"}}])", R"([{"match": {"key": "a"}}, {"match": {"key": "b"}}])",
        R"([{"match": {"value": "nothing"}}])", "[]"}) {
    auto s = reg().select(spec);
    auto n = reg().count_select(spec);
    ASSERT_TRUE(s.has_value() && n.has_value()) << spec;
    EXPECT_EQ(*n, s->size()) << spec;
  }
}

TEST_P(RegistryQuery, MalformedSelectSpecsAreErrorsWithTheirReason) {
  holders("a", {"1"});
  for (const auto& [spec, reason] : std::vector<std::pair<std::string, std::string>>{
           {"{", "not valid JSON"},
           {R"({"match": {}})", "JSON array of clauses"},
           {R"([{"match": {"owner": "$1"}}])", "unknown \"match\" member"},
           {R"([{"match": {"key": 5}}])", "matched as a string"},
           {R"([{"match": {}, "return": "$1"}])", "does not bind"}}) {
    auto s = reg().select(spec);
    ASSERT_FALSE(s.has_value()) << spec;
    EXPECT_EQ(s.error().code, Errc::invalid_argument);
    EXPECT_NE(s.error().message.find(reason), std::string::npos) << s.error().message;
    auto n = reg().count_select(spec);
    ASSERT_FALSE(n.has_value()) << spec;
    EXPECT_EQ(n.error().code, Errc::invalid_argument);
  }
}

// -- dispatch ------------------------------------------------------------------------------

struct Call {
  std::vector<std::pair<std::uint32_t, std::string>> entries;  // sorted (pid, value)
};

// Checks the calls dispatch made for key: together they saw exactly the
// entries that lookup sees; each call saw one partition (pid % partitions on
// a duplicate registry), and no partition was seen by two calls.
::testing::AssertionResult calls_cover_partitions(const std::vector<Call>& calls, const std::vector<Entry>& entries,
                                                  bool duplicate, std::uint32_t partitions) {
  PidValues all;
  std::set<std::uint32_t> partitions_seen;
  for (const Call& c : calls) {
    if (c.entries.empty()) return ::testing::AssertionFailure() << "a call saw no entries";
    const std::uint32_t p = duplicate ? c.entries.front().first % partitions : 0;
    for (const auto& e : c.entries)
      if ((duplicate ? e.first % partitions : 0) != p)
        return ::testing::AssertionFailure() << "one call saw pids of two partitions";
    if (!partitions_seen.insert(p).second) return ::testing::AssertionFailure() << "partition " << p << " seen twice";
    all.insert(all.end(), c.entries.begin(), c.entries.end());
  }
  std::sort(all.begin(), all.end());
  PidValues want;
  for (const auto& e : entries) want.emplace_back(e.pid, e.value);
  std::sort(want.begin(), want.end());
  if (all != want) return ::testing::AssertionFailure() << "the calls saw other entries than lookup";
  return ::testing::AssertionSuccess();
}

Call call_of(std::span<const EntryView> views) {
  Call c;
  for (const auto& v : views) c.entries.emplace_back(v.pid, std::string(v.value));
  std::sort(c.entries.begin(), c.entries.end());
  return c;
}

TEST_P(RegistryQuery, DispatchCallsBackOncePerPartitionHoldingEntriesUnderTheKey) {
  holders("topic", {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10"});
  holders("elsewhere", {"x"});
  std::vector<Call> calls;
  auto n = reg().dispatch("topic", [&](std::span<const EntryView> views) { calls.push_back(call_of(views)); });
  ASSERT_TRUE(n.has_value()) << n.error().message;
  auto entries = reg().lookup("topic");
  ASSERT_TRUE(entries.has_value());
  EXPECT_EQ(*n, entries->size());
  EXPECT_TRUE(calls_cover_partitions(calls, *entries, duplicate(), GetParam().partitions));
  if (!duplicate() || GetParam().partitions == 1) {
    EXPECT_EQ(calls.size(), 1u);
  }
  for (const auto& v : calls) {
    for (const auto& e : v.entries) EXPECT_NE(e.second, "x");
  }
}

TEST_P(RegistryQuery, DispatchInParallelDeliversTheSameEntriesInTheSameGroups) {
  holders("topic", {"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12"});
  std::mutex mu;
  std::vector<Call> calls;
  auto n = reg().dispatch(
      "topic",
      [&](std::span<const EntryView> views) {
        Call c = call_of(views);
        std::lock_guard<std::mutex> lock(mu);
        calls.push_back(std::move(c));
      },
      shmreg::DispatchOptions{.parallel = true});
  ASSERT_TRUE(n.has_value()) << n.error().message;
  auto entries = reg().lookup("topic");
  ASSERT_TRUE(entries.has_value());
  EXPECT_TRUE(calls_cover_partitions(calls, *entries, duplicate(), GetParam().partitions));
}

TEST_P(RegistryQuery, DispatchOnAKeyNobodyHoldsNeverCallsBack) {
  holders("topic", {"a"});
  int calls = 0;
  auto n = reg().dispatch("absent", [&](std::span<const EntryView>) { ++calls; });
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(calls, 0);
}

TEST_P(RegistryQuery, ADispatchCallbackMayRunLookupsOfItsOwn) {
  holders("topic", {"t1", "t2", "t3", "t4"});
  holders("other", {"o1", "o2", "o3"});
  bool intact = true;
  auto n = reg().dispatch("topic", [&](std::span<const EntryView> views) {
    const Call before = call_of(views);
    auto other = reg().lookup("other");
    auto matched = reg().match("other", R"("_")");
    intact = intact && other.has_value() && matched.has_value() && call_of(views).entries == before.entries;
  });
  ASSERT_TRUE(n.has_value());
  EXPECT_TRUE(intact) << "the views a callback holds survive its own lookups";
}

// -- keys and values -----------------------------------------------------------------------

TEST_P(RegistryQuery, KeysListsTheKeysOfOneProcessOnly) {
  Actor& a = owner();
  Actor& b = owner();
  ASSERT_TRUE(a.registers(kRegistry, "a1", "1"));
  ASSERT_TRUE(a.registers(kRegistry, "a2", "2"));
  ASSERT_TRUE(b.registers(kRegistry, "b1", "3"));
  auto keys = reg().keys(a.pid());
  ASSERT_TRUE(keys.has_value());
  std::sort(keys->begin(), keys->end());
  EXPECT_EQ(*keys, (std::vector<std::string>{"a1", "a2"}));
  auto none = reg().keys(static_cast<std::uint32_t>(::getpid()));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty()) << "a process without entries has no keys";
}

TEST_P(RegistryQuery, ARegistrationRepeatedByOneProcessFollowsTheKindOfRegistry) {
  Actor& a = owner();
  ASSERT_TRUE(a.registers(kRegistry, "k", "first"));
  const auto again = a.ask({"register", kRegistry, "k", "second"});
  if (duplicate()) {
    // Elixir: a duplicate registry keeps both, and keys/2 lists the key twice.
    EXPECT_EQ(again[0], "ok") << join_fields(again);
    auto keys = reg().keys(a.pid());
    ASSERT_TRUE(keys.has_value());
    EXPECT_EQ(*keys, (std::vector<std::string>{"k", "k"}));
    auto values = reg().values("k", a.pid());
    ASSERT_TRUE(values.has_value());
    EXPECT_EQ(pairs(*values), (PidValues{{a.pid(), "first"}, {a.pid(), "second"}}));
  } else {
    // Elixir: {:error, {:already_registered, self()}}.
    ASSERT_GE(again.size(), 3u) << join_fields(again);
    EXPECT_EQ(again[0], "error");
    EXPECT_EQ(again[1], "already_registered");
    EXPECT_EQ(again[2], std::to_string(a.pid()));
    auto keys = reg().keys(a.pid());
    ASSERT_TRUE(keys.has_value());
    EXPECT_EQ(*keys, (std::vector<std::string>{"k"}));
    auto values = reg().values("k", a.pid());
    ASSERT_TRUE(values.has_value());
    EXPECT_EQ(pairs(*values), (PidValues{{a.pid(), "first"}}));
  }
}

TEST_P(RegistryQuery, ValuesReturnsOnlyTheGivenProcesssEntriesUnderTheKey) {
  auto k = holders("k", {"mine", "theirs"});
  Actor& a = *k[0];
  ASSERT_TRUE(a.registers(kRegistry, "other", "elsewhere"));
  auto values = reg().values("k", a.pid());
  ASSERT_TRUE(values.has_value());
  EXPECT_EQ(pairs(*values), (PidValues{{a.pid(), "mine"}}));
  ASSERT_EQ(values->size(), 1u);
  EXPECT_EQ((*values)[0].key, "k");
  if (duplicate()) {
    auto theirs = reg().values("k", k[1]->pid());
    ASSERT_TRUE(theirs.has_value());
    EXPECT_EQ(pairs(*theirs), (PidValues{{k[1]->pid(), "theirs"}}));
  }
  for (const auto& [key, pid] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"absent", a.pid()}, {"k", static_cast<std::uint32_t>(::getpid())}}) {
    auto none = reg().values(key, pid);
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->empty()) << key << " " << pid;
  }
}

// -- lifecycle -----------------------------------------------------------------------------

TEST_P(RegistryQuery, QueriesStopSeeingAProcessOnceItIsKilled) {
  auto topic = holders("topic", {R"({"n":1})", R"({"n":2})"});
  Actor& victim = *topic[0];
  ASSERT_TRUE(victim.registers(kRegistry, "own", R"({"n":3})"));
  const std::uint32_t pid = victim.pid();
  ASSERT_TRUE(victim.process().kill_and_wait().has_value());
  const std::string spec = R"([{"match": {"pid": )" + std::to_string(pid) + "}}]";
  const bool gone = shmreg::test::wait_until([&] {
    auto m = reg().match("topic", R"({"n":"$1"})");
    auto s = reg().select(spec);
    auto keys = reg().keys(pid);
    auto values = reg().values("topic", pid);
    bool dispatched_to_victim = false;
    auto d = reg().dispatch("topic", [&](std::span<const EntryView> views) {
      for (const auto& v : views) dispatched_to_victim |= v.pid == pid;
    });
    if (!m || !s || !keys || !values || !d) return false;
    for (const auto& e : *m)
      if (e.pid == pid) return false;
    return s->empty() && keys->empty() && values->empty() && !dispatched_to_victim;
  });
  EXPECT_TRUE(gone) << "entries of pid " << pid << " still visible";
  auto left = reg().count_match("topic", R"("_")");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, duplicate() ? 1u : 0u);
}

TEST_P(RegistryQuery, QueriesSeeAnUnregisterAsSoonAsItReturns) {
  auto topic = holders("topic", {"1", "2"});
  ASSERT_TRUE(topic[0]->unregisters(kRegistry, "topic"));
  auto m = reg().match("topic", R"("_")");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->size(), duplicate() ? 1u : 0u);
  auto n = reg().count_select(R"([{"match": {"key": "topic"}}])");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, duplicate() ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RegistryQuery, shmreg::queries::kShapes, shmreg::queries::shape_name);

}  // namespace
}  // namespace registry_query_test
