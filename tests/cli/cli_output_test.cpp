// What the `shmreg` CLI prints, so that no value surprises a script: text
// output escapes control bytes (a line is one entry, a field never splits),
// --json carries bytes that are not UTF-8 losslessly as "value_base64" and
// --base64 takes them back; `registries` lists every registry with what it
// costs; every command reports a missing segment with the same code and
// message; a wait that times out exits 1 (watch, receive), and a failed exec
// of `register -- CMD` exits 127 as a shell does. Real broker, real binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker_test.hpp"
#include "json_output.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

class CliOutputTest : public BrokerTest {
 protected:
  // A live process that entries are registered for (register --pid).
  void SetUp() override {
    BrokerTest::SetUp();
    target_.emplace(Subprocess::spawn({"/bin/sleep", "600"}));
    pid_ = std::to_string(target_->pid());
  }

  std::optional<Subprocess> target_;
  std::string pid_;
};

TEST_F(CliOutputTest, TextOutputEscapesTabsNewlinesBackslashesAndControlBytes) {
  cli_ok({"create", "svc"});
  cli_ok({"register", "--pid", pid_, "svc", "a\tkey", "line1\nline2\x01\\end"});
  EXPECT_EQ(cli_ok({"lookup", "svc", "a\tkey"}), pid_ + "\tline1\\nline2\\x01\\\\end\n");
  EXPECT_EQ(cli_ok({"list", "svc"}), "a\\tkey\t" + pid_ + "\tline1\\nline2\\x01\\\\end\n");
  EXPECT_EQ(cli_ok({"keys", "svc", pid_}), "a\\tkey\n");
  // --json carries the bytes as they are.
  const json arr = parse_json(cli_ok({"--json", "lookup", "svc", "a\tkey"}));
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_EQ(arr[0].value("value", ""), "line1\nline2\x01\\end");
}

TEST_F(CliOutputTest, JsonCarriesAValueThatIsNotUtf8AsBase64AndBase64TakesItBack) {
  cli_ok({"create", "svc"});
  cli_ok({"register", "--pid", pid_, "svc", "bin", "\xff\xfe" "ok"});
  cli_ok({"register", "--pid", pid_, "svc", "text", "h\xc3\xa9llo"});
  json arr = parse_json(cli_ok({"--json", "lookup", "svc", "bin"}));
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_FALSE(arr[0].contains("value")) << arr.dump();
  EXPECT_EQ(arr[0].value("value_base64", ""), "//5vaw==");
  arr = parse_json(cli_ok({"--json", "lookup", "svc", "text"}));
  EXPECT_EQ(arr[0].value("value", ""), "h\xc3\xa9llo");  // valid UTF-8 stays a string

  // Bytes no argument can hold (a NUL) go in with --base64 and come out alike.
  cli_ok({"register", "--pid", pid_, "svc", "nul", "AP8=", "--base64"});
  arr = parse_json(cli_ok({"--json", "lookup", "svc", "nul"}));
  EXPECT_EQ(arr[0].value("value_base64", ""), "AP8=");
  EXPECT_EQ(cli_ok({"lookup", "svc", "nul"}), pid_ + "\t\\x00\xff\n");  // control bytes escaped, others as they are
  cli_ok({"update", "svc", "nul", "//5vaw==", "--base64", "--pid", pid_});
  arr = parse_json(cli_ok({"--json", "list", "svc"}));
  std::set<std::string> base64;
  for (const auto& e : arr) base64.insert(e.value("value_base64", ""));
  EXPECT_TRUE(base64.count("//5vaw==")) << arr.dump();
  RunResult bad = cli({"register", "--pid", pid_, "svc", "k", "not base64!", "--base64"});
  EXPECT_EQ(bad.exit_code(), 2) << bad.describe();
  EXPECT_NE(bad.err.find("is not base64"), std::string::npos) << bad.err;
}

TEST_F(CliOutputTest, UnregisterRemovesThePidsEntryAndExitsOneWhenThePidHadNone) {
  cli_ok({"create", "svc"});
  cli_ok({"register", "--pid", pid_, "svc", "db", "v"});
  EXPECT_EQ(cli_ok({"unregister", "svc", "db", "--pid", pid_}), "removed 1\n");
  RunResult gone = cli({"lookup", "svc", "db"});
  EXPECT_EQ(gone.exit_code(), 1) << gone.describe();
  // Nothing left for that pid: not found, exit 1.
  RunResult again = cli({"unregister", "svc", "db", "--pid", pid_});
  EXPECT_EQ(again.exit_code(), 1) << again.describe();
  // Another pid's entry is not this pid's to remove.
  cli_ok({"register", "--pid", pid_, "svc", "db", "v"});
  RunResult other = cli({"unregister", "svc", "db", "--pid", std::to_string(::getpid())});
  EXPECT_EQ(other.exit_code(), 1) << other.describe();
  EXPECT_EQ(cli_ok({"lookup", "svc", "db"}), pid_ + "\tv\n");
  // --pid is required: a usage error.
  RunResult no_pid = cli({"unregister", "svc", "db"});
  EXPECT_EQ(no_pid.exit_code(), 2) << no_pid.describe();
}

TEST_F(CliOutputTest, RegistriesListsEachRegistryWithItsEntriesCapacityEventsAndBytes) {
  RunResult none = cli({"registries"});
  EXPECT_EQ(none.exit_code(), 1) << none.describe();
  EXPECT_EQ(none.out, "");
  cli_ok({"create", "svc", "--capacity", "4"});
  cli_ok({"create", "pool", "--keys", "duplicate"});
  cli_ok({"register", "--pid", pid_, "svc", "k", "v"});
  const std::string text = cli_ok({"registries"});
  EXPECT_NE(text.find("svc\tunique\t1\t4\t1024\t"), std::string::npos) << text;
  EXPECT_NE(text.find("pool\tduplicate\t0\t4096\t1024\t"), std::string::npos) << text;

  const json arr = parse_json(cli_ok({"--json", "registries"}));
  ASSERT_EQ(arr.size(), 2u);
  for (const auto& r : arr) {
    EXPECT_GT(r.value("bytes", 0u), 0u) << r.dump();
    EXPECT_EQ(r.value("events", 0u), 1024u) << r.dump();
  }
  // dump reports the same cost.
  const json dump = parse_json(cli_ok({"--json", "dump"}));
  for (const auto& r : dump["registries"])
    for (const auto& l : arr)
      if (l["name"] == r["name"]) {
        EXPECT_EQ(l["bytes"], r["bytes"]) << r.dump();
      }
}

TEST_F(CliOutputTest, CreateEventsSizesTheEventRingAndRefusesWhatIsNotAPowerOfTwo) {
  cli_ok({"create", "big", "--capacity", "4"});
  cli_ok({"create", "small", "--capacity", "4", "--events", "16"});
  std::map<std::string, json> regs;
  for (const auto& r : parse_json(cli_ok({"--json", "registries"}))) regs[r.value("name", "")] = r;
  EXPECT_EQ(regs["small"].value("events", 0u), 16u);
  EXPECT_EQ(regs["big"].value("events", 0u), 1024u);
  EXPECT_LT(regs["small"].value("bytes", 0u) * 4, regs["big"].value("bytes", 0u)) << regs["small"].dump();
  // Idempotent with the same ring, refused with another one.
  cli_ok({"create", "small", "--capacity", "4", "--events", "16"});
  RunResult other = cli({"create", "small", "--capacity", "4", "--events", "32"});
  EXPECT_EQ(other.exit_code(), 2) << other.describe();
  EXPECT_NE(other.err.find("events is 16, not 32"), std::string::npos) << other.err;
  RunResult odd = cli({"create", "odd", "--events", "100"});
  EXPECT_EQ(odd.exit_code(), 2) << odd.describe();
  EXPECT_NE(odd.err.find("not a power of two from 2 to 1048576"), std::string::npos) << odd.err;
  RunResult low = cli({"create", "odd", "--events", "1"});
  EXPECT_EQ(low.exit_code(), 2) << low.describe();
  EXPECT_NE(low.err.find("--events"), std::string::npos) << low.err;
}

TEST_F(CliOutputTest, EveryCommandReportsAMissingSegmentWithTheSameCodeAndMessage) {
  const std::string none = unique_namespace();
  std::set<std::string> messages;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"lookup", "svc", "k"}, {"count", "svc"}, {"dump"}, {"fsck"}, {"registries"}, {"watch", "svc"}}) {
    std::vector<std::string> argv = {cli_binary(), "--json", "--namespace", none, "--socket", socket_path() + ".none"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code(), 2) << ::testing::PrintToString(args) << ": " << r.describe();
    const json e = parse_json(r.err);
    EXPECT_EQ(e.value("error", ""), "segment_not_found") << ::testing::PrintToString(args) << ": " << r.err;
    messages.insert(e.value("message", ""));
  }
  EXPECT_EQ(messages.size(), 1u) << ::testing::PrintToString(messages);
}

TEST_F(CliOutputTest, WatchAndReceiveExitOneWhenTheirTimeoutEndsThemAndZeroWhenTheCountIs) {
  cli_ok({"create", "svc"});
  EXPECT_EQ(cli({"watch", "svc", "--timeout", "0.2"}).exit_code(), 1);
  EXPECT_EQ(cli({"receive", "svc", "inbox", "--timeout", "0.2"}).exit_code(), 1);
  EXPECT_EQ(cli({"receive", "svc", "inbox", "--count", "1", "--timeout", "0.2"}).exit_code(), 1);
  cli_ok({"register", "--pid", pid_, "svc", "k", "v"});
  RunResult counted = cli({"watch", "svc", "--from", "1", "--count", "1", "--timeout", "20"});
  EXPECT_EQ(counted.exit_code(), 0) << counted.describe();
}

TEST_F(CliOutputTest, ACommandThatRegisterCannotExecExits127AsAShellDoes) {
  cli_ok({"create", "svc"});
  RunResult r = cli({"register", "svc", "k", "v", "--", "/nonexistent/command"});
  EXPECT_EQ(r.exit_code(), 127) << r.describe();
  EXPECT_NE(r.err.find("cannot run /nonexistent/command"), std::string::npos) << r.err;
  // Its entry went with the process.
  EXPECT_TRUE(wait_until([&] { return cli({"lookup", "svc", "k"}).exit_code() == 1; }));
}

}  // namespace
}  // namespace shmreg::test
