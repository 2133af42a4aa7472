// Snapshot reads across hosts (docs/cluster.md): a name registered through
// one real broker appears in every other broker's segment, owned by
// (host, pid), and leaves it when it is unregistered, when its owner dies and
// when its broker dies; a lookup there is a read of local memory. Three
// brokers with distinct [cluster] hosts stand in for three hosts, on one
// three-member etcd.
#include <nlohmann/json.hpp>

#include "cluster_broker_test.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

using ClusterSnapshotTest = ClusterBrokerTest;

// The entries of registry/key in host b's segment, from `shmreg --json
// lookup` (an empty array when there are none).
nlohmann::json entries_on(const HostBroker& b, const std::string& registry, const std::string& key) {
  const RunResult r = b.cli({"--json", "lookup", registry, key});
  if (r.exit_code() != 0) return nlohmann::json::array();
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array()) return j;
  if (j.is_object() && j.contains("entries")) return j.at("entries");
  return nlohmann::json::array();
}

// Whether b's segment shows registry/key held by pid on host.
bool shows(const HostBroker& b, const std::string& registry, const std::string& key, const std::string& host,
           pid_t pid) {
  for (const auto& e : entries_on(b, registry, key))
    if (e.value("host", "") == host && e.value("pid", 0) == pid) return true;
  return false;
}

TEST_F(ClusterSnapshotTest, ANameRegisteredOnOneHostIsReadOnEveryOtherWithItsHostAndGoesWhenUnregistered) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  HostBroker& c = start_host("host-c");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "10.0.0.1:5432"));
  for (const HostBroker* other : {&b, &c})
    EXPECT_TRUE(wait_until([&] { return shows(*other, "svc", "db", "host-a", owner.pid()); }, 10s))
        << other->host << " never showed host-a's name: " << other->cli({"--json", "lookup", "svc", "db"}).describe();
  const auto on_b = entries_on(b, "svc", "db");
  ASSERT_EQ(on_b.size(), 1u) << on_b.dump();
  EXPECT_EQ(on_b[0].value("value", ""), "10.0.0.1:5432");
  // The plain output names the remote owner as HOST:PID.
  const RunResult plain = b.cli({"lookup", "svc", "db"});
  EXPECT_NE(plain.out.find("host-a:" + std::to_string(owner.pid())), std::string::npos) << plain.describe();
  // On its own host the entry is a local one (no host).
  const auto on_a = entries_on(a, "svc", "db");
  ASSERT_EQ(on_a.size(), 1u) << on_a.dump();
  EXPECT_FALSE(on_a[0].contains("host")) << on_a.dump();

  ASSERT_TRUE(owner.unregisters("svc", "db"));
  for (const HostBroker* other : {&b, &c})
    EXPECT_TRUE(wait_until([&] { return entries_on(*other, "svc", "db").empty(); }, 10s))
        << other->host << " still shows the unregistered name";
  // A host registry of the same name is never mirrored.
  ASSERT_TRUE(owner.registers("local", "db", "a"));
  ASSERT_TRUE(owner.registers("svc", "marker", "m"));
  ASSERT_TRUE(wait_until([&] { return !entries_on(b, "svc", "marker").empty(); }, 10s));
  EXPECT_TRUE(entries_on(b, "local", "db").empty()) << "a host registry's name reached another host";
}

TEST_F(ClusterSnapshotTest, DuplicateEntriesOfSeveralHostsAreAllReadOnEachHost) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor on_a = actor_on(a);
  Actor on_b = actor_on(b);
  ASSERT_TRUE(on_a.registers("dups", "workers", "a1"));
  ASSERT_TRUE(on_a.registers("dups", "workers", "a2"));
  ASSERT_TRUE(on_b.registers("dups", "workers", "b1"));
  for (const HostBroker* h : {&a, &b})
    EXPECT_TRUE(wait_until([&] { return entries_on(*h, "dups", "workers").size() == 3; }, 10s))
        << h->host << ": " << entries_on(*h, "dups", "workers").dump();
  EXPECT_TRUE(shows(a, "dups", "workers", "host-b", on_b.pid()));
  EXPECT_TRUE(shows(b, "dups", "workers", "host-a", on_a.pid()));
  ASSERT_TRUE(on_a.unregisters("dups", "workers"));
  EXPECT_TRUE(wait_until([&] { return entries_on(b, "dups", "workers").size() == 1; }, 10s))
      << entries_on(b, "dups", "workers").dump();
}

TEST_F(ClusterSnapshotTest, ADeadOwnersNameLeavesEveryHost) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(wait_until([&] { return shows(b, "svc", "db", "host-a", owner.pid()); }, 10s));
  owner.process().kill_and_wait();
  EXPECT_TRUE(wait_until([&] { return entries_on(b, "svc", "db").empty(); }, 10s))
      << "host-b still shows a dead owner's name: " << entries_on(b, "svc", "db").dump();
}

TEST_F(ClusterSnapshotTest, ADeadBrokersNamesLeaveEveryOtherHostWithinItsLease) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(owner.registers("dups", "w", "v"));
  ASSERT_TRUE(wait_until([&] { return shows(b, "svc", "db", "host-a", owner.pid()); }, 10s));
  ASSERT_TRUE(wait_until([&] { return shows(b, "dups", "w", "host-a", owner.pid()); }, 10s));
  a.process->kill_hard();
  const auto killed = std::chrono::steady_clock::now();
  // The lease's TTL plus etcd's expiry check and an election, as for the
  // keys themselves (ClusterRegistrationTest), plus the watch's delivery.
  const auto bound = std::chrono::seconds(kLeaseTtlSeconds) + 4s;
  EXPECT_TRUE(wait_until([&] { return entries_on(b, "svc", "db").empty() && entries_on(b, "dups", "w").empty(); },
                         std::chrono::duration_cast<std::chrono::milliseconds>(bound)))
      << "host-b still shows the dead broker's names";
  std::cerr << "names gone from host-b "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count()
            << " ms after host-a's broker was killed\n";
  // The name is free for another host, and its new holder is what host-b shows.
  Actor on_b = actor_on(b);
  EXPECT_TRUE(on_b.registers("svc", "db", "b"));
  EXPECT_TRUE(shows(b, "svc", "db", "", on_b.pid())) << entries_on(b, "svc", "db").dump();
}

}  // namespace
}  // namespace shmreg::test
