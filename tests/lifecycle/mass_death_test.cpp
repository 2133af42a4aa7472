// Mass death: many owner processes, each with a unique key and a place under
// one shared duplicate key, all SIGKILLed in the same instant (one signal to
// their process group). Every entry and every owner slot must be gone by the
// deadline, the segment must check out, and the broker must still serve.
//
// Built twice: 200 owners (label quick) and, with SHMREG_STRESS, 1000 owners
// (label stress).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

#ifdef SHMREG_STRESS
constexpr int kOwners = 1000;
#define MASS_DEATH_SUITE MassDeathStressTest
#else
constexpr int kOwners = 200;
#define MASS_DEATH_SUITE MassDeathTest
#endif

class MASS_DEATH_SUITE : public BrokerTest {
 protected:
  std::vector<std::string> broker_args() const override {
    return {"--segment-size", "32M", "--default-capacity", std::to_string(2 * kOwners + 64)};
  }
};

TEST_F(MASS_DEATH_SUITE, OwnersKilledAllAtOnceLoseEveryEntry) {
  cli_ok({"create", "svc"});
  cli_ok({"create", "pool", "--keys", "duplicate"});

  // Each owner reports one fixed-size record on a shared pipe (atomic below
  // PIPE_BUF): 'o' registered, 'e' failed. Then it waits to be killed.
  sys::Pipe reports = make_pipe();
  std::vector<pid_t> pids;
  pid_t group = 0;
  const std::string ns_name = ns(), socket = socket_path();
  for (int i = 0; i < kOwners; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << "fork failed after " << i << " owners";
    if (pid == 0) {
      ::setpgid(0, group);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      reports.read.reset();
      char result = 'e';
      if (auto c = shmreg::Client::open({ns_name, socket})) {
        const std::string me = std::to_string(::getpid());
        if (c->register_key("svc", "owner-" + me, me) && c->register_key("pool", "members", me)) result = 'o';
        (void)!::write(reports.write.get(), &result, 1);
        for (;;) ::pause();  // keeps the Client, and its connection, to the end
      }
      (void)!::write(reports.write.get(), &result, 1);
      ::_exit(1);
    }
    ::setpgid(pid, group);  // also from here, so that the group exists before the kill
    if (group == 0) group = pid;
    pids.push_back(pid);
  }
  reports.write.reset();

  // Killing the whole group also covers owners this loop could not count.
  struct KillGroup {
    pid_t group;
    std::vector<pid_t>& pids;
    ~KillGroup() {
      if (group > 0) ::kill(-group, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    }
  } cleanup{group, pids};

  int registered = 0, failed = 0;
  const auto deadline = Clock::now() + kTimeout * 3;
  while (registered + failed < kOwners && Clock::now() < deadline) {
    char buf[256];
    pollfd p{reports.read.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(reports.read.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) (buf[i] == 'o' ? registered : failed)++;
  }
  ASSERT_EQ(registered, kOwners) << failed << " owners failed to register\n" << broker().log();
  ASSERT_EQ(cli_count("svc"), kOwners);
  ASSERT_EQ(cli_count("pool"), kOwners);

  ASSERT_EQ(::kill(-group, SIGKILL), 0);
  for (pid_t p : pids) ::waitpid(p, nullptr, 0);
  pids.clear();
  cleanup.group = 0;

  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0; }, kTimeout * 3))
      << "left: svc " << cli_count("svc") << ", pool " << cli_count("pool") << "\n"
      << broker().log();
  EXPECT_EQ(cli({"lookup", "pool", "members"}).exit_code(), 1);
  const auto dump = nlohmann::json::parse(cli_ok({"--json", "dump"}), nullptr, false);
  ASSERT_FALSE(dump.is_discarded());
  EXPECT_EQ(dump["owners"], nlohmann::json::array()) << "owner slots of dead processes remain";
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();

  // The broker is still there, and the registries are usable again.
  cli_ok({"register", "svc", "after", "v", "--", "true"});
  cli_ok({"register", "pool", "members", "v", "--", "true"});
}

}  // namespace
}  // namespace shmreg::test
