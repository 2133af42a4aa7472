// Owner queues end to end: a real broker, the real CLI's queue flags, and
// owner processes killed with SIGKILL, whose names pass to the next in line.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

class Handover : public BrokerTest {
 protected:
  // `shmreg register FLAGS REG KEY VALUE -- sleep 600` as a child process.
  Subprocess hold(const std::vector<std::string>& flags, const std::string& value) {
    std::vector<std::string> args = {"register"};
    args.insert(args.end(), flags.begin(), flags.end());
    for (const char* a : {"svc", "name"}) args.emplace_back(a);
    args.push_back(value);
    for (const char* a : {"--", "sleep", "600"}) args.emplace_back(a);
    return Subprocess::spawn(cli_argv(args));
  }
  std::vector<pid_t> queue_pids() const {
    std::vector<pid_t> out;
    RunResult r = cli({"queue", "svc", "name"});
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) out.push_back(static_cast<pid_t>(std::stol(line)));
    return out;
  }
};

TEST_F(Handover, SigkilledPrimaryHandsTheNameToTheNextInLineAndWatchersSeeOneOwnerChange) {
  cli_ok({"create", "svc"});
  Subprocess a = hold({"--queue"}, "A");
  ASSERT_TRUE(wait_until([&] { return queue_pids().size() == 1; }));
  Subprocess b = hold({"--queue"}, "B");
  ASSERT_TRUE(wait_until([&] { return queue_pids().size() == 2; }));
  Subprocess c = hold({"--queue"}, "C");
  ASSERT_TRUE(wait_until([&] { return queue_pids().size() == 3; }));
  EXPECT_EQ(queue_pids(), (std::vector<pid_t>{a.pid(), b.pid(), c.pid()}));

  // The watcher starts right after the newest event so far, whenever its
  // process gets to run: the handover below cannot slip past it.
  auto client = Client::open({ns(), socket_path()});
  ASSERT_TRUE(client);
  auto reg = client->registry("svc");
  ASSERT_TRUE(reg);
  const std::uint64_t from = *reg->event_head() + 1;
  SpawnOptions o;
  o.stdout_pipe = true;
  Subprocess watcher = Subprocess::spawn(
      cli_argv({"--json", "watch", "svc", "name", "--from", std::to_string(from), "--count", "1"}), o);
  ASSERT_TRUE(a.kill_and_wait());

  auto line = watcher.read_stdout_line();
  ASSERT_TRUE(line) << "no event";
  const json ev = json::parse(*line);
  EXPECT_EQ(ev["type"], "owner_changed");
  EXPECT_EQ(ev["old_pid"].get<pid_t>(), a.pid());
  EXPECT_EQ(ev["pid"].get<pid_t>(), b.pid());
  auto rc = watcher.wait();
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);

  auto owners = cli_lookup("svc", "name");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].first, b.pid());
  EXPECT_EQ(owners[0].second, "B");
  EXPECT_EQ(queue_pids(), (std::vector<pid_t>{b.pid(), c.pid()}));
  b.kill_and_wait();
  c.kill_and_wait();
  ASSERT_TRUE(wait_until([&] { return cli({"lookup", "svc", "name"}).exit_code() == 1; }));
  EXPECT_EQ(cli({"fsck"}).exit_code(), 0);
}

TEST_F(Handover, DoNotQueueExitsThreeWithTheOwnersPid) {
  cli_ok({"create", "svc"});
  Subprocess a = hold({"--queue"}, "A");
  ASSERT_TRUE(wait_until([&] { return queue_pids().size() == 1; }));
  RunResult r = cli({"register", "--do-not-queue", "svc", "name", "X"});
  EXPECT_EQ(r.exit_code(), 3);
  EXPECT_NE(r.err.find("already registered by PID " + std::to_string(a.pid())), std::string::npos) << r.err;
}

TEST_F(Handover, ReplaceExistingTakesOverAnOwnerThatAllowsIt) {
  cli_ok({"create", "svc"});
  Subprocess a = hold({"--allow-replacement"}, "A");
  ASSERT_TRUE(wait_until([&] { return queue_pids().size() == 1; }));
  Subprocess b = hold({"--replace-existing"}, "B");
  ASSERT_TRUE(wait_until([&] { return queue_pids() == std::vector<pid_t>{b.pid(), a.pid()}; }));
  auto owners = cli_lookup("svc", "name");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].first, b.pid());
}

}  // namespace
}  // namespace shmreg::test
