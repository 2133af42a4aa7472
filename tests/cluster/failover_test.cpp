// Endpoint failover against a real three-member cluster that loses a
// member: killed (SIGKILL) or frozen (SIGSTOP), every call still works
// through the other two; a watch on the killed member ends and says so; a
// restarted member serves again.
#include <gtest/gtest.h>

#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/watch.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;
using FailoverTest = OwnEtcdClusterTest;

// Every call of the client, once, each by its deadline.
void every_call_works(EtcdClient& c, const ClientOptions& options, const std::string& prefix) {
  auto lease = c.lease_grant(30, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  auto created = c.create_if_absent(prefix + "name", "node-a:1", lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->created);
  auto held = c.create_if_absent(prefix + "name", "node-b:2", 0, deadline_in(kTimeout));
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->holder.value, "node-a:1");
  auto linear = c.get(prefix + "name", ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(linear) << linear.error().message;
  EXPECT_EQ(linear->kvs.size(), 1u);
  auto serial = c.get_prefix(prefix, ReadMode::serializable, deadline_in(kTimeout));
  ASSERT_TRUE(serial) << serial.error().message;
  auto watch = Watch::open(options, prefix, linear->header.revision + 1, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  auto refreshed = c.lease_keep_alive(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  auto ttl = c.lease_time_to_live(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(ttl) << ttl.error().message;
  auto gone = c.delete_if_value(prefix + "name", "node-a:1", deadline_in(kTimeout));
  ASSERT_TRUE(gone && gone->deleted);
  auto events = watch->next(deadline_in(kTimeout));
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, WatchEvent::Type::del);
  auto revoked = c.lease_revoke(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(revoked) << revoked.error().message;
}

TEST_F(FailoverTest, OneMemberOfThreeKilledEveryCallStillWorks) {
  auto c = client();
  ASSERT_NO_FATAL_FAILURE(every_call_works(c, options(), prefix() + "before/"));
  etcd().kill(0);  // the first endpoint, which every call tries first
  ASSERT_NO_FATAL_FAILURE(every_call_works(c, options(), prefix() + "after/"));

  const auto status = c.status(deadline_in(kTimeout));
  ASSERT_EQ(status.endpoints.size(), 3u);
  EXPECT_FALSE(status.endpoints[0].healthy);
  EXPECT_NE(status.endpoints[0].error.find("connect"), std::string::npos) << status.endpoints[0].error;
  EXPECT_TRUE(status.endpoints[1].healthy) << status.endpoints[1].error;
  EXPECT_TRUE(status.endpoints[2].healthy) << status.endpoints[2].error;
  EXPECT_EQ(status.members.size(), 3u);
  EXPECT_NE(status.leader_id, 0u);
  EXPECT_NE(status.leader_id, status.endpoints[0].member_id);
}

TEST_F(FailoverTest, KillingTheLeaderOnlyDelaysCallsByTheElection) {
  auto c = client();
  const auto before = c.status(deadline_in(kTimeout));
  ASSERT_NE(before.leader_id, 0u);
  std::size_t leader = 0;
  for (std::size_t i = 0; i < before.endpoints.size(); ++i) {
    if (before.endpoints[i].member_id == before.leader_id) leader = i;
  }
  etcd().kill(leader);
  ASSERT_NO_FATAL_FAILURE(every_call_works(c, options(), prefix()));
  const auto after = c.status(deadline_in(kTimeout));
  EXPECT_NE(after.leader_id, 0u);
  EXPECT_NE(after.leader_id, before.leader_id);
}

TEST_F(FailoverTest, AFrozenMemberIsPassedOverAfterTheAttemptTimeout) {
  auto c = client();
  etcd().stop(0);
  ASSERT_NO_FATAL_FAILURE(every_call_works(c, options(), prefix()));
  const auto status = c.status(deadline_in(kTimeout));
  EXPECT_FALSE(status.endpoints[0].healthy);
  EXPECT_NE(status.endpoints[0].error.find("timed out"), std::string::npos) << status.endpoints[0].error;
  etcd().resume(0);
  EXPECT_TRUE(etcd().wait_healthy(kTimeout));
}

TEST_F(FailoverTest, AWatchOnAKilledMemberEndsWithWatchClosed) {
  auto only_first = options();
  only_first.endpoints = {etcd().client_url(0)};
  auto watch = Watch::open(only_first, prefix(), 0, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  etcd().kill(0);
  Result<std::vector<WatchEvent>> events = std::vector<WatchEvent>{};
  ASSERT_TRUE(wait_until([&] {
    events = watch->next(deadline_in(std::chrono::milliseconds(100)));
    return !events;
  }));
  EXPECT_EQ(events.error().code, Errc::watch_closed) << events.error().message;
  EXPECT_NE(events.error().message.find(etcd().client_url(0)), std::string::npos) << events.error().message;
}

TEST_F(FailoverTest, ARestartedMemberServesAgain) {
  auto c = client();
  ASSERT_TRUE(c.put(prefix() + "k", "v", 0, deadline_in(kTimeout)));
  etcd().kill(1);
  ASSERT_TRUE(c.put(prefix() + "k", "while-down", 0, deadline_in(kTimeout)));
  auto restarted = etcd().restart(1);
  ASSERT_TRUE(restarted) << restarted.error();
  auto only = options();
  only.endpoints = {etcd().client_url(1)};
  auto c1 = EtcdClient::make(only);
  ASSERT_TRUE(c1);
  auto read = c1->get(prefix() + "k", ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->kvs.size(), 1u);
  EXPECT_EQ(read->kvs[0].value, "while-down");
}

}  // namespace
}  // namespace shmreg::test
