// Faults of owner processes that the lifecycle suites leave out: an owner
// gone before the broker could identify it, a pid recycled by a new owner
// before the broker handled the old one's death, an owner stopped for long,
// and a service restarted under its unique name before its old process was
// reaped. The broker is held with SIGSTOP where a fault must land between two
// of its steps; every process is real and every death a real SIGKILL or exit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"
#include "stopped_broker.hpp"

namespace shmreg::test {
namespace {

class OwnerFaults : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
  }

  // The pids of the owner table (`shmreg --json dump`).
  std::set<pid_t> owner_pids() {
    RunResult r = cli({"--json", "dump"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    std::set<pid_t> out;
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("owners")) return out;
    for (const auto& o : j["owners"]) out.insert(o["pid"].get<pid_t>());
    return out;
  }

  void expect_consistent_segment() {
    RunResult f = cli({"fsck"});
    EXPECT_EQ(f.exit_code(), 0) << f.describe();
  }

  // A child that connects, sends one register frame for key and exits at
  // once, without waiting for the reply.
  ForkedChild register_and_exit(const std::string& key) const {
    const std::string path = socket_path();
    return ForkedChild::start([path, key](ChildChannel&) {
      auto c = RawConnection::connect(path);
      if (!c) return 10;
      const proto::Op op = proto::RegisterKey{.registry = "svc", .key = key, .value = "v"};
      return c->send(proto::encode_request(1, std::span<const proto::Op>(&op, 1))) ? 0 : 11;
    });
  }
};

// Forks an Actor whose pid is `pid` (free again: its process was reaped), by
// telling the kernel which pid it handed out last. Other processes of the
// host fork too, so it tries a few times; nullopt if it never landed.
std::optional<Actor> actor_with_pid(pid_t pid, const std::string& ns, const std::string& socket) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    {
      std::ofstream last("/proc/sys/kernel/ns_last_pid");
      last << (pid - 1) << std::flush;
      if (!last) return std::nullopt;
    }
    Actor a = Actor::start(ns, socket);
    if (a.pid() == pid) return a;
  }
  return std::nullopt;
}

TEST_F(OwnerFaults, OwnersThatRegisterAndExitAtOnceLeaveNoEntryAndNoOwnerBehind) {
  std::set<pid_t> children;
  for (int round = 0; round < 40; ++round) {
    const std::string key = "gone-" + std::to_string(round);
    // Every other round the owner is dead and reaped before the broker even
    // accepted its connection, let alone opened a pidfd for it.
    std::optional<StoppedBroker> stopped;
    if (round % 2 == 1) {
      stopped.emplace(broker().pid());
      ASSERT_TRUE(stopped->stopped());
    }
    ForkedChild owner = register_and_exit(key);
    children.insert(owner.pid());
    const auto status = owner.wait();
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << (status ? describe_wait_status(*status) : "no exit");
  }
  // Connections are accepted and read in the order they came: once a later
  // registration is answered, every frame above has been handled.
  cli_ok({"register", "svc", "barrier", "v", "--", "true"});
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; })) << cli_ok({"list", "svc"}) << broker().log();
  for (pid_t p : owner_pids()) EXPECT_EQ(children.count(p), 0u) << "pid " << p << " is still an owner";
  expect_consistent_segment();
  EXPECT_TRUE(broker().running());
}

TEST_F(OwnerFaults, APidRecycledByANewOwnerNeverInheritsTheEntriesOfTheDeadOne) {
  if (::geteuid() != 0) GTEST_SKIP() << "forcing a pid needs root (ns_last_pid)";
  Actor old = Actor::start(ns(), socket_path());
  ASSERT_TRUE(old.ready());
  ASSERT_TRUE(old.registers("svc", "name", "old"));
  ASSERT_TRUE(old.registers("svc", "old-only", "old"));
  ASSERT_TRUE(old.registers("pool", "worker", "old"));
  const pid_t pid = old.pid();

  // The death and the new process's registration reach the broker together,
  // and it handles them in whichever order its event loop takes them.
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  ASSERT_TRUE(old.process().kill_and_wait());
  auto fresh = actor_with_pid(pid, ns(), socket_path());
  if (!fresh) GTEST_SKIP() << "pid " << pid << " was not handed out again";
  ASSERT_TRUE(fresh->ready());
  ASSERT_TRUE(fresh->send({"register", "svc", "name", "new"}));
  ASSERT_TRUE(fresh->send({"register", "pool", "worker", "new"}));
  stopped.resume();
  EXPECT_TRUE(is_ok(fresh->answer()));
  EXPECT_TRUE(is_ok(fresh->answer()));

  EXPECT_EQ(cli_lookup("svc", "name"), (Lookup{{pid, "new"}}));
  EXPECT_EQ(cli_lookup("pool", "worker"), (Lookup{{pid, "new"}}));
  EXPECT_TRUE(cli_lookup("svc", "old-only").empty()) << broker().log();
  EXPECT_EQ(cli_ok({"keys", "svc", std::to_string(pid)}), "name\n");
  // The new process is not blamed for the old one's death: it keeps its
  // entries until it dies itself.
  ASSERT_TRUE(fresh->expect_ok({"ping"}));
  EXPECT_EQ(cli_count("svc"), 1);
  ASSERT_TRUE(fresh->process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0; })) << broker().log();
  expect_consistent_segment();
}

// The hard case of "exits before the broker opens its pidfd": the process
// that connected is dead and reaped before the broker accepts, its pid goes
// to a new owner, and its socket lives on in another process (here the test)
// that writes on it. A broker that opened the pidfd by pid (pidfd_open, the
// fallback for kernels without SO_PEERPIDFD) would name the new owner; the
// request must attach to nobody.
TEST_F(OwnerFaults, ARequestOfAnOpenerReapedBeforeItWasAcceptedNeverAttachesToTheProcessThatGotItsPid) {
  if (::geteuid() != 0) GTEST_SKIP() << "forcing a pid needs root (ns_last_pid)";
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  ForkedChild opener = ForkedChild::start(
      [raw = fd.get(), path = socket_path()](ChildChannel&) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        return ::connect(raw, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : 10;
      },
      {fd.get()});
  const pid_t pid = opener.pid();
  const auto status = opener.wait();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  auto fresh = actor_with_pid(pid, ns(), socket_path());
  if (!fresh) GTEST_SKIP() << "pid " << pid << " was not handed out again";
  ASSERT_TRUE(fresh->ready());
  RawConnection held = RawConnection::adopt(std::move(fd));
  const proto::Op op = proto::RegisterKey{.registry = "svc", .key = "orphan", .value = "v"};
  ASSERT_TRUE(held.send(proto::encode_request(1, std::span<const proto::Op>(&op, 1))));
  ASSERT_TRUE(fresh->send({"register", "svc", "own", "v"}));
  stopped.resume();
  EXPECT_TRUE(is_ok(fresh->answer()));

  // Refused at accept (the connection closes) or at the op (an error reply):
  // either way nothing under the recycled pid but the new owner's own key.
  auto header = held.receive(proto::kHeaderSize);
  if (header) {
    auto h = proto::parse_header(*header);
    ASSERT_TRUE(h);
    auto payload = held.receive(h->payload_len);
    ASSERT_TRUE(payload);
    auto replies = proto::decode_reply(*payload);
    ASSERT_TRUE(replies && replies->size() == 1);
    EXPECT_NE(replies->front().status, proto::Status::ok) << "the dead opener's request was run";
  }
  EXPECT_TRUE(cli_lookup("svc", "orphan").empty()) << broker().log();
  EXPECT_EQ(cli_ok({"keys", "svc", std::to_string(pid)}), "own\n");
  ASSERT_TRUE(fresh->expect_ok({"ping"}));
  EXPECT_EQ(cli_lookup("svc", "own"), (Lookup{{pid, "v"}}));
  expect_consistent_segment();
}

TEST_F(OwnerFaults, AnOwnerStoppedForLongIsNeverReapedAndWritesAgainAfterSigcont) {
  // Idle connections are closed after 100 ms; the stop lasts many times that.
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker({"--segment-size", "16M", "--idle-timeout-ms", "100"}));
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "stopped", "v"));
  ASSERT_TRUE(owner.registers("pool", "worker", "stopped"));

  ASSERT_TRUE(owner.process().signal(SIGSTOP));
  // Other owners come and go meanwhile, so the broker reaps around it.
  for (int i = 0; i < 5; ++i) cli_ok({"register", "pool", "worker", "passing", "--", "true"});
  EXPECT_FALSE(wait_until([&] { return cli_lookup("svc", "stopped").empty(); }, 2s)) << broker().log();
  EXPECT_EQ(cli_lookup("pool", "worker"), (Lookup{{owner.pid(), "stopped"}}));

  ASSERT_TRUE(owner.process().signal(SIGCONT));
  EXPECT_TRUE(owner.registers("svc", "after-sigcont", "v"));
  EXPECT_EQ(cli_lookup("svc", "stopped"), (Lookup{{owner.pid(), "v"}}));
  EXPECT_EQ(cli_lookup("svc", "after-sigcont"), (Lookup{{owner.pid(), "v"}}));
  ASSERT_TRUE(owner.process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0; })) << broker().log();
}

// Bytes sent on fd that its peer has not read yet.
int unread_by_peer(int fd) {
  int n = -1;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

// A child on a connection of its own that registers key in two steps: told
// "start", it sends all of the register frame but its last byte and answers
// "started" once the broker has read that much (so the broker waits on the
// rest); told "finish", it sends the last byte and answers "sent". Then it
// reports the reply ("ok", or "<status>\t<pid>\t<message>") and lives on
// until the test closes the channel.
ForkedChild start_two_step_registrant(const std::string& socket, const std::string& key, const std::string& value) {
  return ForkedChild::start([socket, key, value](ChildChannel& ch) {
    auto c = RawConnection::connect(socket);
    if (!c || !c->ping()) return child_report(ch, "cannot connect");
    ch.send("ready");
    const proto::Op op = proto::RegisterKey{.registry = "svc", .key = key, .value = value};
    const auto frame = proto::encode_request(7, std::span<const proto::Op>(&op, 1));
    if (ch.receive() != std::optional<std::string>("start")) return 1;
    if (!c->send(std::span(frame).first(frame.size() - 1))) return child_report(ch, "send failed");
    if (!wait_until([&] { return unread_by_peer(c->fd()) == 0; })) return child_report(ch, "the broker read nothing");
    ch.send("started");
    if (ch.receive() != std::optional<std::string>("finish")) return 1;
    if (!c->send(std::span(frame).last(1))) return child_report(ch, "send failed");
    ch.send("sent");
    auto header = c->receive(proto::kHeaderSize);
    if (!header) return child_report(ch, "no reply");
    auto h = proto::parse_header(*header);
    if (!h) return child_report(ch, "a bad reply header");
    auto payload = c->receive(h->payload_len);
    if (!payload) return child_report(ch, "no reply payload");
    auto replies = proto::decode_reply(*payload);
    if (!replies || replies->size() != 1) return child_report(ch, "a bad reply");
    const proto::OpResult& r = replies->front();
    ch.send(r.status == proto::Status::ok
                ? std::string("ok")
                : join_fields({std::string(proto::to_string(r.status)), std::to_string(r.value), r.message}));
    while (ch.receive()) {
    }
    return 0;
  });
}

// The broker has read most of the new instance's request, and its last byte
// arrives before the old instance dies, so the broker handles the request
// before it learns of the death. The old holder is dead by then: the name
// goes to the live process at once, not an already_registered naming a dead
// pid.
TEST_F(OwnerFaults, AServiceRestartedBeforeItsOldProcessIsReapedGetsItsUniqueNameAtOnce) {
  Actor old = Actor::start(ns(), socket_path());
  ASSERT_TRUE(old.ready());
  ASSERT_TRUE(old.registers("svc", "service", "old"));
  ForkedChild fresh = start_two_step_registrant(socket_path(), "service", "new");
  ASSERT_EQ(fresh.receive(), "ready");
  ASSERT_EQ(fresh.request("start"), "started");

  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  ASSERT_EQ(fresh.request("finish"), "sent");
  ASSERT_TRUE(old.process().kill_and_wait());
  stopped.resume();
  EXPECT_EQ(fresh.receive(), "ok") << "old pid " << old.pid() << "\n" << broker().log();
  EXPECT_EQ(cli_lookup("svc", "service"), (Lookup{{fresh.pid(), "new"}}));

  // A live holder still keeps its name.
  Actor rival = Actor::start(ns(), socket_path());
  ASSERT_TRUE(rival.ready());
  const auto refused = rival.ask({"register", "svc", "service", "rival"});
  EXPECT_EQ(errc_of(refused), "already_registered") << join_fields(refused);
  EXPECT_EQ(cli_lookup("svc", "service"), (Lookup{{fresh.pid(), "new"}}));
  expect_consistent_segment();
}

// The one descriptor that came with a message on socket, or an empty fd.
sys::UniqueFd receive_descriptor(int socket) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC) <= 0) return {};
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return {};
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return sys::UniqueFd(fd);
}

// A root process connects and registers, then passes its connection with
// SCM_RIGHTS to a process of another uid. The connection goes on acting for
// the process that connected, whoever writes on it: nothing lands under the
// receiver's name or uid; and once the opener has exited, it acts for nobody.
TEST_F(OwnerFaults, ASocketPassedToAnotherUidsProcessActsOnlyForItsOpenerAndOnlyWhileTheOpenerLives) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the receiver as nobody";
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  sys::UniqueFd opener_end(pair[0]), receiver_end(pair[1]);

  ForkedChild receiver = ForkedChild::start(
      [fd = receiver_end.get()](ChildChannel& ch) {
        if (!become_nobody()) return child_report(ch, "cannot become nobody");
        ch.send("ready");
        sys::UniqueFd passed = receive_descriptor(fd);
        if (!passed) return child_report(ch, "no descriptor came");
        RawConnection c = RawConnection::adopt(std::move(passed));
        ch.send("got");
        while (auto key = ch.receive()) {
          auto r = c.call({proto::RegisterKey{.registry = "svc", .key = *key, .value = "v"}});
          ch.send(!r ? std::string("no reply")
                     : join_fields({std::string(proto::to_string(r->front().status)), r->front().message}));
        }
        return 0;
      },
      {receiver_end.get()});
  ASSERT_EQ(receiver.receive(), "ready");
  ForkedChild opener = ForkedChild::start(
      [fd = opener_end.get(), path = socket_path()](ChildChannel& ch) {
        auto c = RawConnection::connect(path);
        if (!c) return child_report(ch, "cannot connect");
        auto r = c->call({proto::RegisterKey{.registry = "svc", .key = "opener", .value = "v"}});
        if (!r || r->front().status != proto::Status::ok) return child_report(ch, "cannot register");
        const char byte = 'x';
        const int passed = c->fd();
        if (!sys::send_all(fd, &byte, 1, std::span<const int>(&passed, 1))) return child_report(ch, "cannot pass");
        ch.send("passed");
        while (ch.receive()) {
        }
        return 0;
      },
      {opener_end.get()});
  ASSERT_EQ(opener.receive(), "passed");
  ASSERT_EQ(receiver.receive(), "got");

  const std::string ok = join_fields({std::string(proto::to_string(proto::Status::ok)), ""});
  EXPECT_EQ(receiver.request("by-receiver"), ok);
  EXPECT_EQ(cli_lookup("svc", "by-receiver"), (Lookup{{opener.pid(), "v"}})) << "the entry is the opener's";
  EXPECT_EQ(cli({"keys", "svc", std::to_string(receiver.pid())}).exit_code(), 1) << "nothing is the receiver's";

  ASSERT_TRUE(opener.kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; })) << "the opener's entries outlived it\n"
                                                                   << broker().log();
  const auto refused = receiver.request("after-opener");
  ASSERT_TRUE(refused);
  EXPECT_EQ(split_fields(*refused).front(), proto::to_string(proto::Status::permission_denied)) << *refused;
  EXPECT_NE(refused->find("which has exited"), std::string::npos) << *refused;
  EXPECT_EQ(cli_count("svc"), 0);
}

}  // namespace
}  // namespace shmreg::test
