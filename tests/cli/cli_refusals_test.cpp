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

  // A process holding reg/key (via `register -- sleep`), once visible.
  Subprocess hold(const std::string& reg, const std::string& key, const std::string& value) {
    Subprocess p = Subprocess::spawn(cli_argv({"register", reg, key, value, "--", "sleep", "600"}));
    const std::string pid = std::to_string(p.pid());
    EXPECT_TRUE(wait_until([&] { return cli({"keys", reg, pid}).exit_code() == 0 || !p.running(); }));
    EXPECT_TRUE(p.running()) << "register " << reg << " " << key << " ended early";
    return p;
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
  Subprocess a = hold("svc", "k", "v");
  const std::string pid = std::to_string(a.pid());
  RunResult help = cli({"unregister-match", "--help"});
  EXPECT_NE(help.out.find("bare _"), std::string::npos) << help.out;
  RunResult r = cli({"unregister-match", "svc", "k", "_", "--pid", pid});
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(r.out, "removed 1\n");
  EXPECT_EQ(cli({"lookup", "svc", "k"}).exit_code(), 1);
}

}  // namespace
}  // namespace shmreg::test
