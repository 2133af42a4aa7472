// The query commands of the `shmreg` CLI (match, count-match, select,
// count-select, values): output, --json and exit codes, against a real broker
// and owner processes, for every registry shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "query_fixture.hpp"

namespace cli_query_test {
namespace {

using nlohmann::json;
using shmreg::queries::Actor;
using shmreg::queries::kRegistry;
using shmreg::queries::QueryTest;

constexpr int kOk = 0;
constexpr int kNone = 1;
constexpr int kError = 2;

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

class CliQuery : public QueryTest {
 protected:
  // Two owners under "svc" on a duplicate registry (one on a unique one),
  // and a third under "other".
  void SetUp() override {
    QueryTest::SetUp();
    if (HasFatalFailure()) return;
    db_ = &owner();
    ASSERT_TRUE(db_->registers(kRegistry, "svc", R"({"role":"db","port":5432})"));
    cache_ = &owner();
    ASSERT_TRUE(cache_->registers(kRegistry, duplicate() ? "svc" : "svc2", R"({"role":"cache","port":6379})"));
    ASSERT_TRUE(cache_->registers(kRegistry, "other", "plain text"));
  }

  std::string pid_value(Actor* o, const std::string& value) const { return std::to_string(o->pid()) + "\t" + value; }

  Actor* db_ = nullptr;
  Actor* cache_ = nullptr;
};

TEST_P(CliQuery, MatchPrintsPidAndValueOfEachMatchAndExitsOneWhenNoneMatch) {
  auto r = cli({"match", "q", "svc", R"({"port":"$1"})", R"([[">", "$1", 6000]])"});
  if (duplicate()) {
    ASSERT_EQ(r.exit_code(), kOk) << r.describe();
    EXPECT_EQ(r.out, pid_value(cache_, R"({"role":"cache","port":6379})") + "\n");
  } else {
    EXPECT_EQ(r.exit_code(), kNone) << r.describe();
    EXPECT_EQ(r.out, "");
  }
  std::vector<std::string> want = {pid_value(db_, R"({"role":"db","port":5432})")};
  if (duplicate()) want.push_back(pid_value(cache_, R"({"role":"cache","port":6379})"));
  std::sort(want.begin(), want.end());
  for (const std::string wildcard : {R"("_")", "_"}) {
    auto all = cli({"match", "q", "svc", wildcard});
    ASSERT_EQ(all.exit_code(), kOk) << wildcard << ": " << all.describe();
    EXPECT_EQ(sorted_lines(all.out), want) << wildcard;
  }
  EXPECT_EQ(cli({"match", "q", "absent", R"("_")"}).exit_code(), kNone);
}

TEST_P(CliQuery, MatchWithJsonPrintsEntriesAsAnArray) {
  auto r = cli({"--json", "match", "q", "svc", R"({"role":"db"})"});
  ASSERT_EQ(r.exit_code(), kOk) << r.describe();
  const json out = json::parse(r.out);
  ASSERT_TRUE(out.is_array());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("pid"), db_->pid());
  EXPECT_EQ(out[0].at("value"), R"({"role":"db","port":5432})");
  EXPECT_TRUE(out[0].at("version").is_number_unsigned());
  auto none = cli({"--json", "match", "q", "svc", R"({"role":"web"})"});
  EXPECT_EQ(none.exit_code(), kNone);
  EXPECT_EQ(json::parse(none.out), json::array());
}

TEST_P(CliQuery, AnInvalidPatternOrGuardExitsTwoWithTheReasonOnStderr) {
  auto r = cli({"match", "q", "svc", R"({"role":)"});
  EXPECT_EQ(r.exit_code(), kError) << r.describe();
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("pattern is not valid JSON"), std::string::npos) << r.err;
  auto g = cli({"--json", "count-match", "q", "svc", R"("$1")", R"([["near", "$1", 1]])"});
  EXPECT_EQ(g.exit_code(), kError) << g.describe();
  const json err = json::parse(g.err);
  EXPECT_EQ(err.at("error"), "invalid_argument");
  EXPECT_NE(err.at("message").get<std::string>().find("unknown guard 'near'"), std::string::npos);
}

TEST_P(CliQuery, CountMatchPrintsTheCountAndExitsZeroEvenForNone) {
  auto r = cli({"count-match", "q", "svc", R"("_")"});
  ASSERT_EQ(r.exit_code(), kOk) << r.describe();
  EXPECT_EQ(r.out, duplicate() ? "2\n" : "1\n");
  auto none = cli({"--json", "count-match", "q", "svc", R"({"role":"web"})"});
  ASSERT_EQ(none.exit_code(), kOk) << none.describe();
  EXPECT_EQ(json::parse(none.out), json({{"registry", "q"}, {"key", "svc"}, {"count", 0}}));
}

TEST_P(CliQuery, SelectPrintsOneJsonResultPerLineOrAnArrayWithJson) {
  const std::string spec = R"([{"match": {"key": "$1", "pid": "$2", "value": {"role": "$3"}}, "return": ["$1", "$2", "$3"]}])";
  auto r = cli({"select", "q", spec});
  ASSERT_EQ(r.exit_code(), kOk) << r.describe();
  std::vector<json> got;
  for (const auto& line : sorted_lines(r.out)) got.push_back(json::parse(line));
  std::sort(got.begin(), got.end());
  std::vector<json> want = {json{"svc", db_->pid(), "db"}, json{duplicate() ? "svc" : "svc2", cache_->pid(), "cache"}};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want) << "'other' holds plain text, which only \"_\" matches";

  auto as_json = cli({"--json", "select", "q", spec});
  ASSERT_EQ(as_json.exit_code(), kOk) << as_json.describe();
  json arr = json::parse(as_json.out);
  ASSERT_TRUE(arr.is_array());
  std::vector<json> got_json(arr.begin(), arr.end());
  std::sort(got_json.begin(), got_json.end());
  EXPECT_EQ(got_json, want);

  auto none = cli({"select", "q", R"([{"match": {"key": "absent"}}])"});
  EXPECT_EQ(none.exit_code(), kNone) << none.describe();
  EXPECT_EQ(none.out, "");
  auto none_json = cli({"--json", "select", "q", R"([])"});
  EXPECT_EQ(none_json.exit_code(), kNone) << none_json.describe();
  EXPECT_EQ(json::parse(none_json.out), json::array());
}

TEST_P(CliQuery, CountSelectPrintsTheCountAndAMalformedSpecExitsTwo) {
  auto r = cli({"count-select", "q", R"([{"match": {}}])"});
  ASSERT_EQ(r.exit_code(), kOk) << r.describe();
  EXPECT_EQ(r.out, "3\n");
  auto j = cli({"--json", "count-select", "q", R"([{"match": {"value": {"role": "_"}}}])"});
  ASSERT_EQ(j.exit_code(), kOk) << j.describe();
  EXPECT_EQ(json::parse(j.out), json({{"registry", "q"}, {"count", 2}}));
  auto bad = cli({"count-select", "q", R"([{"match": {}, "return": "$4"}])"});
  EXPECT_EQ(bad.exit_code(), kError) << bad.describe();
  EXPECT_NE(bad.err.find("does not bind"), std::string::npos) << bad.err;
}

TEST_P(CliQuery, ValuesPrintsTheValuesOfOneProcessUnderAKey) {
  auto r = cli({"values", "q", "other", std::to_string(cache_->pid())});
  ASSERT_EQ(r.exit_code(), kOk) << r.describe();
  EXPECT_EQ(r.out, "plain text\n");
  auto j = cli({"--json", "values", "q", "svc", std::to_string(db_->pid())});
  ASSERT_EQ(j.exit_code(), kOk) << j.describe();
  const json out = json::parse(j.out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("value"), R"({"role":"db","port":5432})");
  EXPECT_EQ(out[0].at("pid"), db_->pid());
  EXPECT_EQ(cli({"values", "q", "other", std::to_string(db_->pid())}).exit_code(), kNone);
}

TEST_P(CliQuery, QueriesOnAMissingRegistryExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"match", "nope", "k", R"("_")"},
                                                                {"count-match", "nope", "k", R"("_")"},
                                                                {"select", "nope", "[]"},
                                                                {"count-select", "nope", "[]"},
                                                                {"values", "nope", "k", "1"}}) {
    auto r = cli(args);
    EXPECT_EQ(r.exit_code(), kError) << args[0] << ": " << r.describe();
    EXPECT_NE(r.err.find("registry 'nope'"), std::string::npos) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CliQuery, shmreg::queries::kShapes, shmreg::queries::shape_name);

}  // namespace
}  // namespace cli_query_test
