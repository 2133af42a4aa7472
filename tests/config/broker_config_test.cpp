// The real shmreg-broker and its configuration file: --check-config on the
// broken files of files/ and on the shipped example, and a broker started
// with --config, whose [broker] settings show in the segment it creates and
// in the registries created through it, unless a flag says otherwise.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "broker_test.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

const std::string kFiles = SHMREG_CONFIG_FILES;

RunResult check_config(const std::string& path) { return run({broker_binary(), "--check-config", path}); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(CheckConfig, TheShippedExampleIsValid) {
  const RunResult r = check_config(SHMREG_EXAMPLE_CONFIG);
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(r.out, std::string(SHMREG_EXAMPLE_CONFIG) + ": ok\n");
  EXPECT_EQ(r.err, "");
}

// Each broken file: exit 2 and exactly these lines on stderr, each the
// problem's file:line:column, key and reason.
TEST(CheckConfig, EachBrokenFileIsRefusedWithEveryProblemAndItsPosition) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"unknown_key.toml", {"unknown_key.toml:3:1: broker.segment_sise: unknown key (did you mean 'segment_size'?)"}},
      {"wrong_type.toml", {"wrong_type.toml:3:11: limits.entries: expected an integer, not a string"}},
      {"out_of_range.toml",
       {"out_of_range.toml:4:14: registry[0].partitions: 65 is out of range 1..64",
        "out_of_range.toml:5:12: registry[0].capacity: 0 is out of range 1..16777214"}},
      {"unknown_user.toml", {"unknown_user.toml:3:19: access.create[1]: unknown user 'no-such-user-shmreg'"}},
      {"unknown_group.toml",
       {"unknown_group.toml:4:10: registry[0].admin[0]: unknown group 'no-such-group-shmreg'"}},
      {"duplicate_registry.toml",
       {"duplicate_registry.toml:6:8: registry[1].name: duplicate registry name 'services' (also registry[0])"}},
      {"duplicate_static.toml",
       {"duplicate_static.toml:10:7: registry[0].static[1].key: duplicate static key 'gateway' (also "
        "registry[0].static[0])"}},
      {"many_problems.toml",
       {"many_problems.toml:3:16: broker.segment_size: 1K is out of range 1M..1024G",
        "many_problems.toml:5:14: limits.user.no-such-user-shmreg: unknown user 'no-such-user-shmreg'",
        "many_problems.toml:9:10: access.reload: expected an array of users and groups ([\"root\", \"@adm\"]), not a "
        "string",
        "many_problems.toml:12:8: registry[0].name: 'two words' is not a registry name (1..63 bytes, no spaces or "
        "control characters)",
        "many_problems.toml:13:8: registry[0].keys: 'sometimes' is neither \"unique\" nor \"duplicate\""}},
  };
  for (const auto& [file, expected] : cases) {
    const RunResult r = check_config(kFiles + "/" + file);
    EXPECT_EQ(r.exit_code(), 2) << file << ": " << r.describe();
    EXPECT_EQ(r.out, "") << file;
    std::vector<std::string> want;
    for (const auto& line : expected) want.push_back(kFiles + "/" + line);
    EXPECT_EQ(lines_of(r.err), want) << file;
  }
}

TEST(CheckConfig, ASyntaxErrorIsReportedWhereTheParserStopped) {
  const RunResult r = check_config(kFiles + "/syntax_error.toml");
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(lines[0].starts_with(kFiles + "/syntax_error.toml:3:")) << lines[0];
  EXPECT_NE(lines[0].find("TOML syntax"), std::string::npos) << lines[0];
}

TEST(CheckConfig, AMissingFileIsInvalid) {
  const RunResult r = check_config(kFiles + "/no-such-file.toml");
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find("no-such-file.toml: cannot read the file"), std::string::npos) << r.err;
}

// The tests below start their broker themselves, each with its own flags.
class BrokerConfigTest : public BrokerTest {
 protected:
  void SetUp() override {}

  std::string write_config(const std::string& text) {
    const std::string path = dir().path() + "/broker.toml";
    std::ofstream(path) << text;
    return path;
  }
  json dump() {
    const RunResult r = cli({"--json", "dump"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    return json::parse(r.out, nullptr, false);
  }
  std::uint64_t capacity_of(const std::string& reg) {
    const json d = dump();
    for (const auto& r : d["registries"])
      if (r["name"] == reg) return r["capacity"].get<std::uint64_t>();
    ADD_FAILURE() << "no registry " << reg;
    return 0;
  }
  // How many connections a process of nobody holds open at once before the
  // broker closes its next one (at most `tries`).
  std::optional<std::string> nobody_connections(std::size_t tries) {
    const std::string socket = socket_path();
    ForkedChild nobody = ForkedChild::start([&](ChildChannel& ch) {
      if (!become_nobody()) return child_report(ch, "setresuid failed");
      std::vector<RawConnection> held;
      while (held.size() < tries) {
        auto c = RawConnection::connect(socket);
        if (!c || !c->ping()) break;
        held.push_back(std::move(*c));
      }
      ch.send(std::to_string(held.size()));
      return 0;
    });
    return nobody.receive();
  }
};

TEST_F(BrokerConfigTest, ABrokerStartedWithAConfigAppliesItsBrokerSection) {
  const std::string config = write_config("[broker]\nsegment_size = \"4M\"\ndefault_capacity = 77\n");
  ASSERT_TRUE(start_broker({"--config", config}));
  cli_ok({"create", "r"});
  EXPECT_EQ(dump()["header"]["segment_size"].get<std::uint64_t>(), 4u << 20);
  EXPECT_EQ(capacity_of("r"), 77u);
}

TEST_F(BrokerConfigTest, AFlagGivenOnTheCommandLineBeatsTheFile) {
  const std::string config = write_config("[broker]\nsegment_size = \"4M\"\ndefault_capacity = 77\n");
  ASSERT_TRUE(start_broker({"--config", config, "--default-capacity", "55", "--segment-size", "8M"}));
  cli_ok({"create", "r"});
  EXPECT_EQ(dump()["header"]["segment_size"].get<std::uint64_t>(), 8u << 20);
  EXPECT_EQ(capacity_of("r"), 55u);
}

TEST_F(BrokerConfigTest, AFlagTheCommandLineLeavesOutDoesNotBeatTheFile) {
  const std::string config = write_config("[broker]\ndefault_capacity = 77\n");
  ASSERT_TRUE(start_broker({"--config", config, "--segment-size", "8M"}));
  cli_ok({"create", "r"});
  EXPECT_EQ(capacity_of("r"), 77u);
}

// [limits.user.nobody] sets no connections: it takes [limits]'.
constexpr const char* kConnectionLimits = "[limits]\nconnections = 2\n[limits.user.nobody]\nentries = 5\n";

TEST_F(BrokerConfigTest, TheFilesConnectionLimitHoldsForAnotherUid) {
  ASSERT_TRUE(start_broker({"--config", write_config(kConnectionLimits), "--segment-size", "4M"}));
  EXPECT_EQ(nobody_connections(4), std::optional<std::string>("2"));
}

TEST_F(BrokerConfigTest, TheConnectionsFlagBeatsTheFileAndTheUserLimitsThatInheritIt) {
  ASSERT_TRUE(start_broker(
      {"--config", write_config(kConnectionLimits), "--segment-size", "4M", "--max-connections-per-uid", "3"}));
  EXPECT_EQ(nobody_connections(4), std::optional<std::string>("3"));
}

TEST_F(BrokerConfigTest, AnInvalidConfigStopsTheBrokerWithExit2AndItsProblems) {
  const std::string config = write_config("[limits]\nentries = \"many\"\n");
  const RunResult r = run(broker().argv({"--config", config}));
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find(config + ":2:11: limits.entries: expected an integer, not a string"), std::string::npos)
      << r.err;
  struct stat st {};
  EXPECT_NE(::stat(socket_path().c_str(), &st), 0) << "the broker listened";
}

TEST_F(BrokerConfigTest, AConfigThatMustExistAndDoesNotStopsTheBroker) {
  const RunResult r = run(broker().argv({"--config", dir().path() + "/absent.toml"}));
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find("absent.toml: cannot read the file"), std::string::npos) << r.err;
}

TEST_F(BrokerConfigTest, AnOptionalConfigThatDoesNotExistLeavesTheDefaults) {
  ASSERT_TRUE(start_broker({"--config-if-exists", dir().path() + "/absent.toml", "--segment-size", "4M"}));
  cli_ok({"create", "r"});
  EXPECT_EQ(capacity_of("r"), 4096u) << "the default of --default-capacity";
  EXPECT_NE(broker().log().find("no configuration file"), std::string::npos) << broker().log();
}

TEST_F(BrokerConfigTest, AnOptionalConfigThatExistsIsApplied) {
  const std::string config = write_config("[broker]\nsegment_size = \"4M\"\ndefault_capacity = 33\n");
  ASSERT_TRUE(start_broker({"--config-if-exists", config}));
  cli_ok({"create", "r"});
  EXPECT_EQ(capacity_of("r"), 33u);
}

TEST_F(BrokerConfigTest, CheckConfigNeverStartsABroker) {
  const std::string config = write_config("[broker]\nsegment_size = \"4M\"\n");
  const RunResult r = run(broker().argv({"--check-config", config}));
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(r.out, config + ": ok\n");
  struct stat st {};
  EXPECT_NE(::stat(socket_path().c_str(), &st), 0) << "the broker listened";
  EXPECT_NE(::stat(segment_file().c_str(), &st), 0) << "the broker created its segment";
}

}  // namespace
}  // namespace shmreg::test
