// The broker at the edge of its resources. It must degrade by refusing work,
// never by breaking an invariant:
// - out of file descriptors, a registration it cannot watch must fail whole
//   (invariant 9), not stay behind after its owner dies (invariants 3 and 7);
// - out of file descriptors at a restart, it must not take live owners for
//   dead ones and reap their entries (invariants 7 and 8);
// - a peer that announces a large payload and sends none of it must not make
//   the broker reserve that memory (the socket is open to every local user).
#include <gtest/gtest.h>
#include <unistd.h>

#include "actor.hpp"
#include "broker_test.hpp"
#include "process_stats.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

// Far below what the owners below need: stdio, the lock, the epoll set, the
// signal pipe and the listening socket take about ten.
constexpr unsigned kTightFileLimit = 32;
constexpr int kOwners = 40;

class BrokerLimitsTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
};

TEST_F(BrokerLimitsTest, RegistrationTheBrokerCannotWatchFailsInsteadOfOutlivingItsOwner) {
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker({}, kTightFileLimit));

  std::vector<Actor> owners;
  int registered = 0;
  for (int i = 0; i < kOwners; ++i) {
    owners.push_back(Actor::start(ns(), socket_path()));
    ASSERT_TRUE(owners.back().ready());
    const auto answer = owners.back().ask({"register", "svc", "k" + std::to_string(i), "v"});
    ASSERT_NE(answer, std::vector<std::string>{"no answer"});
    if (answer[0] == "ok") ++registered;
    // Hang up, so that only the owner watches hold the broker's descriptors.
    ASSERT_TRUE(owners.back().expect_ok({"close"}));
  }
  ASSERT_TRUE(broker().running()) << broker().log();
  std::cerr << registered << " of " << kOwners << " registrations succeeded\n";

  for (auto& o : owners) ASSERT_TRUE(o.process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; }))
      << cli_count("svc") << " entries outlived their owners; broker log:\n"
      << broker().log();
}

TEST_F(BrokerLimitsTest, RestartShortOfFileDescriptorsNeverReapsLiveOwners) {
  std::vector<Actor> owners;
  for (int i = 0; i < kOwners; ++i) {
    owners.push_back(Actor::start(ns(), socket_path()));
    ASSERT_TRUE(owners.back().ready());
    ASSERT_TRUE(owners.back().registers("svc", "k" + std::to_string(i), "v"));
  }
  ASSERT_EQ(cli_count("svc"), kOwners);
  ASSERT_TRUE(stop_broker());

  // It may serve, or give up and exit; either way every owner is alive, so
  // every entry must still be there.
  (void)broker().start({}, kTightFileLimit);
  ASSERT_TRUE(wait_until([&] { return !broker().running() || cli({"ping"}).exit_code() == 0; }));
  for (auto& o : owners) ASSERT_TRUE(o.process().running());
  EXPECT_EQ(cli_count("svc"), kOwners) << "live owners were reaped; broker log:\n" << broker().log();
}

TEST_F(BrokerLimitsTest, AnnouncedPayloadsThatNeverArriveDoNotCostTheBrokerMemory) {
  constexpr int kPeers = 100;  // each announces 2 MiB: 200 MiB if the broker reserves it
  const long before = resident_kib(broker().pid());
  ASSERT_GT(before, 0);

  std::vector<std::uint8_t> header_bytes;
  {
    const proto::Op op = proto::Ping{};
    header_bytes = proto::encode_request(1, std::span<const proto::Op>(&op, 1));
    header_bytes.resize(proto::kHeaderSize);
    const std::uint32_t len = proto::kMaxPayload;
    for (int i = 0; i < 4; ++i) header_bytes[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(len >> (8 * i));
  }
  std::vector<RawConnection> peers;
  for (int i = 0; i < kPeers; ++i) {
    auto c = RawConnection::connect(socket_path());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(header_bytes));
    peers.push_back(std::move(*c));
  }
  // The broker accepts in order, so once a later connection is answered it
  // has taken in every header above.
  auto probe = RawConnection::connect(socket_path());
  ASSERT_TRUE(probe && probe->ping());

  const long after = resident_kib(broker().pid());
  EXPECT_LT(after - before, 32 * 1024) << "resident memory grew from " << before << " KiB to " << after
                                       << " KiB for " << kPeers << " headers of 16 bytes each";
}

}  // namespace
}  // namespace shmreg::test
