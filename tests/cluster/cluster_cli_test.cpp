// `shmreg cluster status` and `shmreg cluster members` (docs/cli.md): the
// broker's view of etcd, asked over its socket.
#include <nlohmann/json.hpp>

#include <set>

#include "cluster_broker_test.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using ClusterCliTest = ClusterBrokerTest;

std::set<std::string> member_hosts(const HostBroker& b) {
  const RunResult r = b.cli({"--json", "cluster", "members"});
  std::set<std::string> hosts;
  if (r.exit_code() != 0) {
    std::cerr << "cluster members: exit " << r.exit_code() << ": " << r.err << "\n";
    return hosts;
  }
  const json j = json::parse(r.out);
  for (const json& h : j.at("hosts")) hosts.insert(h.at("host").get<std::string>());
  return hosts;
}

TEST_F(ClusterCliTest, StatusShowsThisHostsLeaseTheLeaderAndEveryEndpointsHealth) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(wait_until([&] { return member_hosts(a).contains("host-a"); }, 10s));
  const RunResult r = a.cli({"--json", "cluster", "status"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("host"), "host-a");
  EXPECT_EQ(j.at("prefix"), cluster_prefix());
  ASSERT_FALSE(j.at("lease").is_null()) << r.out;
  const json hosts_key = json::parse(etcd_value(cluster_prefix() + "/hosts/host-a"));
  EXPECT_EQ(j.at("lease").at("id"), hosts_key.at("lease"));
  EXPECT_EQ(j.at("lease").at("granted_ttl_s"), kLeaseTtlSeconds);
  EXPECT_LE(j.at("lease").at("remaining_s").get<int>(), kLeaseTtlSeconds);
  EXPECT_FALSE(j.at("leader").is_null());
  ASSERT_EQ(j.at("endpoints").size(), etcd().size());
  for (const json& e : j.at("endpoints")) EXPECT_TRUE(e.at("healthy").get<bool>()) << e.dump();
  EXPECT_EQ(j.at("members").size(), etcd().size());

  etcd().kill(2);
  const RunResult after = a.cli({"cluster", "status"});
  ASSERT_EQ(after.exit_code(), 0) << after.err;
  EXPECT_NE(after.out.find("lease\t" + hosts_key.at("lease").get<std::string>()), std::string::npos) << after.out;
  EXPECT_NE(after.out.find(etcd().client_url(2) + "\tunhealthy"), std::string::npos) << after.out;
}

TEST_F(ClusterCliTest, MembersAreTheHostsWithALiveLease) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(wait_until([&] { return member_hosts(a) == std::set<std::string>{"host-a", "host-b"}; }, 10s));
  const RunResult text = b.cli({"cluster", "members"});
  EXPECT_EQ(text.exit_code(), 0) << text.err;
  EXPECT_NE(text.out.find("host-a\t"), std::string::npos) << text.out;
  b.process->kill_hard();
  EXPECT_TRUE(wait_until([&] { return member_hosts(a) == std::set<std::string>{"host-a"}; },
                         std::chrono::seconds(kLeaseTtlSeconds) + 5s))
      << "host-b is still a member after its broker's death and its lease's TTL";
}

TEST_F(ClusterCliTest, ABrokerWithoutClusterSaysSo) {
  TempDir dir;
  const std::string ns = unique_namespace();
  BrokerProcess plain(ns, dir.path() + "/broker.sock", dir.path() + "/broker.log");
  ASSERT_TRUE(plain.start({"--segment-size", "16M"}).has_value());
  const RunResult r = run({cli_binary(), "--namespace", ns, "--socket", dir.path() + "/broker.sock", "cluster", "status"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("no [cluster]"), std::string::npos) << r.err;
  (void)plain.stop();
  remove_namespace_files(dir.path(), ns);
}

}  // namespace
}  // namespace shmreg::test
