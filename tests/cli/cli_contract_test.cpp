// The `shmreg` CLI's contract, which scripts depend on:
//   exit 0 ok; 1 not found (lookup, keys, list); 2 usage or other error;
//   3 already registered ("already registered by PID <n>" on stderr);
//   124 timeout (a broker that does not answer within --timeout);
// text output formats, --json output that parses, `create` idempotent with the
// same options and refused (exit 2) with different ones.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "broker_test.hpp"
#include "json_output.hpp"
#include "stopped_broker.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

std::multiset<std::string> lines_of(const std::string& text) {
  std::multiset<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    out.insert(text.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

class CliContractTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
    cli_ok({"create", "empty"});
  }

  // A process holding reg/key (via `register -- sleep`), once visible.
  Subprocess hold(const std::string& reg, const std::string& key, const std::string& value) {
    Subprocess p = Subprocess::spawn(cli_argv({"register", reg, key, value, "--", "sleep", "600"}));
    const std::string pid = std::to_string(p.pid());
    EXPECT_TRUE(wait_until([&] { return cli({"keys", reg, pid}).exit_code() == 0 || !p.running(); }));
    EXPECT_TRUE(p.running()) << "register " << reg << " " << key << " ended early";
    return p;
  }

  void expect_exit(const std::vector<std::string>& args, int code) {
    RunResult r = cli(args);
    EXPECT_EQ(r.exit_code(), code) << "shmreg " << ::testing::PrintToString(args) << ": " << r.describe();
  }
};

TEST_F(CliContractTest, PingExitsZeroAndNamesTheBroker) {
  RunResult text = cli({"ping"});
  EXPECT_EQ(text.exit_code(), 0) << text.describe();
  EXPECT_NE(text.out.find(std::to_string(broker().pid())), std::string::npos) << text.out;

  RunResult j = cli({"--json", "ping"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json v = parse_json(j.out);
  EXPECT_EQ(v.value("broker_pid", 0), broker().pid());
  EXPECT_EQ(v.value("namespace", ""), ns());
  EXPECT_EQ(v.value("socket", ""), socket_path());
}

TEST_F(CliContractTest, PingWithoutABrokerExitsTwo) {
  ASSERT_TRUE(stop_broker());
  RunResult text = cli({"ping"});
  EXPECT_EQ(text.exit_code(), 2) << text.describe();
  EXPECT_FALSE(text.err.empty());
  RunResult j = cli({"--json", "ping"});
  EXPECT_EQ(j.exit_code(), 2) << j.describe();
  EXPECT_TRUE(parse_json(j.err).contains("error")) << j.err;
}

TEST_F(CliContractTest, AStoppedBrokerExitsWithTheTimeoutCodeByTheDeadlineOfTimeout) {
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  RunResult text = cli({"--timeout", "200ms", "ping"});
  EXPECT_EQ(text.exit_code(), 124) << text.describe();
  EXPECT_NE(text.err.find("within 200 ms"), std::string::npos) << text.err;

  RunResult j = cli({"--json", "--timeout", "0.2", "register", "svc", "k", "v"});
  EXPECT_EQ(j.exit_code(), 124) << j.describe();
  const json e = parse_json(j.err);
  EXPECT_EQ(e.value("error", ""), "timeout");
  EXPECT_NE(e.value("message", "").find("within 200 ms"), std::string::npos) << j.err;
}

TEST_F(CliContractTest, ShmregTimeoutInTheEnvironmentSetsTheDeadlineAndTheFlagWins) {
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  std::vector<std::string> argv = cli_argv({"ping"});
  argv.insert(argv.begin(), {"/usr/bin/env", "SHMREG_TIMEOUT=300ms"});
  RunResult from_env = run(argv);
  EXPECT_EQ(from_env.exit_code(), 124) << from_env.describe();
  EXPECT_NE(from_env.err.find("within 300 ms"), std::string::npos) << from_env.err;

  argv = cli_argv({"--timeout", "100ms", "ping"});
  argv.insert(argv.begin(), {"/usr/bin/env", "SHMREG_TIMEOUT=1m"});
  RunResult flag = run(argv);
  EXPECT_EQ(flag.exit_code(), 124) << flag.describe();
  EXPECT_NE(flag.err.find("within 100 ms"), std::string::npos) << flag.err;
}

TEST_F(CliContractTest, ATimeoutThatIsNotADurationIsAUsageError) {
  for (const char* bad : {"0", "-1s", "soon", "5h", "2 s"}) {
    RunResult r = cli({"--timeout", bad, "ping"});
    EXPECT_EQ(r.exit_code(), 2) << bad << ": " << r.describe();
    EXPECT_NE(r.err.find("not a duration"), std::string::npos) << bad << ": " << r.err;
  }
  std::vector<std::string> argv = cli_argv({"ping"});
  argv.insert(argv.begin(), {"/usr/bin/env", "SHMREG_TIMEOUT=never"});
  RunResult r = run(argv);
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find("$SHMREG_TIMEOUT 'never'"), std::string::npos) << r.err;
}

TEST_F(CliContractTest, CreateIsIdempotentWithTheSameOptionsAndRefusesDifferentOnes) {
  expect_exit({"create", "r1"}, 0);
  expect_exit({"create", "r1"}, 0);
  expect_exit({"create", "r1", "--keys", "unique", "--partitions", "1"}, 0);
  RunResult j = cli({"--json", "create", "r1"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json v = parse_json(j.out);
  EXPECT_EQ(v.value("registry", ""), "r1");
  EXPECT_EQ(v.value("keys", ""), "unique");
  EXPECT_EQ(v.value("partitions", 0), 1);

  expect_exit({"create", "r1", "--keys", "duplicate"}, 2);
  expect_exit({"create", "r1", "--partitions", "4"}, 2);

  expect_exit({"create", "r2", "--keys", "duplicate", "--partitions", "4"}, 0);
  expect_exit({"create", "r2", "--keys", "duplicate", "--partitions", "4"}, 0);
  RunResult j2 = cli({"--json", "create", "r2", "--keys", "duplicate", "--partitions", "4"});
  EXPECT_EQ(j2.exit_code(), 0) << j2.describe();
  EXPECT_EQ(parse_json(j2.out).value("keys", ""), "duplicate");
  expect_exit({"create", "r2", "--keys", "duplicate"}, 2);
  expect_exit({"create", "r2", "--partitions", "4"}, 2);

  RunResult refused = cli({"--json", "create", "r2"});
  EXPECT_EQ(refused.exit_code(), 2) << refused.describe();
  EXPECT_EQ(parse_json(refused.err).value("error", ""), "registry_exists") << refused.err;

  // Usage errors.
  expect_exit({"create"}, 2);
  expect_exit({"create", "r3", "--keys", "sometimes"}, 2);
  expect_exit({"create", "r3", "--partitions", "0"}, 2);
  expect_exit({"create", "r3", "--partitions", "many"}, 2);

  // What the refused calls left behind: the registries as first created.
  const json dump = parse_json(cli_ok({"--json", "dump"}));
  std::map<std::string, std::pair<std::string, unsigned>> regs;
  for (const auto& r : dump["registries"])
    regs[r["name"].get<std::string>()] = {r["keys"].get<std::string>(), r["partitions"].get<unsigned>()};
  EXPECT_EQ(regs["r1"], (std::pair<std::string, unsigned>{"unique", 1}));
  EXPECT_EQ(regs["r2"], (std::pair<std::string, unsigned>{"duplicate", 4}));
  EXPECT_EQ(regs.count("r3"), 0u);
}

TEST_F(CliContractTest, RegisterHoldsTheKeyUntilSigtermOrSigintThenUnregisters) {
  SpawnOptions o;
  o.stdout_pipe = true;
  Subprocess j = Subprocess::spawn(cli_argv({"--json", "register", "svc", "held", "v1"}), o);
  const auto line = j.read_stdout_line();
  ASSERT_TRUE(line) << broker().log();
  const json v = parse_json(*line);
  EXPECT_EQ(v.value("registry", ""), "svc");
  EXPECT_EQ(v.value("key", ""), "held");
  EXPECT_EQ(v.value("pid", 0), j.pid());
  EXPECT_GT(v.value("version", 0u), 0u);
  EXPECT_EQ(cli_ok({"lookup", "svc", "held"}), std::to_string(j.pid()) + "\tv1\n");

  ASSERT_TRUE(j.signal(SIGTERM));
  auto status = j.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
  // It unregistered before exiting: gone at once, without waiting for a reap,
  // and the broker found nothing left to reap once it saw the exit (a round
  // trip makes sure it has handled that pidfd).
  expect_exit({"lookup", "svc", "held"}, 1);
  cli_ok({"ping"});
  EXPECT_EQ(broker().log().find("reaped pid " + std::to_string(j.pid())), std::string::npos) << broker().log();

  Subprocess t = Subprocess::spawn(cli_argv({"register", "svc", "held", "v2"}), o);
  const auto text = t.read_stdout_line();
  ASSERT_TRUE(text) << broker().log();
  EXPECT_EQ(text->rfind("registered held in svc as pid " + std::to_string(t.pid()), 0), 0u) << *text;
  ASSERT_TRUE(t.signal(SIGINT));
  status = t.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
  expect_exit({"lookup", "svc", "held"}, 1);
}

TEST_F(CliContractTest, RegisterExitCodes) {
  Subprocess holder = hold("svc", "taken", "v");
  RunResult conflict = cli({"register", "svc", "taken", "w"});
  EXPECT_EQ(conflict.exit_code(), 3) << conflict.describe();
  EXPECT_EQ(conflict.err, "already registered by PID " + std::to_string(holder.pid()) + "\n");

  expect_exit({"register", "nosuchreg", "k", "v", "--", "true"}, 2);
  expect_exit({"register", "svc", std::string(4096, 'k'), "v", "--", "true"}, 2);  // key too long
  expect_exit({"register", "svc", "k"}, 2);                                       // usage
  expect_exit({"register"}, 2);
  expect_exit({"lookup", "svc", "k", "--", "true"}, 2);  // "-- CMD" only with register
}

TEST_F(CliContractTest, LookupExitCodesAndOutput) {
  Subprocess a = hold("svc", "one", "va");
  Subprocess b = hold("pool", "many", "vb");
  Subprocess c = hold("pool", "many", "vc");

  RunResult one = cli({"lookup", "svc", "one"});
  EXPECT_EQ(one.exit_code(), 0) << one.describe();
  EXPECT_EQ(one.out, std::to_string(a.pid()) + "\tva\n");
  RunResult many = cli({"lookup", "pool", "many"});
  EXPECT_EQ(many.exit_code(), 0) << many.describe();
  EXPECT_EQ(lines_of(many.out),
            (std::multiset<std::string>{std::to_string(b.pid()) + "\tvb", std::to_string(c.pid()) + "\tvc"}));

  RunResult absent = cli({"lookup", "svc", "absent"});
  EXPECT_EQ(absent.exit_code(), 1) << absent.describe();
  EXPECT_EQ(absent.out, "");
  expect_exit({"lookup", "nosuchreg", "k"}, 2);
  expect_exit({"lookup", "svc"}, 2);
  expect_exit({"lookup", "svc", "a", "b"}, 2);

  RunResult j = cli({"--json", "lookup", "pool", "many"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json arr = parse_json(j.out);
  ASSERT_TRUE(arr.is_array());
  ASSERT_EQ(arr.size(), 2u);
  std::set<std::pair<pid_t, std::string>> got;
  for (const auto& e : arr) {
    EXPECT_GT(e.value("version", 0u), 0u);
    got.emplace(e["pid"].get<pid_t>(), e["value"].get<std::string>());
  }
  EXPECT_EQ(got, (std::set<std::pair<pid_t, std::string>>{{b.pid(), "vb"}, {c.pid(), "vc"}}));
  RunResult jabsent = cli({"--json", "lookup", "svc", "absent"});
  EXPECT_EQ(jabsent.exit_code(), 1) << jabsent.describe();
  EXPECT_EQ(parse_json(jabsent.out), json::array());
  RunResult jbad = cli({"--json", "lookup", "nosuchreg", "k"});
  EXPECT_EQ(jbad.exit_code(), 2) << jbad.describe();
  EXPECT_EQ(parse_json(jbad.err).value("error", ""), "registry_not_found") << jbad.err;
}

TEST_F(CliContractTest, KeysExitCodesAndOutput) {
  Subprocess a = hold("svc", "k1", "v");
  const std::string pid = std::to_string(a.pid());
  RunResult keys = cli({"keys", "svc", pid});
  EXPECT_EQ(keys.exit_code(), 0) << keys.describe();
  EXPECT_EQ(keys.out, "k1\n");
  RunResult none = cli({"keys", "pool", pid});
  EXPECT_EQ(none.exit_code(), 1) << none.describe();
  EXPECT_EQ(none.out, "");
  expect_exit({"keys", "svc", "not-a-pid"}, 2);
  expect_exit({"keys", "nosuchreg", pid}, 2);
  expect_exit({"keys", "svc"}, 2);

  RunResult j = cli({"--json", "keys", "svc", pid});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  EXPECT_EQ(parse_json(j.out), json::array({"k1"}));
  RunResult jnone = cli({"--json", "keys", "pool", pid});
  EXPECT_EQ(jnone.exit_code(), 1) << jnone.describe();
  EXPECT_EQ(parse_json(jnone.out), json::array());
}

TEST_F(CliContractTest, CountExitCodesAndOutput) {
  Subprocess a = hold("pool", "x", "1");
  Subprocess b = hold("pool", "y", "2");
  RunResult two = cli({"count", "pool"});
  EXPECT_EQ(two.exit_code(), 0) << two.describe();
  EXPECT_EQ(two.out, "2\n");
  RunResult zero = cli({"count", "empty"});
  EXPECT_EQ(zero.exit_code(), 0) << zero.describe();  // an empty registry is no error for count
  EXPECT_EQ(zero.out, "0\n");
  expect_exit({"count", "nosuchreg"}, 2);
  expect_exit({"count"}, 2);

  RunResult j = cli({"--json", "count", "pool"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json v = parse_json(j.out);
  EXPECT_EQ(v.value("registry", ""), "pool");
  EXPECT_EQ(v.value("count", 0), 2);
}

TEST_F(CliContractTest, ListExitCodesAndOutput) {
  Subprocess a = hold("svc", "ka", "va");
  Subprocess b = hold("svc", "kb", "vb");
  RunResult list = cli({"list", "svc"});
  EXPECT_EQ(list.exit_code(), 0) << list.describe();
  EXPECT_EQ(lines_of(list.out), (std::multiset<std::string>{"ka\t" + std::to_string(a.pid()) + "\tva",
                                                             "kb\t" + std::to_string(b.pid()) + "\tvb"}));
  RunResult empty = cli({"list", "empty"});
  EXPECT_EQ(empty.exit_code(), 1) << empty.describe();
  EXPECT_EQ(empty.out, "");
  expect_exit({"list", "nosuchreg"}, 2);
  expect_exit({"list"}, 2);

  RunResult j = cli({"--json", "list", "svc"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json arr = parse_json(j.out);
  ASSERT_TRUE(arr.is_array());
  std::set<std::string> keys;
  for (const auto& e : arr) {
    keys.insert(e.value("key", ""));
    EXPECT_TRUE(e.contains("pid") && e.contains("value") && e.contains("version")) << e.dump();
  }
  EXPECT_EQ(keys, (std::set<std::string>{"ka", "kb"}));
  RunResult jempty = cli({"--json", "list", "empty"});
  EXPECT_EQ(jempty.exit_code(), 1) << jempty.describe();
  EXPECT_EQ(parse_json(jempty.out), json::array());
}

// The registry is walked in hash order; list and dump print key order, the
// same for the same entries whatever order they were registered in.
TEST_F(CliContractTest, ListAndDumpPrintEntriesSortedByKey) {
  std::vector<std::string> keys;
  for (int i = 0; i < 12; ++i) keys.push_back("k" + std::to_string(10 + (i * 7) % 12));
  for (const auto& k : keys) cli_ok({"set", "svc", k, "v-" + k});
  std::sort(keys.begin(), keys.end());

  std::vector<std::string> listed;
  std::istringstream text(cli_ok({"list", "svc"}));
  for (std::string line; std::getline(text, line);) listed.push_back(line.substr(0, line.find('\t')));
  EXPECT_EQ(listed, keys);

  listed.clear();
  for (const auto& e : parse_json(cli_ok({"--json", "list", "svc"}))) listed.push_back(e.value("key", ""));
  EXPECT_EQ(listed, keys);

  listed.clear();
  const json dump = parse_json(cli_ok({"--json", "dump"}));
  for (const auto& r : dump["registries"])
    if (r["name"] == "svc")
      for (const auto& e : r["entries"]) listed.push_back(e.value("key", ""));
  EXPECT_EQ(listed, keys);
}

TEST_F(CliContractTest, DumpAndFsckDescribeAConsistentSegment) {
  Subprocess a = hold("svc", "dumped", "v");
  RunResult text = cli({"dump"});
  EXPECT_EQ(text.exit_code(), 0) << text.describe();
  EXPECT_NE(text.out.find("namespace " + ns()), std::string::npos) << text.out;

  RunResult j = cli({"--json", "dump"});
  EXPECT_EQ(j.exit_code(), 0) << j.describe();
  const json d = parse_json(j.out);
  EXPECT_EQ(d.value("namespace", ""), ns());
  ASSERT_TRUE(d.contains("registries") && d["registries"].is_array());
  ASSERT_TRUE(d.contains("owners") && d["owners"].is_array());
  bool found = false;
  for (const auto& r : d["registries"])
    if (r["name"] == "svc")
      for (const auto& e : r["entries"]) found = found || (e["key"] == "dumped" && e["pid"] == a.pid());
  EXPECT_TRUE(found) << j.out;
  ASSERT_EQ(d["owners"].size(), 1u);
  EXPECT_EQ(d["owners"][0].value("pid", 0), a.pid());

  RunResult fsck = cli({"fsck"});
  EXPECT_EQ(fsck.exit_code(), 0) << fsck.describe();
  RunResult jf = cli({"--json", "fsck"});
  EXPECT_EQ(jf.exit_code(), 0) << jf.describe();
  const json f = parse_json(jf.out);
  EXPECT_EQ(f.value("ok", false), true);
  EXPECT_EQ(f["problems"], json::array());
}

TEST_F(CliContractTest, CommandsOnANamespaceWithoutASegmentExitTwo) {
  const std::string none = unique_namespace();
  for (const auto& args : std::vector<std::vector<std::string>>{{"lookup", "svc", "k"},
                                                                  {"keys", "svc", "1"},
                                                                  {"count", "svc"},
                                                                  {"list", "svc"},
                                                                  {"dump"},
                                                                  {"fsck"},
                                                                  {"ping"},
                                                                  {"create", "svc"}}) {
    std::vector<std::string> argv = {cli_binary(), "--namespace", none, "--socket", socket_path() + ".none"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code(), 2) << ::testing::PrintToString(args) << ": " << r.describe();
    argv.insert(argv.begin() + 1, "--json");
    RunResult j = run(argv);
    EXPECT_EQ(j.exit_code(), 2) << ::testing::PrintToString(args) << ": " << j.describe();
    EXPECT_TRUE(parse_json(j.err).contains("error")) << ::testing::PrintToString(args) << ": " << j.err;
  }
}

TEST_F(CliContractTest, UsageErrorsExitTwo) {
  expect_exit({}, 2);
  expect_exit({"no-such-command"}, 2);
  expect_exit({"--no-such-option", "ping"}, 2);
  expect_exit({"count", "svc", "extra"}, 2);
  expect_exit({"dump", "extra"}, 2);
  RunResult r = run({cli_binary(), "--namespace"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  RunResult bad_ns = run({cli_binary(), "--namespace", "bad/name", "--socket", socket_path(), "count", "svc"});
  EXPECT_EQ(bad_ns.exit_code(), 2) << bad_ns.describe();
}

}  // namespace
}  // namespace shmreg::test
