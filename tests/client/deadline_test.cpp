// Deadlines on every broker call (shmreg/client.hpp, "Deadlines"): a broker
// that is stopped (SIGSTOP: it accepts nothing and answers nothing, while the
// kernel still queues connections for it) makes every call family fail with
// timeout by its deadline, never hang; the per-client and per-call overrides
// take effect; after SIGCONT the same client works and never reads the reply
// of a call that timed out; a full listen backlog times out the connect; and
// a request is sent again after a reconnect only when no broker read it.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "client_test.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"
#include "stopped_broker.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

class DeadlineTest : public ClientTest {
 protected:
  // A client whose broker calls have deadline timeout.
  shmreg::Client client_with(std::chrono::nanoseconds timeout) const {
    auto c = shmreg::Client::open({ns(), socket_path(), timeout});
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }
  // Where a stand-in broker listens (start_stand_in), and a client of the
  // test's namespace that talks to it.
  std::string stand_in_path() const { return dir().path() + "/stand-in.sock"; }
  shmreg::Result<shmreg::Client> client_of_stand_in() const {
    return shmreg::Client::open({ns(), stand_in_path(), 1h});
  }
};

template <class T>
::testing::AssertionResult timed_out(const shmreg::Result<T>& r) {
  if (r) return ::testing::AssertionFailure() << "succeeded";
  if (r.error().code != Errc::timeout)
    return ::testing::AssertionFailure() << to_string(r.error().code) << ": " << r.error().message;
  return ::testing::AssertionSuccess();
}

TEST_F(DeadlineTest, EveryBrokerCallFamilyFailsWithTimeoutWhileTheBrokerIsStopped) {
  auto setup = client();
  ASSERT_TRUE(setup);
  ASSERT_TRUE(setup->create_registry("r"));
  ASSERT_TRUE(setup->register_key("r", "mine", "v"));
  const auto c = setup->with_timeout(200ms);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());

  // registries
  EXPECT_TRUE(timed_out(c.ping()));
  EXPECT_TRUE(timed_out(c.create_registry("other")));
  // registration
  EXPECT_TRUE(timed_out(c.register_key("r", "k", "v")));
  EXPECT_TRUE(timed_out(c.register_key_for(ProcessRef::pid(static_cast<std::uint32_t>(::getpid())), "r", "k", "v")));
  EXPECT_TRUE(timed_out(c.request_name("r", "q", "v")));
  EXPECT_TRUE(timed_out(c.unregister("r", "k")));
  EXPECT_TRUE(timed_out(c.unregister_all()));
  EXPECT_TRUE(timed_out(c.unregister_match("r", "k", R"("_")")));
  WriteBatch batch;
  batch.register_key("r", "b", "v");
  EXPECT_TRUE(timed_out(c.apply(batch)));
  // values
  EXPECT_TRUE(timed_out(c.set_value("r", "mine", "w")));
  EXPECT_TRUE(timed_out(c.update_value("r", "mine", [](std::string_view) { return std::string("w"); })));
  EXPECT_TRUE(timed_out(c.put_meta("r", "m", "v")));
  EXPECT_TRUE(timed_out(c.delete_meta("r", "m")));
  // lookups
  EXPECT_TRUE(timed_out(c.lookup_consistent("r", "mine")));
  // mailboxes
  EXPECT_TRUE(timed_out(c.send("r", "mine", "hello")));
  EXPECT_TRUE(timed_out(Mailbox::open(c)));
  // Reads of the segment never wait on the broker.
  auto reg = c.registry("r");
  ASSERT_TRUE(reg);
  auto v = reg->lookup_value("mine");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, std::optional<std::string>("v"));
}

TEST_F(DeadlineTest, ATimeoutSaysWhatWasWaitedForAndForHowLong) {
  auto c = client_with(250ms);
  EXPECT_EQ(c.timeout(), 250ms);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  auto r = c.ping();
  ASSERT_TRUE(timed_out(r));
  EXPECT_NE(r.error().message.find("no reply from the broker at " + socket_path()), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("within 250 ms"), std::string::npos) << r.error().message;
  EXPECT_TRUE(r.error().maybe_applied) << "the request was sent whole";
}

TEST_F(DeadlineTest, TheDefaultDeadlineIsKDefaultTimeoutAndZeroInTheOptionsMeansIt) {
  auto c = client();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->timeout(), kDefaultTimeout);
  EXPECT_EQ(client_with(0ns).timeout(), kDefaultTimeout);
  auto negative = shmreg::Client::open({ns(), socket_path(), -1s});
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code, Errc::invalid_argument);
}

// Without the per-call override the call would wait an hour: the test would
// fail at CTest's limit.
TEST_F(DeadlineTest, APerCallOverrideTakesEffectOnAClientWithAnHourLongTimeout) {
  auto c = client_with(1h);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  auto r = c.with_timeout(200ms).register_key("r", "k", "v");
  ASSERT_TRUE(timed_out(r));
  EXPECT_NE(r.error().message.find("within 200 ms"), std::string::npos) << r.error().message;
  EXPECT_EQ(c.timeout(), 1h) << "the override is for the handle it returned only";
}

TEST_F(DeadlineTest, APerClientOverrideTakesEffect) {
  auto c = client_with(300ms);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  auto r = c.unregister_all();
  ASSERT_TRUE(timed_out(r));
  EXPECT_NE(r.error().message.find("within 300 ms"), std::string::npos) << r.error().message;
}

// The timed-out write reaches the broker when it resumes: maybe_applied is
// the truth, and the reply that then comes goes nowhere.
TEST_F(DeadlineTest, AfterSigcontTheSameClientWorksAndNeverReadsTheReplyOfACallThatTimedOut) {
  auto c = client_with(1h);
  ASSERT_TRUE(c.create_registry("r"));
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  auto late = c.with_timeout(200ms).register_key("r", "late", "v");
  ASSERT_TRUE(timed_out(late));
  EXPECT_TRUE(late.error().maybe_applied);
  auto ping = c.with_timeout(200ms).ping();
  ASSERT_TRUE(timed_out(ping));
  stopped.resume();

  EXPECT_TRUE(entries_become("r", "late", {{static_cast<std::uint32_t>(::getpid()), "v"}}))
      << "the write sent before the timeout applies once the broker resumes";
  // A stale reply here would be the register's version or the ping's pid.
  auto removed = c.unregister("r", "never-registered");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, 0u);
  auto pid = c.ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, static_cast<std::uint32_t>(broker().pid()));
  auto version = c.register_key("r", "next", "v");
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_EQ(entries("r", "next"), (std::vector<std::pair<std::uint32_t, std::string>>{
                                      {static_cast<std::uint32_t>(::getpid()), "v"}}));
}

// A socket connected to path without blocking; -1 once the backlog is full.
int connect_without_blocking(const std::string& path) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd.release();
}

TEST_F(DeadlineTest, AFullListenBacklogGivesTimeoutOnConnect) {
  auto c = client_with(1h);
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  std::vector<sys::UniqueFd> queued;
  for (int fd; (fd = connect_without_blocking(socket_path())) >= 0 && queued.size() < 100000;)
    queued.emplace_back(fd);
  ASSERT_EQ(errno, EAGAIN) << "the backlog did not fill: " << std::strerror(errno);
  auto r = c.with_timeout(200ms).ping();
  ASSERT_TRUE(timed_out(r));
  EXPECT_NE(r.error().message.find("listen backlog stayed full for 200 ms"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(r.error().maybe_applied) << "nothing was sent";
  queued.clear();
  stopped.resume();
  auto pid = c.ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, static_cast<std::uint32_t>(broker().pid()));
}

TEST_F(DeadlineTest, TheClientReconnectsWhenTheBrokerRestartedBetweenTwoCalls) {
  auto c = client_with(1h);
  ASSERT_TRUE(c.create_registry("r"));
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker());
  auto version = c.register_key("r", "k", "v");
  ASSERT_TRUE(version) << version.error().message;
  auto pid = c.ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, static_cast<std::uint32_t>(broker().pid()));
}

TEST_F(DeadlineTest, AClientWhoseIdleConnectionTheBrokerClosedGoesOnWithoutAnError) {
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker({"--idle-timeout-ms", "200"}));
  auto c = client_with(1h);
  ASSERT_TRUE(c.create_registry("r"));
  // The connection holds nothing (no entry, no mailbox): the broker closes it.
  ASSERT_TRUE(wait_until([&] { return broker().log().find("holding nothing (--idle-timeout-ms)") != std::string::npos; }))
      << broker().log();
  auto version = c.register_key("r", "k", "v");
  ASSERT_TRUE(version) << version.error().message;
  auto pid = c.ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, static_cast<std::uint32_t>(broker().pid()));
}

TEST_F(DeadlineTest, AForkedChildThatUsesItsParentsClientActsForItselfOnAConnectionOfItsOwn) {
  auto c = client_with(1h);
  ASSERT_TRUE(c.create_registry("r"));
  ASSERT_TRUE(c.register_key("r", "parent", "p"));
  ForkedChild child = ForkedChild::start([&](ChildChannel& ch) {
    auto v = c.register_key("r", "child", "c");
    ch.send(v ? "registered" : "failed " + v.error().message);
    ch.receive();  // stays alive, so that its entry stays, until the test is done
    return 0;
  });
  ASSERT_EQ(child.receive(), "registered");
  // The child's entry is the child's, and the parent's connection kept its
  // replies: the parent's next call works.
  EXPECT_EQ(cli_ok({"lookup", "r", "child"}), std::to_string(child.pid()) + "\tc\n");
  auto pid = c.ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_TRUE(c.register_key("r", "parent2", "p"));
  EXPECT_EQ(cli_ok({"lookup", "r", "parent2"}), std::to_string(::getpid()) + "\tp\n");
  child.send("done");
}

TEST_F(DeadlineTest, AStoppedBrokerNeverHoldsAMailboxReceivePastItsTimeout) {
  auto c = client_with(1h);
  auto mailbox = Mailbox::open(c);
  ASSERT_TRUE(mailbox) << mailbox.error().message;
  {
    StoppedBroker stopped(broker().pid());
    ASSERT_TRUE(stopped.stopped());
    auto none = mailbox->receive(200ms);
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_FALSE(*none);
  }
  // A restarted broker that is stopped: the reopening cannot be answered.
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker());
  StoppedBroker stopped(broker().pid());
  ASSERT_TRUE(stopped.stopped());
  auto r = mailbox->receive(300ms);
  ASSERT_TRUE(timed_out(r));
  stopped.resume();
  EXPECT_TRUE(wait_until([&] {
    auto none = mailbox->receive(50ms);
    return none && mailbox->reopened() == 1;
  })) << "the mailbox reopens once the broker answers";
}

// A stand-in broker in a process of its own: it closes its first connection
// either before reading the request (as a broker's idle timeout may) or
// after reading it, then answers a second connection's ping with 4242.
enum class FirstConnection { closed_unread, closed_after_reading };

// A whole request frame's header, read from fd by deadline.
std::optional<proto::FrameHeader> read_request(int fd, Clock::time_point deadline) {
  std::uint8_t header[proto::kHeaderSize];
  if (sys::recv_full_by(fd, header, sizeof header, deadline) != sys::IoOutcome::done) return std::nullopt;
  auto h = proto::parse_header(header);
  if (!h) return std::nullopt;
  std::vector<std::uint8_t> payload(h->payload_len);
  if (sys::recv_full_by(fd, payload.data(), payload.size(), deadline) != sys::IoOutcome::done) return std::nullopt;
  return *h;
}

ForkedChild start_stand_in(const std::string& path, FirstConnection first) {
  return ForkedChild::start([path, first](ChildChannel& ch) {
    sys::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.get(), 8) != 0)
      return child_report(ch, std::string("listen: ") + std::strerror(errno));
    ch.send("ready");
    const auto deadline = Clock::now() + kTimeout;
    {
      sys::UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
      if (first == FirstConnection::closed_unread) {
        pollfd p{conn.get(), POLLIN, 0};
        if (::poll(&p, 1, poll_timeout_ms(deadline)) != 1) return child_report(ch, "no request came");
      } else if (!read_request(conn.get(), deadline)) {
        return child_report(ch, "no request came");
      }
    }
    pollfd p{listener.get(), POLLIN, 0};
    if (first == FirstConnection::closed_after_reading) {
      // The client has returned by the time the test asks: a second
      // connection, had it made one, would be in the backlog by then.
      if (ch.receive() != "second?") return 1;
      if (::poll(&p, 1, 0) != 1) return child_report(ch, "no second connection", 0);
    } else if (::poll(&p, 1, poll_timeout_ms(deadline)) != 1) {
      return child_report(ch, "no second connection");
    }
    sys::UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    auto h = read_request(conn.get(), deadline);
    if (!h) return child_report(ch, "no request on the second connection");
    const std::vector<proto::OpResult> results{{proto::Status::ok, 4242, ""}};
    const auto reply = proto::encode_reply(h->request_id, results);
    if (!sys::send_all(conn.get(), reply.data(), reply.size())) return child_report(ch, "cannot reply");
    return child_report(ch, "answered", 0);
  });
}

TEST_F(DeadlineTest, ARequestTheBrokerClosedUnreadIsSentAgainOnANewConnection) {
  ForkedChild stand_in = start_stand_in(stand_in_path(), FirstConnection::closed_unread);
  ASSERT_EQ(stand_in.receive(), "ready");
  auto c = client_of_stand_in();
  ASSERT_TRUE(c) << c.error().message;
  auto pid = c->ping();
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, 4242u);
  EXPECT_EQ(stand_in.receive(), "answered");
}

TEST_F(DeadlineTest, ARequestTheBrokerReadBeforeClosingIsNeverSentAgain) {
  ForkedChild stand_in = start_stand_in(stand_in_path(), FirstConnection::closed_after_reading);
  ASSERT_EQ(stand_in.receive(), "ready");
  auto c = client_of_stand_in();
  ASSERT_TRUE(c) << c.error().message;
  auto r = c->register_key("r", "k", "v");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::broker_unavailable) << r.error().message;
  EXPECT_TRUE(r.error().maybe_applied);
  EXPECT_EQ(stand_in.request("second?"), "no second connection");
}

}  // namespace
}  // namespace shmreg::test
