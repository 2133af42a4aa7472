// Registering for another process: proof by a pidfd passed with SCM_RIGHTS,
// the uid policy, ownership and reaping by the target, and the broker's
// handling of descriptors it did not ask for.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

using Pairs = std::vector<std::pair<std::uint32_t, std::string>>;
constexpr uid_t kNobody = 65534;

class RegisterOnBehalf : public ClientTest {
 protected:
  // Unprivileged actors must reach the socket inside the test's private directory.
  void open_socket_dir_to_all() const { ASSERT_EQ(::chmod(dir().path().c_str(), 0755), 0); }

  static ForkedChild ready_bystander(ForkedChild c) {
    EXPECT_EQ(c.receive(), std::optional<std::string>("ready"));
    return c;
  }

  // One request frame on a raw connection, with fds as SCM_RIGHTS; the reply's results.
  std::optional<std::vector<proto::OpResult>> raw_call(const std::vector<proto::Op>& ops,
                                                       const std::vector<int>& fds) const {
    auto conn = RawConnection::connect(socket_path());
    if (!conn) return std::nullopt;
    const auto frame = proto::encode_request(1, ops);
    iovec iov{const_cast<std::uint8_t*>(frame.data()), frame.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    if (!fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    if (::sendmsg(conn->fd(), &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) return std::nullopt;
    auto header = conn->receive(proto::kHeaderSize);
    if (!header) return std::nullopt;
    auto h = proto::parse_header(*header);
    if (!h) return std::nullopt;
    auto payload = conn->receive(h->payload_len);
    if (!payload) return std::nullopt;
    auto results = proto::decode_reply(*payload);
    if (!results) return std::nullopt;
    return *results;
  }
};

// True once every write end of the pipe is closed: the read end then polls as hung up.
bool reads_eof(int read_fd) {
  return wait_until([&] {
    pollfd p{read_fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
  });
}

TEST_F(RegisterOnBehalf, MakesTheTargetTheOwnerAndTheTargetsExitReapsTheEntry) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander());
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  const auto tpid = static_cast<std::uint32_t>(target.pid());
  ASSERT_TRUE(is_ok(a.ask({"register", "svc", "own", "a"})));
  ASSERT_TRUE(is_ok(a.ask({"register_for", std::to_string(tpid), "svc", "db", "host=t"})));
  EXPECT_EQ(entries("svc", "db"), (Pairs{{tpid, "host=t"}}));

  ASSERT_TRUE(target.kill_and_wait());
  EXPECT_TRUE(entries_become("svc", "db", {}));
  EXPECT_EQ(entries("svc", "own"), (Pairs{{a.pid(), "a"}})) << "the caller's own entries stay";
}

TEST_F(RegisterOnBehalf, ByAPidfdTheCallerOpenedWorksLikeByPid) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander());
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  const auto tpid = static_cast<std::uint32_t>(target.pid());
  ASSERT_TRUE(is_ok(a.ask({"register_for_pidfd", std::to_string(tpid), "svc", "db", "v"})));
  EXPECT_EQ(entries("svc", "db"), (Pairs{{tpid, "v"}}));
  auto taken = a.ask({"register_for_pidfd", std::to_string(tpid), "svc", "db", "again"});
  EXPECT_EQ(errc_of(taken), "already_registered");
  EXPECT_EQ(taken[2], std::to_string(tpid));
}

TEST_F(RegisterOnBehalf, TheTargetsEntriesOutliveTheCaller) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander());
  const auto tpid = static_cast<std::uint32_t>(target.pid());
  {
    Actor a = Actor::start(ns(), socket_path());
    ASSERT_TRUE(a.ready());
    ASSERT_TRUE(is_ok(a.ask({"register_for", std::to_string(tpid), "svc", "db", "v"})));
    ASSERT_TRUE(a.process().kill_and_wait());
  }
  ASSERT_TRUE(is_ok(Actor::start(ns(), socket_path()).ask({"lookup_consistent", "svc", "db"})));
  EXPECT_EQ(entries("svc", "db"), (Pairs{{tpid, "v"}}));
}

TEST_F(RegisterOnBehalf, APidfdOfAProcessThatHasExitedIsRefused) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  // A zombie: exited, not yet reaped.
  ForkedChild zombie = ready_bystander(start_bystander());
  ASSERT_TRUE(is_ok(a.ask({"hold_pidfd", std::to_string(zombie.pid())})));
  ASSERT_TRUE(zombie.signal(SIGKILL));
  ASSERT_TRUE(wait_until([&] { return !zombie.running(); }));
  auto r = a.ask({"register_for_held", "svc", "z", "v"});
  EXPECT_EQ(errc_of(r), "invalid_argument") << join_fields(r);
  EXPECT_NE(message_of(r).find("exited"), std::string::npos) << message_of(r);
  // Reaped: its pid is gone altogether.
  ASSERT_TRUE(zombie.wait());
  r = a.ask({"register_for_held", "svc", "z", "v"});
  EXPECT_NE(errc_of(r), "") << join_fields(r);
  EXPECT_TRUE(entries("svc", "z").empty());
  // And by pid, once nothing has that pid.
  EXPECT_EQ(errc_of(a.ask({"register_for", std::to_string(zombie.pid()), "svc", "z", "v"})), "invalid_argument");
}

TEST_F(RegisterOnBehalf, AnUnprivilegedCallerCannotRegisterForAnotherUsersProcess) {
  create("svc", true);
  open_socket_dir_to_all();
  ForkedChild root_target = ready_bystander(start_bystander());
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"setresuid", "65534", "65534", "65534"})));
  auto r = a.ask({"register_for", std::to_string(root_target.pid()), "svc", "db", "v"});
  EXPECT_EQ(errc_of(r), "permission_denied") << join_fields(r);
  EXPECT_NE(message_of(r).find("uid 65534"), std::string::npos) << message_of(r);
  EXPECT_TRUE(entries("svc", "db").empty());
}

TEST_F(RegisterOnBehalf, AnUnprivilegedCallerCanRegisterForItsOwnUsersProcess) {
  create("svc", true);
  open_socket_dir_to_all();
  ForkedChild target = ready_bystander(start_bystander_as(kNobody, kNobody, kNobody));
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"setresuid", "65534", "65534", "65534"})));
  ASSERT_TRUE(is_ok(a.ask({"register_for", std::to_string(target.pid()), "svc", "db", "v"})));
  EXPECT_EQ(entries("svc", "db"), (Pairs{{static_cast<std::uint32_t>(target.pid()), "v"}}));
}

TEST_F(RegisterOnBehalf, ACallerCannotRegisterForAProcessThatCanRegainAnotherUid) {
  create("svc", true);
  open_socket_dir_to_all();
  // Real and effective uid nobody, saved uid root: it can become root again.
  ForkedChild target = ready_bystander(start_bystander_as(kNobody, kNobody, 0));
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"setresuid", "65534", "65534", "65534"})));
  EXPECT_EQ(errc_of(a.ask({"register_for", std::to_string(target.pid()), "svc", "db", "v"})), "permission_denied");
  EXPECT_TRUE(entries("svc", "db").empty());
}

TEST_F(RegisterOnBehalf, RootMayRegisterForAnyProcess) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander_as(kNobody, kNobody, kNobody));
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register_for", std::to_string(target.pid()), "svc", "db", "v"})));
  EXPECT_EQ(entries("svc", "db"), (Pairs{{static_cast<std::uint32_t>(target.pid()), "v"}}));
}

TEST_F(RegisterOnBehalf, ARestartedBrokerStillReapsATargetOwner) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander());
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"register_for", std::to_string(target.pid()), "svc", "db", "v"})));
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker());
  EXPECT_EQ(entries("svc", "db"), (Pairs{{static_cast<std::uint32_t>(target.pid()), "v"}}));
  ASSERT_TRUE(target.kill_and_wait());
  EXPECT_TRUE(entries_become("svc", "db", {}));
}

// -- what a hostile or careless client can send ---------------------------------------------------

TEST_F(RegisterOnBehalf, WithoutAPassedPidfdIsAnInvalidArgument) {
  create("svc", true);
  auto results = raw_call({proto::RegisterOnBehalf{"svc", "db", "v", 1}}, {});
  ASSERT_TRUE(results);
  EXPECT_EQ(results->front().status, proto::Status::invalid_argument);
  EXPECT_NE(results->front().message.find("no pidfd #1"), std::string::npos) << results->front().message;
  EXPECT_TRUE(entries("svc", "db").empty());
}

TEST_F(RegisterOnBehalf, ADescriptorThatIsNotAPidfdIsRefusedAndClosed) {
  create("svc", true);
  sys::Pipe pipe = make_pipe();
  auto results = raw_call({proto::RegisterOnBehalf{"svc", "db", "v", 1}}, {pipe.write.get()});
  ASSERT_TRUE(results);
  EXPECT_EQ(results->front().status, proto::Status::invalid_argument);
  EXPECT_NE(results->front().message.find("not a pidfd"), std::string::npos) << results->front().message;
  pipe.write.reset();
  EXPECT_TRUE(reads_eof(pipe.read.get())) << "the broker still holds the passed descriptor";
}

TEST_F(RegisterOnBehalf, DescriptorsThatNoOpNamesAreClosedByTheBroker) {
  sys::Pipe pipe = make_pipe();
  auto results = raw_call({proto::Ping{}}, {pipe.write.get()});
  ASSERT_TRUE(results);
  EXPECT_EQ(results->front().status, proto::Status::ok);
  pipe.write.reset();
  EXPECT_TRUE(reads_eof(pipe.read.get()));
}

TEST_F(RegisterOnBehalf, MoreDescriptorsThanAFrameMayCarryEndTheConnectionAndAreAllClosed) {
  std::vector<sys::Pipe> pipes;
  std::vector<int> fds;
  for (int i = 0; i < proto::kMaxFramePidfds + 8; ++i) {
    pipes.push_back(make_pipe());
    fds.push_back(pipes.back().write.get());
  }
  auto results = raw_call({proto::Ping{}}, fds);
  EXPECT_FALSE(results) << "a frame with more descriptors than a request may pass is answered";
  for (auto& p : pipes) p.write.reset();
  for (std::size_t i = 0; i < pipes.size(); ++i) EXPECT_TRUE(reads_eof(pipes[i].read.get())) << "pipe " << i;
}

// -- the CLI -------------------------------------------------------------------------------------

TEST_F(RegisterOnBehalf, CliRegisterPidRegistersForThatProcessAndExits) {
  create("svc", true);
  ForkedChild target = ready_bystander(start_bystander());
  const auto tpid = static_cast<std::uint32_t>(target.pid());
  auto r = cli({"--json", "register", "--pid", std::to_string(tpid), "svc", "db", "v"});
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(nlohmann::json::parse(r.out)["pid"], tpid);
  EXPECT_EQ(entries("svc", "db"), (Pairs{{tpid, "v"}}));
  auto again = cli({"register", "--pid", std::to_string(tpid), "svc", "db", "w"});
  EXPECT_EQ(again.exit_code(), 3) << again.describe();
  ASSERT_TRUE(target.kill_and_wait());
  EXPECT_TRUE(entries_become("svc", "db", {}));
}

TEST_F(RegisterOnBehalf, CliRegisterPidWithACommandOrOfNoProcessIsAnError) {
  create("svc", true);
  auto with_cmd = cli({"register", "--pid", std::to_string(::getpid()), "svc", "db", "v", "--", "true"});
  EXPECT_EQ(with_cmd.exit_code(), 2) << with_cmd.describe();
  // Find a pid that no process holds: a reaped child's, with nothing forked since.
  ForkedChild gone = ready_bystander(start_bystander());
  const pid_t dead = gone.pid();
  ASSERT_TRUE(gone.kill_and_wait());
  auto no_process = cli({"register", "--pid", std::to_string(dead), "svc", "db", "v"});
  EXPECT_EQ(no_process.exit_code(), 2) << no_process.describe();
  EXPECT_TRUE(entries("svc", "db").empty());
}

}  // namespace
}  // namespace shmreg::test
