// The select-spec language (client/src/select.hpp) on its own, entry by entry.
// The registry-level behaviour, over real processes, is in
// registry_query_test.cpp.
#include "select.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace select_spec_test {
namespace {

using nlohmann::json;
using shmreg::client_detail::SelectSpec;

SelectSpec compile(const std::string& spec) {
  auto s = SelectSpec::compile(spec);
  EXPECT_TRUE(s.has_value()) << spec << ": " << (s ? "" : s.error());
  return s ? *s : *SelectSpec::compile("[]");
}

// The parsed result of the entry (key, pid, value), or null JSON if none.
json result(const std::string& spec, std::string_view key, std::uint32_t pid, std::string_view value) {
  auto r = compile(spec).select(key, pid, value);
  return r ? json::parse(*r) : json();
}

std::string compile_error(const std::string& spec) {
  auto s = SelectSpec::compile(spec);
  return s ? std::string() : s.error();
}

TEST(SelectSpec, TheDefaultReturnIsTheWholeEntry) {
  EXPECT_EQ(result(R"([{"match": {}}])", "db", 42, R"({"port":5432})"),
            json::parse(R"({"key":"db","pid":42,"value":{"port":5432}})"));
}

TEST(SelectSpec, WholeEntryCarriesAValueThatIsNotJsonAsAString) {
  EXPECT_EQ(result(R"([{"match": {}, "return": "$_"}])", "k", 7, "plain text"),
            json::parse(R"({"key":"k","pid":7,"value":"plain text"})"));
}

TEST(SelectSpec, VariablesBindInKeyPidAndValueAndBuildTheReturn) {
  const std::string spec =
      R"([{"match": {"key": "$1", "pid": "$2", "value": {"port": "$3"}}, "return": {"k": "$1", "p": ["$2", "$3"]}}])";
  EXPECT_EQ(result(spec, "db", 42, R"({"port":5432,"zone":"a"})"), json::parse(R"({"k":"db","p":[42,5432]})"));
}

TEST(SelectSpec, AVariableSharedByKeyAndValueMustBindEqualValues) {
  const std::string spec = R"([{"match": {"key": "$1", "value": {"name": "$1"}}, "return": "$1"}])";
  EXPECT_EQ(result(spec, "db", 1, R"({"name":"db"})"), json("db"));
  EXPECT_EQ(result(spec, "db", 1, R"({"name":"cache"})"), json());
}

TEST(SelectSpec, DollarDollarReturnsTheBoundVariablesInOrder) {
  const std::string spec = R"([{"match": {"key": "$2", "pid": "$1", "value": ["_", "$3"]}, "return": "$$"}])";
  EXPECT_EQ(result(spec, "k", 9, R"([0, true])"), json::parse(R"([9, "k", true])"));
}

TEST(SelectSpec, GuardsSeeVariablesFromEveryPartOfTheEntry) {
  const std::string spec =
      R"([{"match": {"pid": "$1", "value": {"load": "$2"}}, "guards": [["and", [">", "$1", 10], ["<", "$2", 0.5]]], "return": "$1"}])";
  EXPECT_EQ(result(spec, "k", 11, R"({"load":0.25})"), json(11));
  EXPECT_EQ(result(spec, "k", 9, R"({"load":0.25})"), json());
  EXPECT_EQ(result(spec, "k", 11, R"({"load":0.75})"), json());
}

TEST(SelectSpec, TheFirstMatchingClauseGivesTheResult) {
  const std::string spec = R"([
    {"match": {"value": {"role": "db"}}, "return": "database"},
    {"match": {"value": {"role": "$1"}}, "return": "$1"},
    {"match": {}, "return": "other"}])";
  EXPECT_EQ(result(spec, "a", 1, R"({"role":"db"})"), json("database"));
  EXPECT_EQ(result(spec, "a", 1, R"({"role":"cache"})"), json("cache"));
  EXPECT_EQ(result(spec, "a", 1, "not json"), json("other"));
}

TEST(SelectSpec, AKeyIsMatchedAsAStringAndNeverParsed) {
  EXPECT_EQ(result(R"([{"match": {"key": "{\"a\":1}"}, "return": "$_"}])", R"({"a":1})", 1, "1"),
            json::parse(R"({"key":"{\"a\":1}","pid":1,"value":1})"));
  EXPECT_EQ(result(R"([{"match": {"key": {"$literal": "_"}}, "return": true}])", "_", 1, "1"), json(true));
  EXPECT_EQ(result(R"([{"match": {"key": {"$literal": "_"}}, "return": true}])", "x", 1, "1"), json());
}

TEST(SelectSpec, APidPatternIsAnIntegerComparedByValue) {
  EXPECT_EQ(result(R"([{"match": {"pid": 42}, "return": true}])", "k", 42, "1"), json(true));
  EXPECT_EQ(result(R"([{"match": {"pid": 42}, "return": true}])", "k", 43, "1"), json());
}

TEST(SelectSpec, AValueThatIsNotJsonMatchesOnlyTheWildcard) {
  EXPECT_EQ(result(R"([{"match": {"value": "$1"}, "return": "$1"}])", "k", 1, "{oops"), json());
  EXPECT_EQ(result(R"([{"match": {"value": "_"}, "return": 1}])", "k", 1, "{oops"), json(1));
}

TEST(SelectSpec, LiteralWrapperInTheReturnGivesStringsThatLookLikeVariables) {
  EXPECT_EQ(result(R"([{"match": {}, "return": [{"$literal": "$1"}, {"$literal": "$_"}]}])", "k", 1, "1"),
            json::parse(R"(["$1", "$_"])"));
}

TEST(SelectSpec, MatchesAgreesWithSelect) {
  auto s = compile(R"([{"match": {"value": {"x": "$1"}}, "guards": [[">", "$1", 1]]}])");
  EXPECT_TRUE(s.matches("k", 1, R"({"x":2})"));
  EXPECT_FALSE(s.matches("k", 1, R"({"x":1})"));
  EXPECT_FALSE(s.matches("k", 1, "junk"));
}

TEST(SelectSpec, LiteralKeysAreListedOnlyWhenEveryClauseNamesItsKey) {
  auto named = compile(R"([{"match": {"key": "a"}}, {"match": {"key": {"$literal": "b"}}}, {"match": {"key": "a"}}])");
  ASSERT_NE(named.literal_keys(), nullptr);
  EXPECT_EQ(*named.literal_keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(compile(R"([{"match": {"key": "a"}}, {"match": {}}])").literal_keys(), nullptr);
  EXPECT_EQ(compile(R"([{"match": {"key": "$1"}}])").literal_keys(), nullptr);
  ASSERT_NE(compile("[]").literal_keys(), nullptr);
  EXPECT_TRUE(compile("[]").literal_keys()->empty());
}

TEST(SelectSpec, AnEmptySpecSelectsNothing) {
  EXPECT_FALSE(compile("[]").select("k", 1, "1").has_value());
  EXPECT_FALSE(compile("[]").matches("k", 1, "1"));
}

TEST(SelectSpec, TextThatIsNotUtf8ComesOutReplacedNotAsAnError) {
  auto r = compile(R"([{"match": {}}])").select("k\xff", 1, "v\xfe");
  ASSERT_TRUE(r.has_value());
  const json j = json::parse(*r);
  EXPECT_EQ(j["key"], json("k\xef\xbf\xbd"));
  EXPECT_EQ(j["value"], json("v\xef\xbf\xbd"));
}

TEST(SelectSpec, MalformedSpecsAreRejectedWithTheirReason) {
  EXPECT_NE(compile_error("not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(compile_error(R"({"match": {}})").find("JSON array of clauses"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"return": 1}])").find("needs \"match\""), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}, "guard": []}])").find("unknown clause member \"guard\""),
            std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {"owner": 1}}])").find("unknown \"match\" member \"owner\""),
            std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {"key": {"a": 1}}}])").find("key is matched as a string"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {"pid": "me"}}])").find("pid is matched as an integer"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {"pid": -1}}])").find("pid is matched as an integer"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {"value": "$x"}}])").find("invalid value pattern"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}, "guards": [[">", "$1", 1]]}])").find("does not bind"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}, "guards": {}}])").find("JSON array of guards"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}, "return": "$2"}])").find("which \"match\" does not bind"),
            std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}, "return": "$x"}])").find("$literal"), std::string::npos);
  EXPECT_NE(compile_error(R"([{"match": {}}, 3])").find("clause 2:"), std::string::npos);
}

TEST(SelectSpec, DeeplyNestedSpecsAreRejectedNotRecursedInto) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(compile_error(deep).find("too deep"), std::string::npos);
  std::string deep_return = R"([{"match": {}, "return": )" + std::string(100, '[') + std::string(100, ']') + "}]";
  EXPECT_NE(compile_error(deep_return).find("too deep"), std::string::npos);
}

}  // namespace
}  // namespace select_spec_test
