// The broker's lease (docs/cluster.md, "Failure semantics"): lost, it
// withdraws this host's owners' cluster entries; cut off from etcd past its
// TTL, it withdraws them without hearing from etcd; restarted within the
// TTL, it asserts its live owners' names again.
#include <fstream>
#include <nlohmann/json.hpp>

#include "broker_test.hpp"
#include "cluster_broker_test.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

using ClusterLeaseTest = ClusterBrokerTest;

std::int64_t lease_of(const std::string& hosts_value) {
  if (hosts_value.empty()) return 0;
  return std::stoll(nlohmann::json::parse(hosts_value).at("lease").get<std::string>());
}

TEST_F(ClusterLeaseTest, ALeaseRevokedInEtcdWithdrawsTheHostsClusterEntriesAndANewLeaseFollows) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(owner.registers("local", "db", "v"));
  const std::int64_t first = lease_of(etcd_value(cluster_prefix() + "/hosts/host-a"));
  ASSERT_NE(first, 0);
  ASSERT_TRUE(client().lease_revoke(first, cluster::deadline_in(5s)));
  EXPECT_TRUE(wait_until([&] { return !a.holds("svc", "db"); }, 10s)) << "the cluster entry stayed";
  EXPECT_TRUE(a.holds("local", "db")) << "a host registry's entry stays";
  // The event that tells the owner: an unregister of its key.
  const RunResult events = a.cli({"watch", "svc", "db", "--from", "0", "--count", "2", "--timeout", "5"});
  EXPECT_EQ(events.exit_code(), 0) << events.out << events.err;
  EXPECT_NE(events.out.find("unregister"), std::string::npos) << events.out;
  EXPECT_TRUE(wait_until(
      [&] {
        const std::int64_t now = lease_of(etcd_value(cluster_prefix() + "/hosts/host-a"));
        return now != 0 && now != first;
      },
      10s))
      << "no new lease";
  EXPECT_TRUE(owner.registers("svc", "db", "again"));
}

TEST_F(ClusterLeaseTest, ABrokerCutOffFromEtcdPastItsTtlWithdrawsItsEntries) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().stop(i);
  const auto cut = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return !a.holds("svc", "db"); }, std::chrono::seconds(kLeaseTtlSeconds) + 5s));
  std::cerr << "withdrawn "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cut).count()
            << " ms after etcd froze (TTL " << kLeaseTtlSeconds << " s)\n";
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().resume(i);
  ASSERT_TRUE(etcd().wait_healthy(20s));
  EXPECT_TRUE(wait_until([&] { return is_ok(owner.ask({"register", "svc", "db", "v2"})); }, 20s));
}

TEST_F(ClusterLeaseTest, ABrokerRestartedWithinTheTtlKeepsItsLiveOwnersNames) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(owner.registers("dups", "w", "1"));
  ASSERT_TRUE(owner.registers("dups", "w", "2"));
  const std::int64_t first = lease_of(etcd_value(cluster_prefix() + "/hosts/host-a"));
  a.process->kill_hard();
  ASSERT_TRUE(succeeded(a.process->start({"--config", a.config, "--segment-size", "16M"})));
  EXPECT_TRUE(wait_until(
      [&] {
        auto kv = client().get(name_key("svc", "db"), cluster::ReadMode::linearizable, cluster::deadline_in(5s));
        const std::int64_t now = lease_of(etcd_value(cluster_prefix() + "/hosts/host-a"));
        return kv && !kv->kvs.empty() && now != 0 && now != first && kv->kvs.front().lease == now;
      },
      10s))
      << "the name did not move to the new broker's lease";
  // The old lease gone, the name is still there, and still the owner's.
  (void)client().lease_revoke(first, cluster::deadline_in(5s));
  const std::string value = etcd_value(name_key("svc", "db"));
  ASSERT_FALSE(value.empty());
  EXPECT_EQ(nlohmann::json::parse(value).at("pid"), owner.pid());
  EXPECT_TRUE(a.holds("svc", "db"));
  EXPECT_EQ(etcd_count(cluster_prefix() + "/dups/"), 2u) << "each duplicate entry once, under the new lease";
}

// Restarted while etcd answers nothing: the owners' names are held under
// the previous broker's lease only, which has ended by lease_ttl after the
// start at the latest, so they are withdrawn then rather than kept for as
// long as etcd stays away.
TEST_F(ClusterLeaseTest, ABrokerRestartedWhileEtcdIsAwayWithdrawsItsOwnersNamesWithinTheTtl) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(owner.registers("local", "db", "v"));
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().stop(i);
  a.process->kill_hard();
  ASSERT_TRUE(succeeded(a.process->start({"--config", a.config, "--segment-size", "16M"})));
  EXPECT_TRUE(wait_until([&] { return !a.holds("svc", "db"); }, std::chrono::seconds(kLeaseTtlSeconds) + 5s))
      << "the restarted broker kept a cluster name it could not assert";
  EXPECT_TRUE(a.holds("local", "db")) << "a host registry's entry stays";
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().resume(i);
  ASSERT_TRUE(etcd().wait_healthy(20s));
  EXPECT_TRUE(wait_until([&] { return is_ok(owner.ask({"register", "svc", "db", "v2"})); }, 20s));
}

}  // namespace
}  // namespace shmreg::test

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

using ClusterReloadTest = ClusterBrokerTest;

void rewrite(const HostBroker& b, const std::string& from, const std::string& to, std::string text) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  std::ofstream(b.config) << text;
}

TEST_F(ClusterReloadTest, AReloadRefusesAScopeChangeOrANewClusterRegistryAndNotesAClusterChangeForTheNextStart) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  rewrite(a, "name = \"local\"\n", "name = \"local\"\nscope = \"cluster\"\n", config_text("host-a"));
  const RunResult refused = a.cli({"reload"});
  EXPECT_EQ(refused.exit_code(), 2);
  EXPECT_NE(refused.err.find("registry 'local': scope = \"cluster\" (now \"host\") changes only at a restart"),
            std::string::npos)
      << refused.err;
  rewrite(a, "name = \"local\"\n",
          "name = \"local\"\n\n[[registry]]\nname = \"later\"\nscope = \"cluster\"\n", config_text("host-a"));
  const RunResult added = a.cli({"reload"});
  EXPECT_EQ(added.exit_code(), 2);
  EXPECT_NE(added.err.find("registry 'later': a scope = \"cluster\" registry is added at a restart"),
            std::string::npos)
      << added.err;
  rewrite(a, "lease_ttl = \"2s\"", "lease_ttl = \"9s\"", config_text("host-a"));
  const RunResult noted = a.cli({"--json", "reload"});
  EXPECT_EQ(noted.exit_code(), 0) << noted.err;
  EXPECT_NE(noted.out.find("[cluster] changed: it takes effect at the next start"), std::string::npos) << noted.out;
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  auto kv = client().get(name_key("svc", "db"), cluster::ReadMode::linearizable, cluster::deadline_in(5s));
  ASSERT_TRUE(kv && !kv->kvs.empty());
  auto ttl = client().lease_time_to_live(kv->kvs.front().lease, cluster::deadline_in(5s));
  ASSERT_TRUE(ttl);
  EXPECT_EQ(ttl->granted_ttl_seconds, kLeaseTtlSeconds) << "the lease keeps the TTL the broker started with";
}

}  // namespace
}  // namespace shmreg::test
