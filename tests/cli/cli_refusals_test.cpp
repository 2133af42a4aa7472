// What the `shmreg` CLI refuses, and how: every refusal exits 2 (or the code
// of the CLI contract that applies), names the rule it applies and the limit
// with its value, and changes nothing. Against a real broker and the real
// binary; each test fails on the surprise a new user met before (issue 12).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "broker_test.hpp"
#include "json_output.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

class CliRefusalsTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }

  // Runs the CLI, expects exit code `code` and every one of `parts` in stderr.
  RunResult expect_refusal(const std::vector<std::string>& args, int code, const std::vector<std::string>& parts) {
    RunResult r = cli(args);
    EXPECT_EQ(r.exit_code(), code) << ::testing::PrintToString(args) << ": " << r.describe();
    for (const auto& p : parts)
      EXPECT_NE(r.err.find(p), std::string::npos) << ::testing::PrintToString(args) << ": '" << p << "' not in "
                                                  << r.err;
    return r;
  }
};

TEST_F(CliRefusalsTest, AnUnknownCommandIsNamedWithTheListOfCommandsAndExitsTwo) {
  expect_refusal({"frobnicate"}, 2, {"unknown command 'frobnicate'", "ping", "register", "dump", "--help"});
  expect_refusal({"frobnicate", "svc"}, 2, {"unknown command 'frobnicate'"});
  expect_refusal({}, 2, {"a command is required", "lookup"});
  expect_refusal({"--no-such-option", "ping"}, 2, {"--no-such-option"});
}

TEST_F(CliRefusalsTest, RegisterPidZeroIsRefusedWithWhatPidMeansAndRegistersNothing) {
  RunResult r = expect_refusal({"register", "--pid", "0", "svc", "ghost", "v"}, 2, {"--pid 0", "live process"});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(cli({"lookup", "svc", "ghost"}).exit_code(), 1);
  EXPECT_EQ(cli_count("svc"), 0);
}

TEST_F(CliRefusalsTest, RegisterPidWithAnOwnerQueueFlagIsRefusedInsteadOfDroppingTheFlag) {
  Subprocess target = Subprocess::spawn({"/bin/sleep", "600"});
  const std::string pid = std::to_string(target.pid());
  for (const char* flag : {"--queue", "--allow-replacement", "--replace-existing", "--do-not-queue"}) {
    expect_refusal({"register", "--pid", pid, flag, "svc", "q", "v"}, 2, {"--queue", "--pid"});
    EXPECT_EQ(cli({"lookup", "svc", "q"}).exit_code(), 1) << flag;
  }
}

TEST_F(CliRefusalsTest, CreateRefusesZeroAndOutOfRangeLimitsWithTheRange) {
  expect_refusal({"create", "z", "--capacity", "0"}, 2, {"--capacity", "16777214"});
  expect_refusal({"create", "z", "--capacity", "4000000000"}, 2, {"--capacity", "16777214"});
  expect_refusal({"create", "z", "--max-key", "0"}, 2, {"--max-key", "1024"});
  expect_refusal({"create", "z", "--max-key", "100000"}, 2, {"--max-key", "1024"});
  expect_refusal({"create", "z", "--max-value", "0"}, 2, {"--max-value", "1048576"});
  EXPECT_EQ(cli({"count", "z"}).exit_code(), 2);  // none of them was created
}

TEST_F(CliRefusalsTest, UnregisterMatchTakesABareUnderscoreAsItsHelpSays) {
  Subprocess owner = Subprocess::spawn({"/bin/sleep", "600"});
  const std::string pid = std::to_string(owner.pid());
  cli_ok({"register", "--pid", pid, "svc", "k", "v"});
  RunResult help = cli({"unregister-match", "--help"});
  EXPECT_NE(help.out.find("bare _"), std::string::npos) << help.out;
  RunResult r = cli({"unregister-match", "svc", "k", "_", "--pid", pid});
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(r.out, "removed 1\n");
  EXPECT_EQ(cli({"lookup", "svc", "k"}).exit_code(), 1);
}

TEST_F(CliRefusalsTest, AnInvalidRegistryNameIsRefusedWithTheLengthLimitAndTheAllowedCharacters) {
  for (const std::string& name : {std::string(), std::string(70, 'n'), std::string("a b"), std::string("tab\there")})
    expect_refusal({"create", name}, 2, {"is not valid", "1 to 63 bytes", "no spaces or control characters"});
  RunResult j = cli({"--json", "create", "a b"});
  EXPECT_EQ(parse_json(j.err).value("error", ""), "invalid_argument") << j.err;
}

TEST_F(CliRefusalsTest, KeyAndValueRefusalsNameTheRegistryAndItsLimit) {
  Subprocess target = Subprocess::spawn({"/bin/sleep", "600"});
  const std::string pid = std::to_string(target.pid());
  expect_refusal({"register", "--pid", pid, "svc", "", "v"}, 2, {"key is empty", "'svc'", "1 to 128 bytes"});
  expect_refusal({"register", "--pid", pid, "svc", std::string(200, 'k'), "v"}, 2,
                 {"key too long for registry 'svc'", "at most 128 bytes", "--max-key"});
  expect_refusal({"register", "--pid", pid, "svc", "k", std::string(300, 'v')}, 2,
                 {"value too long for registry 'svc'", "at most 256 bytes", "--max-value"});
  expect_refusal({"set", "svc", "", "v"}, 2, {"key is empty", "'svc'"});
  EXPECT_EQ(cli_count("svc"), 0);
}

TEST_F(CliRefusalsTest, AFullRegistryIsNamedWithItsCapacityAndExitsTwo) {
  cli_ok({"create", "small", "--capacity", "1"});
  Subprocess target = Subprocess::spawn({"/bin/sleep", "600"});
  const std::string pid = std::to_string(target.pid());
  cli_ok({"register", "--pid", pid, "small", "a", "v"});
  expect_refusal({"register", "--pid", pid, "small", "b", "v"}, 2, {"registry 'small' is full", "capacity is 1"});
}

TEST_F(CliRefusalsTest, CreateWithOtherOptionsSaysWhichOptionDiffersWithBothValues) {
  expect_refusal({"create", "svc", "--max-key", "10"}, 2, {"'svc' exists with different options", "max_key is 128, not 10"});
  expect_refusal({"create", "svc", "--keys", "duplicate"}, 2, {"keys are unique, not duplicate"});
  expect_refusal({"create", "svc", "--capacity", "7"}, 2, {"capacity is 4096, not 7"});
}

TEST_F(CliRefusalsTest, OwnerQueueFlagsOnADuplicateRegistryAreRefusedNamingTheRule) {
  cli_ok({"create", "dup", "--keys", "duplicate"});
  expect_refusal({"register", "--queue", "dup", "k", "v", "--", "true"}, 2, {"unique registries", "'dup'"});
}

TEST_F(CliRefusalsTest, ACreateThatDoesNotFitSaysHowManyBytesItNeedsAndHowManyAreLeft) {
  RunResult r = expect_refusal({"create", "huge", "--capacity", "1000000"}, 2,
                               {"registry 'huge' of ", " bytes does not fit in the ", "bytes left"});
  RunResult dump = cli({"--json", "dump"});
  const json listed = parse_json(dump.out);  // held: a range over a member of a temporary would dangle
  for (const auto& reg : listed["registries"]) EXPECT_NE(reg.value("name", ""), "huge");
}

TEST_F(CliRefusalsTest, RefusalsFromTheBrokerKeepTheRegistryName) {
  Subprocess target = Subprocess::spawn({"/bin/sleep", "600"});
  const std::string pid = std::to_string(target.pid());
  for (const auto& args : std::vector<std::vector<std::string>>{{"register", "--pid", pid, "nosuch", "k", "v"},
                                                                  {"register", "nosuch", "k", "v", "--", "true"},
                                                                  {"put-meta", "nosuch", "k", "v"},
                                                                  {"update", "nosuch", "k", "v", "--pid", pid},
                                                                  {"lookup", "nosuch", "k"}})
    expect_refusal(args, 2, {"registry 'nosuch'", "not found"});
}

}  // namespace
}  // namespace shmreg::test
