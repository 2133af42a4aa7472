// The broker against peers that misbehave: garbage, bad headers, truncated and
// oversized frames, mutated frames, a client that pipelines without reading,
// and a second broker for the same namespace. After each, the broker is alive
// and serves everyone else.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <filesystem>
#include <random>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

using Bytes = std::vector<std::uint8_t>;
Bytes request(std::uint32_t id, const proto::Op& op) { return proto::encode_request(id, std::span<const proto::Op>(&op, 1)); }

Bytes ping_frame(std::uint32_t id = 1) { return request(id, proto::Ping{}); }

void put_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

class BrokerRobustnessTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }

  RawConnection connect() {
    auto c = RawConnection::connect(socket_path());
    if (!c) throw std::runtime_error("cannot connect to " + socket_path());
    return std::move(*c);
  }

  // The broker is alive and answers a fresh connection.
  ::testing::AssertionResult serves_others() {
    if (!broker().running()) return ::testing::AssertionFailure() << "the broker died; its log:\n" << broker().log();
    auto c = RawConnection::connect(socket_path());
    if (!c) return ::testing::AssertionFailure() << "cannot connect";
    auto pid = c->ping();
    if (!pid || static_cast<pid_t>(*pid) != broker().pid())
      return ::testing::AssertionFailure() << "no ping answer; broker log:\n" << broker().log();
    return ::testing::AssertionSuccess();
  }

  // Sends bytes on a fresh connection; true if the broker then closes it
  // without answering.
  ::testing::AssertionResult is_dropped(const Bytes& bytes) {
    RawConnection c = connect();
    if (!c.send(bytes)) return ::testing::AssertionFailure() << "send failed";
    if (!c.wait_for_close()) return ::testing::AssertionFailure() << "the broker kept the connection open";
    return ::testing::AssertionSuccess();
  }
};

TEST_F(BrokerRobustnessTest, MalformedHeadersGetTheConnectionDroppedAndOthersStillServed) {
  Bytes bad_magic = ping_frame();
  bad_magic[0] ^= 0xff;
  EXPECT_TRUE(is_dropped(bad_magic));

  Bytes bad_version = ping_frame();
  bad_version[2] = proto::kVersion + 1;
  EXPECT_TRUE(is_dropped(bad_version));

  Bytes bad_kind = ping_frame();
  bad_kind[3] = 7;
  EXPECT_TRUE(is_dropped(bad_kind));

  Bytes reply_kind = proto::encode_reply(1, std::vector<proto::OpResult>{proto::OpResult{}});
  EXPECT_TRUE(is_dropped(reply_kind));

  for (const std::uint32_t len : {proto::kMaxPayload + 1, 0xffffffffu}) {
    Bytes oversized = ping_frame();
    put_u32(oversized, 8, len);
    EXPECT_TRUE(is_dropped(oversized)) << "payload_len " << len;
  }
  EXPECT_TRUE(serves_others());
}

TEST_F(BrokerRobustnessTest, MalformedPayloadsGetTheConnectionDroppedAndOthersStillServed) {
  Bytes bad_op = ping_frame();
  bad_op[proto::kHeaderSize + 2] = 0x7f;  // the op code
  EXPECT_TRUE(is_dropped(bad_op));

  Bytes zero_ops = ping_frame();
  zero_ops[proto::kHeaderSize] = 0;
  zero_ops[proto::kHeaderSize + 1] = 0;
  EXPECT_TRUE(is_dropped(zero_ops));

  Bytes trailing = ping_frame();
  trailing.push_back(0);
  put_u32(trailing, 8, static_cast<std::uint32_t>(trailing.size() - proto::kHeaderSize));
  EXPECT_TRUE(is_dropped(trailing));

  // A string length that points past the payload.
  Bytes long_string = request(1, proto::RegisterKey{.registry = "svc", .key = "k", .value = "v"});
  put_u32(long_string, proto::kHeaderSize + 3, 0xfffffff0u);
  EXPECT_TRUE(is_dropped(long_string));

  Bytes bad_kind_field = request(1, proto::CreateRegistry{.name = "r"});
  bad_kind_field[proto::kHeaderSize + 3 + 4 + 1] = 9;  // after count, op, name length and name
  EXPECT_TRUE(is_dropped(bad_kind_field));
  EXPECT_TRUE(serves_others());
  EXPECT_EQ(cli({"lookup", "r", "x"}).exit_code(), 2) << "the malformed create must not have applied";
}

TEST_F(BrokerRobustnessTest, GarbageAndTruncatedFramesThenCloseLeaveTheBrokerServing) {
  std::mt19937 rng(20240601);
  for (int round = 0; round < 20; ++round) {
    RawConnection c = connect();
    Bytes junk(1 + rng() % 4096);
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    c.send(junk);
  }
  {
    Bytes frame = request(1, proto::RegisterKey{.registry = "svc", .key = "partial", .value = "v"});
    for (std::size_t cut : {std::size_t{1}, std::size_t{10}, proto::kHeaderSize, proto::kHeaderSize + 5,
                            frame.size() - 1}) {
      RawConnection c = connect();
      ASSERT_TRUE(c.send(std::span<const std::uint8_t>(frame.data(), cut)));
    }  // each closed right here, mid-frame
  }
  EXPECT_TRUE(serves_others());
  EXPECT_EQ(cli({"lookup", "svc", "partial"}).exit_code(), 1) << "a truncated request must not apply";

  // A normal client registers through the CLI and through the library.
  cli_ok({"register", "svc", "after-cli", "v", "--", "true"});
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "after-api", "v"));
  EXPECT_EQ(cli_lookup("svc", "after-api"), (Lookup{{owner.pid(), "v"}}));
}

TEST_F(BrokerRobustnessTest, StalledPeersDoNotBlockOtherClients) {
  // One peer announced the largest payload and sends none of it; another sent
  // half a header; a third connected and said nothing. They all stay open.
  RawConnection big = connect();
  Bytes header = ping_frame();
  put_u32(header, 8, proto::kMaxPayload);
  ASSERT_TRUE(big.send(std::span<const std::uint8_t>(header.data(), proto::kHeaderSize)));
  RawConnection half = connect();
  ASSERT_TRUE(half.send(std::span<const std::uint8_t>(header.data(), 7)));
  RawConnection silent = connect();

  EXPECT_TRUE(serves_others());
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "while-stalled", "v"));
  EXPECT_EQ(cli_lookup("svc", "while-stalled"), (Lookup{{owner.pid(), "v"}}));
}

TEST_F(BrokerRobustnessTest, MutatedValidFramesNeverTakeTheBrokerDown) {
  std::mt19937 rng(777);
  const std::vector<Bytes> seeds = {
      ping_frame(),
      request(2, proto::CreateRegistry{.name = "fuzzreg", .kind = 2, .partitions = 3, .max_key = 16, .max_value = 16,
                                       .capacity = 64, .meta = {{"m", "v"}}}),
      request(3, proto::RegisterKey{.registry = "svc", .key = "fuzz-key", .value = "fuzz-value"}),
      request(4, proto::Unregister{.registry = "svc", .key = "fuzz-key"}),
      request(5, proto::UnregisterAll{}),
      request(6, proto::UpdateValue{.registry = "svc", .key = "fuzz-key", .value = "v2", .expected_version = 1}),
      request(7, proto::PutMeta{.registry = "svc", .key = "m", .value = "v"}),
      request(8, proto::DeleteMeta{.registry = "svc", .key = "m"}),
      request(9, proto::UnregisterMatch{.registry = "svc", .key = "fuzz-key", .pattern = "_"}),
      request(10, proto::LookupConsistent{.registry = "svc", .key = "fuzz-key"}),
      // Names a pidfd the frame does not carry.
      request(11, proto::RegisterOnBehalf{.registry = "svc", .key = "other", .value = "v", .target = 1}),
  };
  for (int round = 0; round < 300; ++round) {
    Bytes frame = seeds[rng() % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      switch (rng() % 3) {
        case 0: frame[rng() % frame.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 1: frame[rng() % frame.size()] = static_cast<std::uint8_t>(rng()); break;
        default: frame.resize(1 + rng() % frame.size()); break;
      }
    }
    RawConnection c = connect();
    (void)c.send(frame);
    // Half the time hang up at once; else signal the end of the input and
    // expect the broker to finish with the connection (answer or not).
    if (round % 2 == 0) {
      c.shutdown_write();
      EXPECT_TRUE(c.wait_for_close()) << "round " << round;
    }
  }
  EXPECT_TRUE(serves_others());
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();
}

TEST_F(BrokerRobustnessTest, PipelinedRequestsAreAnsweredInOrderEvenWhenTheClientReadsLate) {
  constexpr std::uint32_t kRequests = 20000;  // far beyond the broker's reply queue
  Bytes stream;
  for (std::uint32_t id = 1; id <= kRequests; ++id) {
    const Bytes f = ping_frame(id);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  RawConnection c = connect();
  ASSERT_EQ(::fcntl(c.fd(), F_SETFL, O_NONBLOCK), 0);

  std::size_t sent = 0;
  // First write as much as the socket takes without reading a single reply.
  for (;;) {
    const ssize_t w = ::send(c.fd(), stream.data() + sent, stream.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += static_cast<std::size_t>(w);
    if (sent == stream.size()) break;
  }
  Bytes in;
  std::size_t parsed = 0;
  std::uint32_t expect_id = 1;
  std::string problem;
  const auto deadline = Clock::now() + kTimeout;
  while (expect_id <= kRequests && problem.empty() && Clock::now() < deadline) {
    pollfd p{c.fd(), static_cast<short>(POLLIN | (sent < stream.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if ((p.revents & POLLOUT) != 0) {
      const ssize_t w = ::send(c.fd(), stream.data() + sent, stream.size() - sent, MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<std::size_t>(w);
    }
    if ((p.revents & (POLLIN | POLLHUP)) != 0) {
      std::uint8_t buf[65536];
      const ssize_t r = ::recv(c.fd(), buf, sizeof buf, 0);
      if (r == 0) problem = "the broker closed the connection";
      if (r > 0) in.insert(in.end(), buf, buf + r);
    }
    while (in.size() - parsed >= proto::kHeaderSize) {
      auto h = proto::parse_header(std::span<const std::uint8_t>(in).subspan(parsed));
      if (!h) {
        problem = "bad reply header";
        break;
      }
      if (in.size() - parsed < proto::kHeaderSize + h->payload_len) break;
      auto results = proto::decode_reply(
          std::span<const std::uint8_t>(in).subspan(parsed + proto::kHeaderSize, h->payload_len));
      if (h->request_id != expect_id || !results || results->size() != 1 ||
          results->front().status != proto::Status::ok) {
        problem = "reply " + std::to_string(h->request_id) + " where " + std::to_string(expect_id) + " was due";
        break;
      }
      ++expect_id;
      parsed += proto::kHeaderSize + h->payload_len;
    }
  }
  EXPECT_EQ(problem, "");
  EXPECT_EQ(expect_id, kRequests + 1) << "replies received in order before the deadline";
  EXPECT_TRUE(serves_others());
}

TEST_F(BrokerRobustnessTest, SecondBrokerOnTheSameNamespaceIsRefused) {
  const std::string first = std::to_string(broker().pid());
  for (const std::string& socket : {socket_path(), dir().path() + "/other.sock"}) {
    const std::vector<std::string> argv = {broker_binary(), "--namespace", ns(), "--socket", socket};
    RunResult second = run(argv);
    EXPECT_EQ(second.exit_code(), 1) << second.describe();
    EXPECT_NE(second.err.find("already served by another broker (pid " + first + ")"), std::string::npos)
        << second.describe();
  }
  // The first broker keeps its socket and its clients.
  EXPECT_TRUE(serves_others());
  EXPECT_FALSE(std::filesystem::exists(dir().path() + "/other.sock"));
  cli_ok({"register", "svc", "still-served", "v", "--", "true"});
}

}  // namespace
}  // namespace shmreg::test
