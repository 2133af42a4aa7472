// A Session (broker/src/session.hpp) over a real socketpair and a real Asio
// io_context, with a stand-in for the op table: back-pressure on a client
// that pipelines without reading, and the bounds of a mailbox backlog.
#include "session.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstring>

#include "shmreg/sys/io.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;

// Answers every op with a reply big enough that a few fill the socket.
class CountingHandler final : public RequestHandler {
 public:
  std::vector<proto::OpResult> execute(const Peer&, std::span<const sys::UniqueFd>, const std::vector<proto::Op>& ops,
                                       const std::shared_ptr<MailboxSink>&) override {
    ++executed;
    return std::vector<proto::OpResult>(ops.size(), proto::OpResult{proto::Status::ok, 0, std::string(1000, 'r')});
  }
  void connection_closed(const MailboxSink&) noexcept override { ++closed; }
  bool holds_state(const Peer&, const MailboxSink&) const override { return false; }

  std::size_t executed = 0;
  std::size_t closed = 0;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    // The smallest send buffer the kernel allows: replies pile up in the
    // session, not in the kernel, after a handful.
    const int small = 1;
    ASSERT_EQ(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    client_.reset(sv[1]);
    Peer peer;
    peer.pid = ::getpid();
    peer.uid = ::getuid();
    session_ = std::make_shared<Session>(stream_protocol::socket(io_, stream_protocol(), sv[0]), std::move(peer), 1,
                                         handler_, tally_, limits_, log_);
  }

  static constexpr uid_t kSender = 4321;
  bool delivered(std::vector<std::uint8_t> frame) {
    return session_->deliver(std::move(frame), kSender) == MailboxSink::Delivery::queued;
  }

  // Runs every handler that is ready, and the ones they make ready, without blocking.
  void pump() {
    do io_.restart();
    while (io_.poll() > 0);
  }

  void send_pings(std::size_t n) {
    std::vector<std::uint8_t> bytes;
    const std::vector<proto::Op> ping{proto::Ping{}};
    for (std::uint32_t id = 1; id <= n; ++id) {
      auto frame = proto::encode_request(id, ping);
      bytes.insert(bytes.end(), frame.begin(), frame.end());
    }
    ASSERT_TRUE(sys::write_all(client_.get(), bytes.data(), bytes.size()));
  }

  // Reads replies as the session writes them, pumping the io_context, until
  // n have arrived or nothing moves any more; returns their request ids.
  std::vector<std::uint32_t> read_replies(std::size_t n) {
    ::fcntl(client_.get(), F_SETFL, O_NONBLOCK);
    std::vector<std::uint8_t> in;
    std::vector<std::uint32_t> ids;
    for (int idle = 0; ids.size() < n && idle < 1000;) {
      std::uint8_t buf[65536];
      const ssize_t got = ::read(client_.get(), buf, sizeof buf);
      if (got > 0) in.insert(in.end(), buf, buf + got);
      const std::size_t ran = (io_.restart(), io_.poll());
      idle = (got > 0 || ran > 0) ? 0 : idle + 1;
      while (in.size() >= proto::kHeaderSize) {
        auto h = proto::parse_header(in);
        if (!h || in.size() < proto::kHeaderSize + h->payload_len) break;
        ids.push_back(h->request_id);
        in.erase(in.begin(), in.begin() + static_cast<long>(proto::kHeaderSize + h->payload_len));
      }
    }
    return ids;
  }

  // Reads n bytes as the session writes them, pumping the io_context.
  bool read_bytes(std::size_t n) {
    ::fcntl(client_.get(), F_SETFL, O_NONBLOCK);
    std::size_t have = 0;
    for (int idle = 0; have < n && idle < 1000;) {
      std::uint8_t buf[65536];
      const ssize_t got = ::read(client_.get(), buf, sizeof buf);
      if (got > 0) have += static_cast<std::size_t>(got);
      const std::size_t ran = (io_.restart(), io_.poll());
      idle = (got > 0 || ran > 0) ? 0 : idle + 1;
    }
    return have == n;
  }

  asio::io_context io_;
  CountingHandler handler_;
  UidTally tally_;
  ConnectionLimits limits_;
  BrokerLog log_{"session-test"};
  sys::UniqueFd client_;
  std::shared_ptr<Session> session_;
};

TEST_F(SessionTest, AClientThatPipelinesWithoutReadingIsPausedAtTheBoundAndResumedWhenItReads) {
  const std::size_t n = Session::kMaxQueuedReplies * 2;
  session_->start();
  send_pings(n);
  pump();
  EXPECT_TRUE(session_->paused());
  const std::size_t at_pause = handler_.executed;
  EXPECT_GE(at_pause, Session::kMaxQueuedReplies);
  EXPECT_LT(at_pause, n);
  pump();
  EXPECT_EQ(handler_.executed, at_pause) << "a paused session reads no further request";

  const std::vector<std::uint32_t> ids = read_replies(n);
  ASSERT_EQ(ids.size(), n);
  for (std::uint32_t i = 0; i < n; ++i) ASSERT_EQ(ids[i], i + 1) << "replies leave in request order";
  EXPECT_EQ(handler_.executed, n);
  EXPECT_FALSE(session_->paused());
}

TEST_F(SessionTest, AMailboxConnectionTakesMessagesUpToItsByteBound) {
  const std::vector<std::uint8_t> frame(64 * 1024, 0x5a);
  std::size_t accepted = 0;
  while (accepted <= MailboxSink::kMaxBacklogBytes / frame.size() && delivered(frame)) ++accepted;
  EXPECT_EQ(accepted, MailboxSink::kMaxBacklogBytes / frame.size());
  EXPECT_EQ(tally_.message_bytes[kSender], accepted * frame.size());
}

TEST_F(SessionTest, AMailboxConnectionTakesMessagesUpToItsFrameBound) {
  const std::vector<std::uint8_t> frame(1, 0x5a);
  std::size_t accepted = 0;
  while (accepted <= MailboxSink::kMaxBacklogFrames && delivered(frame)) ++accepted;
  EXPECT_EQ(accepted, MailboxSink::kMaxBacklogFrames);
}

TEST_F(SessionTest, AMessageThatWouldPassItsSendersUidBudgetIsRefusedWhileAnotherUidsIsQueued) {
  tally_.message_bytes[kSender] = limits_.mailbox_bytes_per_uid - 100;
  EXPECT_EQ(session_->deliver(std::vector<std::uint8_t>(200, 1), kSender), MailboxSink::Delivery::sender_budget);
  EXPECT_TRUE(delivered(std::vector<std::uint8_t>(50, 1)));
  EXPECT_EQ(tally_.message_bytes[kSender], limits_.mailbox_bytes_per_uid - 50);
  EXPECT_EQ(session_->deliver(std::vector<std::uint8_t>(200, 1), kSender + 1), MailboxSink::Delivery::queued);
}

TEST_F(SessionTest, AnotherUidsMailboxHoldsAtMostItsShareOfASendersBudgetUntilTheBytesAreWritten) {
  limits_.mailbox_bytes_per_receiver_uid = 1000;
  ASSERT_NE(kSender, ::getuid());
  session_->start();
  ASSERT_TRUE(delivered(std::vector<std::uint8_t>(600, 1)));
  EXPECT_EQ(session_->deliver(std::vector<std::uint8_t>(600, 1), kSender), MailboxSink::Delivery::receiver_share);
  EXPECT_EQ(tally_.message_bytes[kSender], 600u) << "a refused message is charged nothing";
  EXPECT_EQ(session_->deliver(std::vector<std::uint8_t>(600, 1), ::getuid()), MailboxSink::Delivery::queued)
      << "a user's own messages to their own mailbox are not bounded by the share";

  ASSERT_TRUE(read_bytes(1200));
  EXPECT_FALSE(tally_.message_bytes_held.contains(UidTally::pair_key(kSender, ::getuid())))
      << "written bytes give the share back";
  EXPECT_FALSE(tally_.message_bytes.contains(kSender));
  EXPECT_TRUE(delivered(std::vector<std::uint8_t>(900, 1)));
  EXPECT_EQ(tally_.message_bytes_held[UidTally::pair_key(kSender, ::getuid())], 900u);
  client_.reset();
  pump();
  session_.reset();
  pump();
  EXPECT_TRUE(tally_.message_bytes_held.empty()) << "a destroyed session gives its unwritten share back";
}

TEST_F(SessionTest, AClosedConnectionClosesItsMailboxAndGivesItsBacklogBack) {
  session_->start();
  ASSERT_TRUE(delivered(std::vector<std::uint8_t>(64 * 1024, 1)));
  EXPECT_GT(tally_.message_bytes[kSender], 0u);
  client_.reset();
  pump();
  EXPECT_TRUE(session_->hung_up());
  EXPECT_EQ(handler_.closed, 1u);
  EXPECT_FALSE(delivered(std::vector<std::uint8_t>(10, 1)));
  session_.reset();
  pump();
  EXPECT_FALSE(tally_.message_bytes.contains(kSender));
  EXPECT_FALSE(tally_.connections.contains(::getuid()));
}

}  // namespace
}  // namespace shmreg::broker
