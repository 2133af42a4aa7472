// Issue 9, items 1 and 4 (second half): what libshmreg and the CLI trust.
// A segment is trusted only when a trusted broker uid owns it and neither
// group nor other may write it; a socket's peer only when it has the
// segment owner's uid. Each refusal is Errc::untrusted (CLI exit code 5,
// "untrusted" in --json) with a message naming the path, the uid and the mode.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "stopped_broker.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::test {
namespace {

constexpr int kExitUntrusted = 5;

class ClientTrust : public BrokerTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "staging a segment of another uid needs root";
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
  // Every way in refuses the segment: a client (ping), dump and fsck.
  void expect_every_command_refuses(const std::string& names) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"ping"}, {"dump"}, {"fsck"}}) {
      const RunResult r = cli(args);
      EXPECT_EQ(r.exit_code(), kExitUntrusted) << args[0] << ": " << r.describe();
      EXPECT_NE(r.err.find(segment_file()), std::string::npos) << args[0] << ": " << r.err;
      EXPECT_NE(r.err.find(names), std::string::npos) << args[0] << ": " << r.err;
    }
    std::vector<std::string> json_ping = {"--json", "ping"};
    const RunResult j = cli(json_ping);
    const auto parsed = nlohmann::json::parse(j.err, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << j.err;
    EXPECT_EQ(parsed.value("error", ""), "untrusted") << j.err;
  }
};

TEST_F(ClientTrust, ASegmentOwnedByNobodyIsRefusedByTheClientAndByDumpAndFsck) {
  ASSERT_EQ(::chown(segment_file().c_str(), kNobodyUid, kNobodyGid), 0);
  expect_every_command_refuses("owner uid 65534, mode 0644");
  ASSERT_EQ(::chown(segment_file().c_str(), 0, 0), 0);
  EXPECT_EQ(cli({"ping"}).exit_code(), 0) << "the same segment owned by root is trusted";
}

TEST_F(ClientTrust, ASegmentWritableByOthersIsRefusedByTheClientAndByDumpAndFsck) {
  ASSERT_EQ(::chmod(segment_file().c_str(), 0666), 0);
  expect_every_command_refuses("owner uid 0, mode 0666");
  ASSERT_EQ(::chmod(segment_file().c_str(), 0644), 0);
  EXPECT_EQ(cli({"ping"}).exit_code(), 0) << "mode 0644 again is trusted";
}

// Only where others can write the runtime directory could a FIFO appear at
// the segment's path; opening one must not block the client or the CLI
// before the check refuses it (each run ends by the harness's deadline).
TEST_F(ClientTrust, AFifoAtTheSegmentPathIsRefusedWithoutBlocking) {
  // The broker is held while its segment's name leads elsewhere: it would
  // otherwise see another file at the name and stop (segment_guard).
  StoppedBroker held(broker().pid());
  ASSERT_TRUE(held.stopped());
  const std::string moved = segment_file() + ".kept";
  ASSERT_EQ(::rename(segment_file().c_str(), moved.c_str()), 0);
  ASSERT_EQ(::mkfifo(segment_file().c_str(), 0644), 0);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"ping"}, {"dump"}, {"fsck"}}) {
    const RunResult r = cli(args);
    EXPECT_FALSE(r.timed_out) << args[0] << " blocked on the FIFO";
    EXPECT_EQ(r.exit_code(), kExitUntrusted) << args[0] << ": " << r.describe();
  }
  ASSERT_EQ(::unlink(segment_file().c_str()), 0);
  ASSERT_EQ(::rename(moved.c_str(), segment_file().c_str()), 0);
}

// A fake broker, run as nobody, listens where the client looks for the
// namespace's socket, beside a segment that root owns. The client must
// refuse it after connect and before it sends anything.
TEST_F(ClientTrust, ABrokerSocketWhosePeerIsNobodyIsRefusedBeforeTheClientSendsARequest) {
  const TempDir fake_dir;
  ASSERT_EQ(::chown(fake_dir.path().c_str(), kNobodyUid, kNobodyGid), 0);  // nobody may bind there
  const std::string ns = unique_namespace(), sock = fake_dir.path() + "/" + ns + ".sock";
  auto w = shm::SegmentWriter::create(segment_path(fake_dir.path(), ns), {.size = std::size_t{2} << 20});
  ASSERT_TRUE(w) << shm::to_string(w.error());

  ForkedChild fake = ForkedChild::start([&](ChildChannel& ch) {
    if (!become_nobody()) return child_report(ch, "become_nobody failed");
    const sys::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::chmod(sock.c_str(), 0666) != 0 || ::listen(listener.get(), 4) != 0)
      return child_report(ch, std::string("cannot listen: ") + std::strerror(errno));
    ch.send("listening");
    const sys::UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return child_report(ch, "accept failed");
    std::size_t got = 0;
    char buf[4096];
    for (;;) {
      pollfd p{conn.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(kTimeout.count())) != 1) return child_report(ch, "the client never closed");
      const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    return child_report(ch, "received " + std::to_string(got) + " bytes", 0);
  });
  ASSERT_EQ(fake.receive(), "listening");
  const RunResult r = run({cli_binary(), "--namespace", ns, "--socket", sock, "ping"});
  EXPECT_EQ(r.exit_code(), kExitUntrusted) << r.describe();
  EXPECT_NE(r.err.find("refused the broker at " + sock + ": its uid 65534"), std::string::npos) << r.err;
  EXPECT_EQ(fake.receive(), "received 0 bytes") << "the client sent its request to an untrusted peer";
}

}  // namespace
}  // namespace shmreg::test
