// Leases against a real three-member cluster: a lease nobody keeps alive
// expires and its keys vanish (seen through a watch, by a deadline); a kept
// lease stays; revoke and time-to-live.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/lease_keeper.hpp"
#include "shmreg/cluster/watch.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;
using LeaseTest = SharedEtcdClusterTest;

constexpr std::int64_t kTtl = 2;
// etcd expires a lease within its TTL plus about an election timeout; the
// deadline is far beyond, so that only a lease that never expires fails.
constexpr auto kExpiryDeadline = std::chrono::seconds(kTtl) + std::chrono::seconds(8);

// Waits for the deletion of key on watch; false when deadline passes first.
bool saw_delete(Watch& watch, const std::string& key, Deadline deadline) {
  while (Clock::now() < deadline) {
    auto events = watch.next(deadline);
    if (!events) return false;
    for (const auto& e : *events) {
      if (e.type == WatchEvent::Type::del && e.kv.key == key) return true;
    }
  }
  return false;
}

TEST_F(LeaseTest, ALeaseNotKeptAliveExpiresAndItsKeysVanishFromTheWatch) {
  auto c = client();
  auto lease = c.lease_grant(kTtl, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ(lease->ttl_seconds, kTtl);
  auto created = c.create_if_absent(prefix() + "name", "node-a:1", lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(created && created->created);
  auto watch = Watch::open(options(), prefix(), created->header.revision + 1, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;

  EXPECT_TRUE(saw_delete(*watch, prefix() + "name", Clock::now() + kExpiryDeadline));

  auto read = c.get(prefix() + "name", ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->kvs.empty());
  auto ttl = c.lease_time_to_live(lease->id, deadline_in(kTimeout));
  ASSERT_FALSE(ttl);
  EXPECT_EQ(ttl.error().code, Errc::lease_not_found) << ttl.error().message;
  auto refresh = c.lease_keep_alive(lease->id, deadline_in(kTimeout));
  ASSERT_FALSE(refresh);
  EXPECT_EQ(refresh.error().code, Errc::lease_not_found) << refresh.error().message;
}

TEST_F(LeaseTest, AKeeperKeepsTheLeaseAndItsKeysPastTwoTtls) {
  auto c = client();
  auto lease = c.lease_grant(kTtl, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  ASSERT_TRUE(c.create_if_absent(prefix() + "name", "node-a:1", lease->id, deadline_in(kTimeout)));
  auto started = LeaseKeeper::start(options(), lease->id, std::chrono::milliseconds(kTtl * 1000 / 4));
  ASSERT_TRUE(started) << started.error().message;
  std::optional<LeaseKeeper> keeper(std::move(*started));

  // Two TTLs go by; the key must be there at every look.
  const auto until = Clock::now() + std::chrono::seconds(2 * kTtl);
  int looks = 0;
  while (Clock::now() < until) {
    auto read = c.get(prefix() + "name", ReadMode::linearizable, deadline_in(kTimeout));
    ASSERT_TRUE(read) << read.error().message;
    ASSERT_EQ(read->kvs.size(), 1u) << "the key vanished after " << looks << " looks";
    ++looks;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto state = keeper->state();
  EXPECT_FALSE(state.lost);
  EXPECT_GT(state.refreshes, 3u);
  EXPECT_EQ(state.ttl_seconds, kTtl);

  // Without the keeper it expires after all.
  keeper.reset();
  EXPECT_TRUE(wait_until([&] {
    auto read = c.get(prefix() + "name", ReadMode::linearizable, deadline_in(kTimeout));
    return read && read->kvs.empty();
  }, kExpiryDeadline));
}

TEST_F(LeaseTest, AOneShotKeepAliveRestoresTheFullTtl) {
  auto c = client();
  auto lease = c.lease_grant(30, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  auto refreshed = c.lease_keep_alive(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  EXPECT_EQ(refreshed->id, lease->id);
  EXPECT_EQ(refreshed->ttl_seconds, 30);
  auto ttl = c.lease_time_to_live(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(ttl) << ttl.error().message;
  EXPECT_EQ(ttl->granted_ttl_seconds, 30);
  EXPECT_GT(ttl->ttl_seconds, 0);
  EXPECT_LE(ttl->ttl_seconds, 30);
}

TEST_F(LeaseTest, RevokeDeletesTheLeasesKeysAtOnce) {
  auto c = client();
  auto lease = c.lease_grant(60, deadline_in(kTimeout));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(c.create_if_absent(prefix() + "a", "1", lease->id, deadline_in(kTimeout)));
  ASSERT_TRUE(c.create_if_absent(prefix() + "b", "2", lease->id, deadline_in(kTimeout)));
  auto ttl = c.lease_time_to_live(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(ttl);
  EXPECT_EQ(ttl->keys.size(), 2u);

  ASSERT_TRUE(c.lease_revoke(lease->id, deadline_in(kTimeout)));
  auto read = c.get_prefix(prefix(), ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->kvs.empty());
  auto again = c.lease_revoke(lease->id, deadline_in(kTimeout));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::lease_not_found) << again.error().message;
}

TEST_F(LeaseTest, AKeeperOfALeaseThatIsGoneSaysLost) {
  auto keeper = LeaseKeeper::start(options(), 0x5eed, std::chrono::milliseconds(100));
  ASSERT_TRUE(keeper) << keeper.error().message;
  EXPECT_TRUE(wait_until([&] { return keeper->state().lost; }));
  ASSERT_TRUE(keeper->state().last_error);
  EXPECT_EQ(keeper->state().last_error->code, Errc::lease_not_found);
}

}  // namespace
}  // namespace shmreg::test
