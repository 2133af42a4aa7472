// A client in a container with its own PID namespace (as root: a forked
// child unshares CLONE_NEWPID and forks the client, pid 1 in there). The
// broker names owners by pids of its own namespace, which the kernel gives it:
// SO_PEERCRED translates the caller's pid, and a pid the client names for an
// on-behalf write is turned into a pidfd in the client's namespace (so it
// means the process the client sees) whose pid field the broker reads in its
// own. So an entry carries the host pid, never the container's, and is reaped
// when that process dies.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

// This process's pids, outermost namespace first (the NSpid line of its
// status: /proc here is the host's, so the first is the host pid).
std::vector<long> own_nspids() {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::vector<long> pids;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    for (long p = 0; fields >> p;) pids.push_back(p);
  }
  return pids;
}

std::string nspid_line(const std::string& who) {
  std::string line = who;
  for (long p : own_nspids()) line += " " + std::to_string(p);
  return line;
}

// The client, pid 1 of its namespace: it registers for itself, forks a
// process (pid 2 there) and registers for it by that pid, then tries a pid
// that no process has in its namespace. Every outcome goes to the test as a
// line; it then waits for the test to close the channel.
int client_in_container(ChildChannel& ch, const std::string& ns, const std::string& socket) {
  ch.send(nspid_line("client"));
  const pid_t helper = ::fork();
  if (helper == 0) {
    ch.send(nspid_line("helper"));
    ::pause();
    ::_exit(0);
  }
  auto client = shmreg::Client::open({ns, socket});
  if (!client) return child_report(ch, "open " + client.error().message);
  auto self = client->register_key("svc", "inside", "client");
  ch.send(self ? "self ok" : "self " + self.error().message);
  auto other = client->register_key_for(shmreg::ProcessRef::pid(static_cast<std::uint32_t>(helper)), "svc",
                                        "for-helper", "helper");
  ch.send(other ? std::string("for-helper ok") : "for-helper " + other.error().message);
  auto none = client->register_key_for(shmreg::ProcessRef::pid(4'000'000), "svc", "for-none", "x");
  ch.send(none ? std::string("none registered") : "none " + std::string(shmreg::to_string(none.error().code)) + " " +
                                                       none.error().message);
  ch.receive();
  return 0;
}

class PidNamespace : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
};

TEST_F(PidNamespace, AClientInItsOwnPidNamespaceRegistersUnderItsHostPidAndForItsChildByTheChildsHostPid) {
  const std::string n = ns(), s = socket_path();
  ForkedChild outer = ForkedChild::start([n, s](ChildChannel& ch) {
    if (::unshare(CLONE_NEWPID) != 0) return child_report(ch, "unshare " + std::string(std::strerror(errno)), 0);
    const pid_t inner = ::fork();
    if (inner == 0) ::_exit(client_in_container(ch, n, s));
    int status = 0;
    ::waitpid(inner, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  });
  std::map<std::string, std::vector<std::string>> said;
  for (int i = 0; i < 5; ++i) {
    auto line = outer.receive();
    ASSERT_TRUE(line) << "the container said only " << said.size() << " lines";
    if (line->rfind("unshare ", 0) == 0) GTEST_SKIP() << "no PID namespace for this test: " << *line;
    std::istringstream words(*line);
    std::string first;
    words >> first;
    std::vector<std::string> rest;
    for (std::string w; words >> w;) rest.push_back(w);
    said[first] = rest;
  }
  ASSERT_EQ(said["client"].size(), 2u) << "client's NSpid: host pid, then 1";
  ASSERT_EQ(said["helper"].size(), 2u);
  EXPECT_EQ(said["client"][1], "1");
  EXPECT_EQ(said["helper"][1], "2");
  const pid_t client_pid = std::stoi(said["client"][0]);
  const pid_t helper_pid = std::stoi(said["helper"][0]);
  ASSERT_EQ(said["self"], std::vector<std::string>{"ok"});
  ASSERT_EQ(said["for-helper"], std::vector<std::string>{"ok"});
  EXPECT_EQ(said["none"].empty() ? "" : said["none"][0], "invalid_argument") << ::testing::PrintToString(said["none"]);

  // The broker's pids, which are the host's: never 1 or 2 of the container.
  EXPECT_EQ(cli_lookup("svc", "inside"), (Lookup{{client_pid, "client"}}));
  EXPECT_EQ(cli_lookup("svc", "for-helper"), (Lookup{{helper_pid, "helper"}}));
  EXPECT_EQ(cli_lookup("svc", "for-none"), Lookup{});

  // Reaped by host pid: the helper first, then the client (whose death, as
  // pid 1 of its namespace, would take the helper too).
  ASSERT_EQ(::kill(helper_pid, SIGKILL), 0);
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "for-helper").empty(); })) << broker().log();
  EXPECT_EQ(cli_lookup("svc", "inside"), (Lookup{{client_pid, "client"}}));
  ASSERT_EQ(::kill(client_pid, SIGKILL), 0);
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "inside").empty(); })) << broker().log();
  EXPECT_TRUE(outer.wait());
}

}  // namespace
}  // namespace shmreg::test
