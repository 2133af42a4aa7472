// Hostile input the robustness suites leave out: descriptors passed with a
// request that takes none, patterns and values nested thousands deep, a peer
// that writes one byte at a time, and a peer that floods the broker with
// requests. After each, the broker is alive and serves everyone else.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "actor.hpp"
#include "broker_test.hpp"
#include "process_stats.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"

namespace shmreg::test {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes request(std::uint32_t id, const proto::Op& op) { return proto::encode_request(id, std::span<const proto::Op>(&op, 1)); }

// "[[[...1...]]]", depth brackets deep.
std::string nested_array(std::size_t depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); }

// [["and", ["and", ... ["is_number", "$1"] ...]]], depth "and"s deep.
std::string nested_guard(std::size_t depth) {
  std::string g = "[";
  for (std::size_t i = 0; i < depth; ++i) g += "[\"and\",";
  g += "[\"is_number\",\"$1\"]";
  return g + std::string(depth, ']') + "]";
}

class InputFaults : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
  ::testing::AssertionResult restart_with(const std::vector<std::string>& args) {
    if (auto stopped = stop_broker(); !stopped) return stopped;
    return start_broker(args);
  }
  // A fresh connection is answered, and a library client registers.
  ::testing::AssertionResult serves_others(const std::string& key) {
    if (!broker().running()) return ::testing::AssertionFailure() << "the broker died; its log:\n" << broker().log();
    auto probe = RawConnection::connect(socket_path());
    if (!probe || !probe->ping()) return ::testing::AssertionFailure() << "a new connection got no answer";
    Actor owner = Actor::start(ns(), socket_path());
    if (!owner.ready()) return ::testing::AssertionFailure() << "the actor did not start";
    return owner.registers("svc", key, "v");
  }
};

TEST_F(InputFaults, DescriptorsPassedWithRequestsThatTakeNoneAreClosedAndTheRequestsAnswered) {
  // The connection, its peer's pidfd and the watch of this process as an
  // owner are the broker's to keep; they are open before the count.
  auto c = RawConnection::connect(socket_path());
  ASSERT_TRUE(c);
  auto first = c->call({proto::RegisterKey{.registry = "svc", .key = "before-fds", .value = "v"}});
  ASSERT_TRUE(first && first->front().status == proto::Status::ok);
  const std::size_t fds_before = open_fd_count(broker().pid());
  // The write ends of pipes: once the broker has closed its copies, their
  // read ends see EOF.
  std::vector<sys::Pipe> pipes;
  for (int round = 0; round < 2; ++round) {
    std::vector<int> passed;
    for (int i = 0; i < 8; ++i) {
      pipes.push_back(make_pipe());
      passed.push_back(pipes.back().write.get());
    }
    const Bytes frame = round == 0 ? request(11, proto::Ping{})
                                   : request(12, proto::RegisterKey{.registry = "svc", .key = "with-fds", .value = "v"});
    ASSERT_TRUE(sys::send_all(c->fd(), frame.data(), frame.size(), passed));
    auto header = c->receive(proto::kHeaderSize);
    ASSERT_TRUE(header) << broker().log();
    auto h = proto::parse_header(*header);
    ASSERT_TRUE(h);
    auto payload = c->receive(h->payload_len);
    ASSERT_TRUE(payload);
    auto replies = proto::decode_reply(*payload);
    ASSERT_TRUE(replies && replies->size() == 1);
    EXPECT_EQ(replies->front().status, proto::Status::ok) << replies->front().message;
  }
  for (sys::Pipe& p : pipes) p.write.reset();
  for (sys::Pipe& p : pipes) {
    pollfd pfd{p.read.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, static_cast<int>(kTimeout.count())), 1) << "the broker kept a passed descriptor";
    char b;
    EXPECT_EQ(::read(p.read.get(), &b, 1), 0);
  }
  EXPECT_EQ(cli_count("svc"), 2) << "the registration itself applied";
  EXPECT_TRUE(wait_until([&] { return open_fd_count(broker().pid()) <= fds_before; }))
      << open_fd_count(broker().pid()) << " descriptors open, " << fds_before << " before";
  EXPECT_TRUE(serves_others("after-fds"));
}

TEST_F(InputFaults, PatternsAndGuardsNestedThousandsDeepAreRefusedAndDeepValuesNeverMatch) {
  cli_ok({"create", "deep", "--keys", "duplicate", "--max-value", "60000", "--capacity", "8"});
  auto c = RawConnection::connect(socket_path());
  ASSERT_TRUE(c);
  // A value 20000 deep, registered by this connection's process.
  auto reg = c->call({proto::RegisterKey{.registry = "deep", .key = "k", .value = nested_array(20000)},
                      proto::RegisterKey{.registry = "deep", .key = "k", .value = "[1]"}});
  ASSERT_TRUE(reg && reg->size() == 2);
  ASSERT_EQ((*reg)[0].status, proto::Status::ok) << (*reg)[0].message;

  // Deep, and as deep as the pattern size cap (64K) allows.
  for (const std::size_t depth : {std::size_t{100}, std::size_t{8000}, std::size_t{32000}}) {
    auto r = c->call({proto::UnregisterMatch{"deep", "k", nested_array(depth), ""},
                      proto::UnregisterMatch{"deep", "k", "[\"$1\"]", nested_guard(std::min<std::size_t>(depth, 8000))}});
    ASSERT_TRUE(r && r->size() == 2) << "depth " << depth << "\n" << broker().log();
    for (const proto::OpResult& res : *r) {
      EXPECT_EQ(res.status, proto::Status::invalid_argument) << "depth " << depth << ": " << res.message;
      EXPECT_NE(res.message.find("too deep"), std::string::npos) << res.message;
    }
  }
  // A pattern that matches any JSON array of one element removes "[1]" but
  // not the value nested past what the broker parses.
  auto r = c->call({proto::UnregisterMatch{"deep", "k", "[\"_\"]", ""}});
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().status, proto::Status::ok) << r->front().message;
  EXPECT_EQ(r->front().value, 1u);
  EXPECT_EQ(cli_count("deep"), 1);
  EXPECT_TRUE(serves_others("after-deep"));
}

TEST_F(InputFaults, APeerWritingOneByteAtATimeIsAnsweredWithinTheFrameDeadlineAndClosedPastIt) {
  ASSERT_TRUE(restart_with({"--segment-size", "16M", "--frame-deadline-ms", "1000"}));
  auto dribble = [](RawConnection& c, const Bytes& frame, std::chrono::milliseconds gap, std::size_t count) {
    for (std::size_t i = 0; i < count && i < frame.size(); ++i) {
      if (!c.send(std::span(frame).subspan(i, 1))) return false;
      // The pace of the attack, not a wait for a result.
      std::this_thread::sleep_for(gap);
    }
    return true;
  };
  // A whole ping, one byte every 10 ms: well within the deadline.
  auto patient = RawConnection::connect(socket_path());
  ASSERT_TRUE(patient);
  const Bytes ping = request(1, proto::Ping{});
  ASSERT_TRUE(dribble(*patient, ping, 10ms, ping.size()));
  auto header = patient->receive(proto::kHeaderSize);
  EXPECT_TRUE(header) << "a slow but complete frame was not answered\n" << broker().log();

  // A register frame, one byte every 100 ms: its deadline passes after about
  // ten bytes, while others are served.
  auto slow = RawConnection::connect(socket_path());
  ASSERT_TRUE(slow);
  const Bytes frame = request(1, proto::RegisterKey{.registry = "svc", .key = "slow", .value = std::string(64, 'v')});
  ASSERT_TRUE(dribble(*slow, frame, 100ms, 5));
  EXPECT_TRUE(serves_others("while-slow"));
  (void)dribble(*slow, frame, 100ms, frame.size());
  EXPECT_TRUE(slow->wait_for_close()) << broker().log();
  EXPECT_TRUE(wait_until([&] { return broker().log().find("--frame-deadline-ms") != std::string::npos; }))
      << broker().log();
  EXPECT_TRUE(cli_lookup("svc", "slow").empty());
}

TEST_F(InputFaults, APeerFloodingTheBrokerWithRequestsNeverStopsItServingOthers) {
  // The flooder pipelines batches of 32 register/unregister pairs and reads
  // the replies, as fast as it can, until the test closes its channel.
  ForkedChild flooder = ForkedChild::start([path = socket_path()](ChildChannel& ch) {
    auto c = RawConnection::connect(path);
    if (!c) return child_report(ch, "cannot connect");
    std::vector<proto::Op> ops;
    for (int i = 0; i < 32; ++i) {
      ops.push_back(proto::RegisterKey{.registry = "svc", .key = "flood-" + std::to_string(i), .value = "v"});
      ops.push_back(proto::Unregister{.registry = "svc", .key = "flood-" + std::to_string(i)});
    }
    for (std::uint64_t frames = 1;; ++frames) {
      if (!c->call(ops)) return child_report(ch, "the broker stopped answering the flooder");
      if (frames == 256) ch.send("flooding");
    }
  });
  ASSERT_EQ(flooder.receive(), "flooding");  // 256 frames answered: the flood is on

  for (int i = 0; i < 10; ++i) {
    const std::string key = "served-" + std::to_string(i);
    cli_ok({"register", "svc", key, "v", "--", "true"});
    Actor owner = Actor::start(ns(), socket_path());
    ASSERT_TRUE(owner.ready());
    ASSERT_TRUE(owner.registers("svc", key, "v"));
    EXPECT_EQ(cli_lookup("svc", key), (Lookup{{owner.pid(), "v"}}));
  }
  EXPECT_TRUE(flooder.running()) << "the flooder stopped: " << flooder.receive(1s).value_or("(no word)");
  ASSERT_TRUE(flooder.kill_and_wait());
  EXPECT_TRUE(broker().running());
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();
}

}  // namespace
}  // namespace shmreg::test
