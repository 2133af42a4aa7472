// The broker out of descriptors (a small RLIMIT_NOFILE): whichever
// descriptor runs out first, the accepted socket or the peer's pidfd behind
// it, a new connection is refused with a log line that says the broker is out
// of file descriptors and names RLIMIT_NOFILE; the connections it holds keep
// being served, and once descriptors are free new ones are served again. Two
// limits one apart put the last free descriptor at each of the two places.
// The refusal of a registration whose pidfd cannot be kept is in
// tests/robustness (BrokerResourceLimitsTest).
#include <gtest/gtest.h>

#include "broker_test.hpp"

namespace shmreg::test {
namespace {

class OutOfDescriptors : public BrokerTest, public ::testing::WithParamInterface<unsigned> {};

TEST_P(OutOfDescriptors, NewConnectionsAreRefusedSayingSoHeldOnesAreServedAndFreedDescriptorsServeAgain) {
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker({}, GetParam()));
  std::vector<RawConnection> held;
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto c = RawConnection::connect(socket_path());
    ASSERT_TRUE(c) << "connect failed";
    if (c->ping())
      held.push_back(std::move(*c));
    else
      refused = true;
  }
  ASSERT_TRUE(refused) << held.size() << " connections and no refusal";
  EXPECT_TRUE(wait_until([&] {
    const std::string log = broker().log();
    return log.find("refused a connection") != std::string::npos &&
           log.find("the broker is out of file descriptors") != std::string::npos &&
           log.find("RLIMIT_NOFILE " + std::to_string(GetParam())) != std::string::npos;
  })) << broker().log();

  for (auto& c : held) EXPECT_TRUE(c.ping()) << "a held connection was dropped";
  held.erase(held.begin() + static_cast<long>(held.size() / 2), held.end());
  EXPECT_TRUE(wait_until([&] {
    auto probe = RawConnection::connect(socket_path());
    return probe && probe->ping();
  })) << broker().log();
  EXPECT_TRUE(broker().running());
}

INSTANTIATE_TEST_SUITE_P(Limits, OutOfDescriptors, ::testing::Values(40u, 41u),
                         [](const ::testing::TestParamInfo<unsigned>& p) { return "Nofile" + std::to_string(p.param); });

}  // namespace
}  // namespace shmreg::test
