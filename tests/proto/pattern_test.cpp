// The pattern language of match/unregister_match: Elixir semantics over JSON.
#include "shmreg/proto/pattern.hpp"

#include <gtest/gtest.h>

namespace {

using shmreg::proto::Matcher;

bool m(const char* pattern, const char* value, const char* guards = "") {
  auto matcher = Matcher::compile(pattern, guards);
  EXPECT_TRUE(matcher.has_value()) << (matcher ? "" : matcher.error());
  return matcher && matcher->matches(value);
}

std::string compile_error(const char* pattern, const char* guards = "") {
  auto matcher = Matcher::compile(pattern, guards);
  return matcher ? std::string() : matcher.error();
}

TEST(Pattern, WildcardMatchesAnythingIncludingNonJsonBytes) {
  EXPECT_TRUE(m(R"("_")", R"({"a":1})"));
  EXPECT_TRUE(m(R"("_")", "not json at all"));
  EXPECT_TRUE(Matcher::compile(R"("_")", "")->matches_everything());
}

TEST(Pattern, LiteralsMatchEqualValuesAndNumbersCompareByValue) {
  EXPECT_TRUE(m("1", "1"));
  EXPECT_TRUE(m("1", "1.0"));
  EXPECT_FALSE(m("1", "2"));
  EXPECT_TRUE(m(R"("x")", R"("x")"));
  EXPECT_FALSE(m(R"("x")", R"("y")"));
  EXPECT_TRUE(m("null", "null"));
  EXPECT_FALSE(m("true", "1"));
}

TEST(Pattern, ObjectsMatchAsSubsets) {
  EXPECT_TRUE(m(R"({"role":"db"})", R"({"role":"db","port":5432})"));
  EXPECT_FALSE(m(R"({"role":"db","zone":"a"})", R"({"role":"db"})"));
  EXPECT_FALSE(m(R"({"role":"db"})", R"(["role","db"])"));
  EXPECT_TRUE(m(R"({})", R"({"anything":1})"));
}

TEST(Pattern, ArraysMatchPositionByPositionWithEqualLength) {
  EXPECT_TRUE(m(R"([1,"_",3])", "[1,2,3]"));
  EXPECT_FALSE(m(R"([1,"_"])", "[1,2,3]"));
  EXPECT_FALSE(m(R"([1,2,3])", "[1,2,4]"));
}

TEST(Pattern, AVariableBindsAndAVariableUsedTwiceMustMatchEqualValues) {
  EXPECT_TRUE(m(R"(["$1","$1"])", "[5,5]"));
  EXPECT_FALSE(m(R"(["$1","$1"])", "[5,6]"));
  EXPECT_TRUE(m(R"({"a":"$1","b":{"c":"$1"}})", R"({"a":[1],"b":{"c":[1]}})"));
  EXPECT_TRUE(m(R"(["$1","$2"])", "[5,6]"));
}

TEST(Pattern, LiteralWrapperMatchesStringsThatLookLikeVariables) {
  EXPECT_TRUE(m(R"({"$literal":"$1"})", R"("$1")"));
  EXPECT_FALSE(m(R"({"$literal":"$1"})", R"("x")"));
  EXPECT_TRUE(m(R"({"$literal":"_"})", R"("_")"));
  EXPECT_FALSE(m(R"({"$literal":"_"})", R"("anything")"));
}

TEST(Pattern, NonJsonValueMatchesOnlyTheWildcard) {
  EXPECT_FALSE(m(R"({"a":"_"})", "{broken"));
  EXPECT_FALSE(m(R"("$1")", "plain text"));
}

TEST(Guards, ComparisonsOnBoundVariables) {
  EXPECT_TRUE(m(R"({"load":"$1"})", R"({"load":3})", R"([["<","$1",5]])"));
  EXPECT_FALSE(m(R"({"load":"$1"})", R"({"load":7})", R"([["<","$1",5]])"));
  EXPECT_TRUE(m(R"(["$1","$2"])", "[1,2]", R"([["<","$1","$2"],["!=","$1","$2"]])"));
  EXPECT_FALSE(m(R"(["$1","$2"])", "[2,2]", R"([["<","$1","$2"]])"));
  EXPECT_TRUE(m(R"(["$1","$2"])", "[2,2]", R"([["<=","$1","$2"],[">=","$1","$2"],["==","$1","$2"]])"));
  EXPECT_TRUE(m(R"("$1")", R"("abc")", R"([[">","$1","abb"]])"));
}

TEST(Guards, OrderingBetweenDifferentTypesIsFalse) {
  EXPECT_FALSE(m(R"("$1")", R"("5")", R"([["<","$1",10]])"));
  EXPECT_FALSE(m(R"("$1")", R"("5")", R"([[">=","$1",10]])"));
}

TEST(Guards, TypeTests) {
  EXPECT_TRUE(m(R"("$1")", "1", R"([["is_number","$1"],["is_integer","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", "1.5", R"([["is_float","$1"]])"));
  EXPECT_FALSE(m(R"("$1")", "1.5", R"([["is_integer","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", R"("s")", R"([["is_string","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", "true", R"([["is_boolean","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", "null", R"([["is_null","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", "[]", R"([["is_list","$1"]])"));
  EXPECT_TRUE(m(R"("$1")", "{}", R"([["is_map","$1"]])"));
}

TEST(Guards, AndOrNotCombine) {
  const char* g = R"([["or",["<","$1",0],["and",[">","$1",10],["not",["==","$1",11]]]]])";
  EXPECT_TRUE(m(R"("$1")", "-1", g));
  EXPECT_TRUE(m(R"("$1")", "12", g));
  EXPECT_FALSE(m(R"("$1")", "11", g));
  EXPECT_FALSE(m(R"("$1")", "5", g));
}

TEST(Errors, PatternThatIsNotJsonIsAnError) {
  EXPECT_NE(compile_error("{oops"), "");
}

TEST(Errors, DollarStringThatIsNotAVariableIsAnError) {
  EXPECT_NE(compile_error(R"("$x")"), "");
  EXPECT_NE(compile_error(R"("$0")"), "");
  EXPECT_NE(compile_error(R"("$100")"), "");
}

TEST(Errors, MalformedGuardsAreErrors) {
  EXPECT_NE(compile_error(R"("$1")", "{not json"), "");
  EXPECT_NE(compile_error(R"("$1")", R"({"a":1})"), "");             // not an array
  EXPECT_NE(compile_error(R"("$1")", R"([["<","$1"]])"), "");         // arity
  EXPECT_NE(compile_error(R"("$1")", R"([["like","$1","x"]])"), "");  // unknown op
  EXPECT_NE(compile_error(R"("$1")", R"([["<","$2",1]])"), "");       // unbound variable
  EXPECT_NE(compile_error(R"("$1")", R"([["not"]])"), "");
  EXPECT_NE(compile_error(R"("$1")", R"([[]])"), "");
}

TEST(Errors, EmptyGuardTextMeansNoGuards) {
  EXPECT_EQ(compile_error(R"("$1")", "   "), "");
  EXPECT_EQ(compile_error(R"("$1")", "[]"), "");
}

TEST(Robustness, DeeplyNestedValueDoesNotMatchAndDoesNotCrash) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_FALSE(m(R"(["$1","$1"])", deep.c_str()));
  EXPECT_TRUE(m(R"("_")", deep.c_str()));
}

}  // namespace
