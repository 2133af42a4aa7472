// `shmreg await REG KEY [KEY...] [--all] --timeout S` against real brokers:
// it is satisfied by any one key (or, with --all, every key) registered by
// other real processes while it waits, prints the keys it saw, exits 1 on
// timeout naming the keys still missing, and waits for a namespace whose
// broker has not started yet instead of failing at once.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker_test.hpp"
#include "json_output.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

class CliAwaitTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }

  // A process owning reg/key for as long as it lives.
  Subprocess hold(const std::vector<std::string>& cli_prefix, const std::string& reg, const std::string& key) {
    std::vector<std::string> argv = cli_prefix;
    for (const auto& a : {std::string("register"), reg, key, std::string("v"), std::string("--"),
                          std::string("sleep"), std::string("600")})
      argv.push_back(a);
    return Subprocess::spawn(argv);
  }
  Subprocess hold(const std::string& reg, const std::string& key) { return hold(cli_argv({}), reg, key); }

  // `shmreg await ...` running in the background, its stdout to out_file().
  Subprocess start_await(const std::vector<std::string>& argv) {
    SpawnOptions o;
    o.stdout_path = out_file();
    return Subprocess::spawn(argv, o);
  }
  std::string out_file() const { return dir().path() + "/await.out"; }
  std::string await_output() const {
    std::ifstream in(out_file());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // The exit code of p, once it exited by itself within the harness's deadline.
  static int exit_code_of(Subprocess& p) {
    auto status = p.wait();
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }
};

TEST_F(CliAwaitTest, AwaitWithSeveralKeysReturnsWhenAnotherProcessRegistersAnyOne) {
  Subprocess waiter = start_await(cli_argv({"await", "svc", "a", "b", "c", "--timeout", "60"}));
  Subprocess owner = hold("svc", "b");
  EXPECT_EQ(exit_code_of(waiter), 0) << broker().log();
  EXPECT_EQ(await_output(), "b\n");
}

TEST_F(CliAwaitTest, AwaitAllReturnsOnlyOnceEveryKeyIsRegistered) {
  Subprocess first = hold("svc", "a");
  ASSERT_TRUE(wait_until([&] { return cli({"lookup", "svc", "a"}).exit_code() == 0; }));
  // One of two is not enough: it times out, naming the key still missing.
  RunResult partial = cli({"await", "svc", "a", "b", "--all", "--timeout", "0.3"});
  EXPECT_EQ(partial.exit_code(), 1) << partial.describe();
  EXPECT_EQ(partial.out, "");
  EXPECT_NE(partial.err.find("not registered in 'svc': b"), std::string::npos) << partial.err;

  Subprocess waiter = start_await(cli_argv({"await", "svc", "a", "b", "--all", "--timeout", "60"}));
  Subprocess second = hold("svc", "b");
  EXPECT_EQ(exit_code_of(waiter), 0) << broker().log();
  EXPECT_EQ(await_output(), "a\nb\n");
}

TEST_F(CliAwaitTest, AwaitTimesOutWithExitOneAndJsonNamesWhatIsMissing) {
  Subprocess owner = hold("svc", "a");
  ASSERT_TRUE(wait_until([&] { return cli({"lookup", "svc", "a"}).exit_code() == 0; }));
  RunResult none = cli({"await", "svc", "x", "--timeout", "0.2"});
  EXPECT_EQ(none.exit_code(), 1) << none.describe();

  RunResult j = cli({"--json", "await", "svc", "a", "x", "--all", "--timeout", "0.2"});
  EXPECT_EQ(j.exit_code(), 1) << j.describe();
  const json v = parse_json(j.out);
  ASSERT_TRUE(v.is_object()) << j.out;
  EXPECT_EQ(v["registered"], false);
  EXPECT_EQ(v["appeared"], json::array({"a"}));
  EXPECT_EQ(v["missing"], json::array({"x"}));

  RunResult ok = cli({"--json", "await", "svc", "a", "--timeout", "5"});
  EXPECT_EQ(ok.exit_code(), 0) << ok.describe();
  const json w = parse_json(ok.out);
  ASSERT_TRUE(w.is_object()) << ok.out;
  EXPECT_EQ(w["registered"], true);
  EXPECT_EQ(w["key"], "a");  // the one-key shape scripts already read
}

TEST_F(CliAwaitTest, AwaitBeforeTheBrokerStartsWaitsForTheSegmentAndTheRegistry) {
  const std::string late_ns = unique_namespace();
  const std::string late_socket = dir().path() + "/late.sock";
  const std::vector<std::string> late_cli = {cli_binary(), "--namespace", late_ns, "--socket", late_socket};
  std::vector<std::string> argv = late_cli;
  for (const char* a : {"await", "jobs", "ready", "--timeout", "60"}) argv.emplace_back(a);
  Subprocess waiter = start_await(argv);

  BrokerProcess late(late_ns, late_socket, dir().path() + "/late.log");
  ASSERT_TRUE(succeeded(late.start()));
  std::vector<std::string> create = late_cli;
  for (const char* a : {"create", "jobs"}) create.emplace_back(a);
  ASSERT_EQ(run(create).exit_code(), 0) << late.log();
  Subprocess owner = hold(late_cli, "jobs", "ready");
  EXPECT_EQ(exit_code_of(waiter), 0) << late.log();
  EXPECT_EQ(await_output(), "ready\n");
  owner.kill_and_wait();
  EXPECT_TRUE(succeeded(late.stop()));
}

TEST_F(CliAwaitTest, AwaitWithoutABrokerTimesOutWithExitOne) {
  RunResult r = run({cli_binary(), "--namespace", unique_namespace(), "--socket", socket_path() + ".none", "await",
                     "svc", "k", "--timeout", "0.3"});
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
}

TEST_F(CliAwaitTest, AwaitArgumentErrorsExitTwo) {
  EXPECT_EQ(cli({"await", "svc"}).exit_code(), 2);
  EXPECT_EQ(cli({"await", "svc", "k", "--timeout", "soon"}).exit_code(), 2);
  EXPECT_EQ(cli({"await", "svc", "k", "--every"}).exit_code(), 2);
}

}  // namespace
}  // namespace shmreg::test
