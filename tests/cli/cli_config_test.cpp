// The config family of the `shmreg` CLI against a real broker: set and unset
// (static entries, shown as "static" wherever an owner is printed), reload
// (its outcome, every reason of a refusal on stderr with exit 2, --forbid and
// --allow) and status (text and the broker's JSON, which a real second uid,
// nobody through setpriv, sees limited to its own use).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "json_output.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

class CliConfigTest : public BrokerTest {
 protected:
  void SetUp() override {
    write_config("");
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }

  std::vector<std::string> broker_args() const override {
    return {"--segment-size", "16M", "--config", config_path()};
  }
  std::string config_path() const { return dir().path() + "/shmreg.toml"; }
  void write_config(const std::string& toml) const { std::ofstream(config_path()) << toml; }

  // `shmreg args...` run as uid and gid 65534 (nobody). The build tree may
  // sit where nobody cannot reach it (a clone in a 0700 directory), so the
  // CLI and its libshmreg are copied into the test's own
  // directory (0755) first and run from there.
  RunResult cli_as_nobody(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = cli_argv(args);
    const std::string bin = dir().path() + "/shmreg";
    std::filesystem::copy_file(argv.front(), bin, std::filesystem::copy_options::overwrite_existing);
    const std::filesystem::path lib = SHMREG_CLIENT_SONAME_FILE;
    std::filesystem::copy_file(lib, dir().path() + "/" + lib.filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
    argv.front() = bin;
    argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env",
                               "LD_LIBRARY_PATH=" + dir().path()});
    return run(argv);
  }

  std::uint64_t generation() { return parse_json(cli_ok({"--json", "status"}))["config"]["generation"]; }
};

TEST_F(CliConfigTest, SetMakesAStaticEntryThatLookupAndListShowAsStatic) {
  RunResult set = cli({"set", "svc", "db", "10.0.0.5:5432"});
  EXPECT_EQ(set.exit_code(), 0) << set.describe() << broker().log();
  EXPECT_EQ(set.out.rfind("set db in svc as a static entry (version ", 0), 0u) << set.out;

  EXPECT_EQ(cli_ok({"lookup", "svc", "db"}), "static\t10.0.0.5:5432\n");
  EXPECT_EQ(cli_ok({"list", "svc"}), "db\tstatic\t10.0.0.5:5432\n");
  const json looked_up = parse_json(cli_ok({"--json", "lookup", "svc", "db"}));
  ASSERT_EQ(looked_up.size(), 1u) << looked_up;
  EXPECT_EQ(looked_up[0]["pid"], 0);
  EXPECT_EQ(looked_up[0]["static"], true);
  EXPECT_EQ(looked_up[0]["value"], "10.0.0.5:5432");

  const json replaced = parse_json(cli_ok({"--json", "set", "svc", "db", "10.0.0.6:5432"}));
  EXPECT_EQ(replaced["static"], true);
  EXPECT_EQ(replaced["pid"], 0);
  EXPECT_GT(replaced["version"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(cli_ok({"lookup", "svc", "db"}), "static\t10.0.0.6:5432\n");
}

TEST_F(CliConfigTest, UnsetRemovesTheStaticEntryAndExitsOneWhenThereWasNone) {
  cli_ok({"set", "svc", "db", "v"});
  RunResult unset = cli({"unset", "svc", "db"});
  EXPECT_EQ(unset.exit_code(), 0) << unset.describe();
  EXPECT_EQ(unset.out, "unset db in svc\n");
  EXPECT_EQ(cli({"lookup", "svc", "db"}).exit_code(), 1);

  RunResult again = cli({"unset", "svc", "db"});
  EXPECT_EQ(again.exit_code(), 1) << again.describe();
  EXPECT_NE(again.err.find("no static entry under 'db' in 'svc'"), std::string::npos) << again.err;
  RunResult j = cli({"--json", "unset", "svc", "db"});
  EXPECT_EQ(j.exit_code(), 1) << j.describe();
  EXPECT_EQ(parse_json(j.out)["removed"], false);
}

TEST_F(CliConfigTest, SetAndUnsetArgumentErrorsExitTwo) {
  EXPECT_EQ(cli({"set", "svc", "k"}).exit_code(), 2);
  EXPECT_EQ(cli({"unset", "svc"}).exit_code(), 2);
  EXPECT_EQ(cli({"set", "nosuchreg", "k", "v"}).exit_code(), 2);
}

TEST_F(CliConfigTest, ReloadPrintsTheNewGenerationThenAFailureListsEveryReasonAndARetrySucceeds) {
  const std::uint64_t start = generation();
  RunResult ok = cli({"reload"});
  EXPECT_EQ(ok.exit_code(), 0) << ok.describe() << broker().log();
  EXPECT_EQ(ok.out, "reloaded: generation " + std::to_string(start + 1) + "\n");

  write_config("[limits]\nentries = \"many\"\nregistries = \"few\"\n");
  RunResult refused = cli({"reload"});
  EXPECT_EQ(refused.exit_code(), 2) << refused.describe();
  EXPECT_NE(refused.err.find("reload failed"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("\n  "), std::string::npos) << "no reason on a line of its own: " << refused.err;
  EXPECT_NE(refused.err.find("entries"), std::string::npos) << refused.err;
  const json after_failure = parse_json(cli_ok({"--json", "status"}));
  EXPECT_EQ(after_failure["state"], "reload_error");
  EXPECT_EQ(after_failure["config"]["generation"], start + 1);
  EXPECT_EQ(after_failure["last_reload"]["outcome"], "failed");

  write_config("[limits]\nentries = 100\n");
  const json retried = parse_json(cli_ok({"--json", "reload"}));
  EXPECT_EQ(retried["state"], "running");
  EXPECT_EQ(retried["generation"], start + 2);
  EXPECT_EQ(retried["reasons"], json::array());
}

TEST_F(CliConfigTest, ReloadForbidRefusesReloadsUntilAllow) {
  RunResult forbid = cli({"reload", "--forbid"});
  EXPECT_EQ(forbid.exit_code(), 0) << forbid.describe();
  EXPECT_EQ(forbid.out.rfind("reloads forbidden", 0), 0u) << forbid.out;
  EXPECT_EQ(parse_json(cli_ok({"--json", "status"}))["reload_allowed"], false);
  EXPECT_NE(cli_ok({"status"}).find("forbidden"), std::string::npos);

  RunResult refused = cli({"--json", "reload"});
  EXPECT_EQ(refused.exit_code(), 2) << refused.describe();
  EXPECT_EQ(parse_json(refused.err).value("error", ""), "reload_forbidden") << refused.err;

  EXPECT_EQ(cli({"reload", "--allow"}).exit_code(), 0);
  EXPECT_EQ(cli({"reload"}).exit_code(), 0);
  EXPECT_EQ(cli({"reload", "--forbid", "--allow"}).exit_code(), 2);  // usage
}

TEST_F(CliConfigTest, StatusPrintsTheBrokersStateAndEachUidsUseAgainstItsLimits) {
  RunResult text = cli({"status"});
  ASSERT_EQ(text.exit_code(), 0) << text.describe() << broker().log();
  for (const std::string& field : std::vector<std::string>{"namespace    " + ns(), "state        running",
                                                           "config       " + config_path(), "reload       allowed",
                                                           "arena        ", "UID     USER"})
    EXPECT_NE(text.out.find(field), std::string::npos) << "no '" << field << "' in:\n" << text.out;
  // Root created svc and is not limited: its row shows use over "-".
  EXPECT_NE(text.out.find("\n0       root        "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("1/-"), std::string::npos) << text.out;

  const json j = parse_json(cli_ok({"--json", "status"}));
  EXPECT_EQ(j["namespace"], ns());
  EXPECT_EQ(j["broker_pid"], broker().pid());
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["config"]["path"], config_path());
  EXPECT_EQ(j["reload_allowed"], true);
  EXPECT_TRUE(j["uids"].is_array());

  // Nobody sees its own use, with the default limits, and no other uid's.
  RunResult mine = cli_as_nobody({"--json", "status"});
  ASSERT_EQ(mine.exit_code(), 0) << mine.describe();
  const json mine_json = parse_json(mine.out);
  for (const auto& u : mine_json["uids"]) {
    EXPECT_EQ(u["uid"], 65534) << u;
    EXPECT_FALSE(u["limits"].is_null()) << u;
  }
}

TEST_F(CliConfigTest, SetByAUidThatIsNotTheRegistrysAdminExitsTwoAndChangesNothing) {
  RunResult r = cli_as_nobody({"--json", "set", "svc", "db", "evil"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_EQ(parse_json(r.err).value("error", ""), "permission_denied") << r.err;
  EXPECT_EQ(cli({"lookup", "svc", "db"}).exit_code(), 1);
}

TEST_F(CliConfigTest, ReloadByAUidOutsideTheReloadListExitsTwo) {
  RunResult r = cli_as_nobody({"--json", "reload"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_EQ(parse_json(r.err).value("error", ""), "permission_denied") << r.err;
}

}  // namespace
}  // namespace shmreg::test
