// Events that a real broker publishes, read by the real CLI: await wakes on
// another process's registration, and a watcher that fell behind the ring is
// told it lagged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

using BrokerEvents = BrokerTest;

TEST_F(BrokerEvents, AwaitExitsZeroWhenAnotherProcessRegistersAndOneOnTimeout) {
  cli_ok({"create", "svc"});
  EXPECT_EQ(cli({"await", "svc", "name", "--timeout", "0.2"}).exit_code(), 1);
  Subprocess waiter = Subprocess::spawn(cli_argv({"await", "svc", "name", "--timeout", "60"}));
  Subprocess owner = Subprocess::spawn(cli_argv({"register", "svc", "name", "A", "--", "sleep", "600"}));
  auto rc = waiter.wait();
  ASSERT_TRUE(rc) << "await did not return";
  EXPECT_EQ(*rc, 0);
}

TEST_F(BrokerEvents, AWatcherThatFallsBehindTheRingIsToldItLagged) {
  cli_ok({"create", "svc"});
  auto client = Client::open({ns(), socket_path()});
  ASSERT_TRUE(client);
  // More events than the broker's default ring (1024) keeps.
  for (int batch = 0; batch < 3; ++batch) {
    WriteBatch b;
    for (int i = 0; i < 400; ++i) b.register_key("svc", "k" + std::to_string(batch * 400 + i), "v");
    auto r = client->apply(b);
    ASSERT_TRUE(r);
  }
  RunResult r = cli({"--json", "watch", "svc", "--from", "1", "--count", "1"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const json first = json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(first["type"], "lagged");
  EXPECT_EQ(first["seq"].get<std::uint64_t>(), 1200u - 1024u + 1u);
}

}  // namespace
}  // namespace shmreg::test
