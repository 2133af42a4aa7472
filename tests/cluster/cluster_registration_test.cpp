// Cluster registries on real brokers (docs/cluster.md): each name is an etcd
// key first, under the broker's lease; a conflict names the holder's host and
// pid; removals go to etcd; host-local registries never wait on etcd.
#include <signal.h>

#include <nlohmann/json.hpp>

#include "cluster_broker_test.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

using ClusterRegistrationTest = ClusterBrokerTest;

TEST_F(ClusterRegistrationTest, RegisterOnAClusterRegistryPutsItsNameInEtcdUnderTheBrokersLease) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "10.0.0.1:5432"));
  const std::string value = etcd_value(name_key("svc", "db"));
  ASSERT_FALSE(value.empty()) << "no etcd key " << name_key("svc", "db");
  const auto j = nlohmann::json::parse(value);
  EXPECT_EQ(j.at("host"), "host-a");
  EXPECT_EQ(j.at("pid"), owner.pid());
  EXPECT_EQ(j.at("value"), "MTAuMC4wLjE6NTQzMg==");  // base64 of the value
  EXPECT_TRUE(a.holds("svc", "db"));
  auto kv = client().get(name_key("svc", "db"), cluster::ReadMode::linearizable, cluster::deadline_in(5s));
  ASSERT_TRUE(kv && !kv->kvs.empty());
  const auto host = nlohmann::json::parse(etcd_value(cluster_prefix() + "/hosts/host-a"));
  EXPECT_EQ(host.at("lease"), std::to_string(kv->kvs.front().lease)) << "the name is held under the host's lease";
  EXPECT_EQ(host.at("broker_pid"), a.process->pid());
}

TEST_F(ClusterRegistrationTest, TheSameNameOnAnotherHostIsAlreadyRegisteredNamingTheHoldersHostAndPid) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor on_a = actor_on(a);
  Actor on_b = actor_on(b);
  ASSERT_TRUE(on_a.registers("svc", "db", "a"));
  const auto refused = on_b.ask({"register", "svc", "db", "b"});
  EXPECT_EQ(errc_of(refused), "already_registered");
  EXPECT_NE(message_of(refused).find("host 'host-a'"), std::string::npos) << message_of(refused);
  EXPECT_NE(message_of(refused).find("PID " + std::to_string(on_a.pid())), std::string::npos) << message_of(refused);
  // Nothing of b's process was written on host b (its segment may show
  // host-a's entry, which b's mirror puts there as HOST:PID).
  const RunResult on_host_b = b.cli({"lookup", "svc", "db"});
  EXPECT_EQ(("\n" + on_host_b.out).find("\n" + std::to_string(on_b.pid()) + "\t"), std::string::npos)
      << on_host_b.describe();
  // The same name in a host registry is another name on each host.
  EXPECT_TRUE(on_a.registers("local", "db", "a"));
  EXPECT_TRUE(on_b.registers("local", "db", "b"));
}

TEST_F(ClusterRegistrationTest, UnregisterAndTheOwnersDeathRemoveTheEtcdKey) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor first = actor_on(a);
  ASSERT_TRUE(first.registers("svc", "db", "v"));
  ASSERT_FALSE(etcd_value(name_key("svc", "db")).empty());
  ASSERT_TRUE(first.unregisters("svc", "db"));
  EXPECT_TRUE(etcd_value(name_key("svc", "db")).empty()) << "unregister answers after etcd's deletion";
  EXPECT_FALSE(a.holds("svc", "db"));

  Actor second = actor_on(a);
  ASSERT_TRUE(second.registers("svc", "db", "v2"));
  ASSERT_FALSE(etcd_value(name_key("svc", "db")).empty());
  second.process().kill_and_wait();
  EXPECT_TRUE(wait_until([&] { return etcd_value(name_key("svc", "db")).empty(); }, 10s))
      << "the dead owner's name is still in etcd";
  EXPECT_FALSE(a.holds("svc", "db"));
}

// The broker frozen while the holder dies and its successor asks for the
// name: on SIGCONT the request may come before the death; either way the
// dead holder loses the name (as on a host registry) and the successor gets it.
TEST_F(ClusterRegistrationTest, AServiceRestartedAtOnceTakesTheNameOfItsDeadPredecessor) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor first = actor_on(a);
  ASSERT_TRUE(first.registers("svc", "db", "1"));
  Actor second = actor_on(a);
  ASSERT_TRUE(is_ok(second.ask({"ping"})));  // connected before the broker stops
  ASSERT_TRUE(a.process->pid() > 0 && ::kill(a.process->pid(), SIGSTOP) == 0);
  first.process().kill_and_wait();
  ASSERT_TRUE(second.send({"register", "svc", "db", "2"}));
  ASSERT_EQ(::kill(a.process->pid(), SIGCONT), 0);
  const auto answer = second.answer();
  EXPECT_TRUE(is_ok(answer)) << join_fields(answer);
  const auto j = nlohmann::json::parse(etcd_value(name_key("svc", "db")));
  EXPECT_EQ(j.at("pid"), second.pid());
}

TEST_F(ClusterRegistrationTest, ANameFreedOnOneHostCanBeTakenOnAnother) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor on_a = actor_on(a);
  Actor on_b = actor_on(b);
  ASSERT_TRUE(on_a.registers("svc", "db", "a"));
  ASSERT_EQ(errc_of(on_b.ask({"register", "svc", "db", "b"})), "already_registered");
  ASSERT_TRUE(on_a.unregisters("svc", "db"));
  EXPECT_TRUE(on_b.registers("svc", "db", "b"));
  const auto j = nlohmann::json::parse(etcd_value(name_key("svc", "db")));
  EXPECT_EQ(j.at("host"), "host-b");
}

TEST_F(ClusterRegistrationTest, ADuplicateRegistryHoldsOneEtcdKeyPerEntry) {
  HostBroker& a = start_host("host-a");
  HostBroker& b = start_host("host-b");
  ASSERT_FALSE(HasFatalFailure());
  Actor one = actor_on(a);
  Actor two = actor_on(a);
  Actor three = actor_on(b);
  ASSERT_TRUE(one.registers("dups", "workers", "1"));
  ASSERT_TRUE(one.registers("dups", "workers", "1b"));
  ASSERT_TRUE(two.registers("dups", "workers", "2"));
  ASSERT_TRUE(three.registers("dups", "workers", "3"));
  const std::string under = cluster_prefix() + "/dups/dups/" + to_hex("workers") + "/";
  EXPECT_EQ(etcd_count(under), 4u);
  EXPECT_EQ(etcd_count(under + "host-a/" + std::to_string(one.pid()) + "/"), 2u);
  ASSERT_TRUE(one.unregisters("dups", "workers"));
  EXPECT_EQ(etcd_count(under), 2u) << "unregister removes both of its entries' keys";
  three.process().kill_and_wait();
  EXPECT_TRUE(wait_until([&] { return etcd_count(under) == 1; }, 10s));
}

TEST_F(ClusterRegistrationTest, AFrameWithAClusterOpAndOthersIsRefusedUnrun) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  auto conn = RawConnection::connect(a.socket);
  ASSERT_TRUE(conn);
  auto replies = conn->call({proto::RegisterKey{"local", "x", "1"}, proto::RegisterKey{"svc", "y", "2"}});
  ASSERT_TRUE(replies);
  ASSERT_EQ(replies->size(), 2u);
  for (const proto::OpResult& r : *replies) {
    EXPECT_EQ(r.status, proto::Status::invalid_argument);
    EXPECT_NE(r.message.find("holds that one op alone"), std::string::npos) << r.message;
  }
  EXPECT_FALSE(a.holds("local", "x"));
  EXPECT_TRUE(etcd_value(name_key("svc", "y")).empty());
}

TEST_F(ClusterRegistrationTest, OwnerQueuesValueUpdatesAndConsistentLookupsAreRefusedOnClusterRegistries) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  const auto update = owner.ask({"update", "svc", "db", "w"});
  EXPECT_EQ(errc_of(update), "invalid_argument");
  EXPECT_NE(message_of(update).find("scope = \"cluster\""), std::string::npos) << message_of(update);
  auto conn = RawConnection::connect(a.socket);
  ASSERT_TRUE(conn);
  auto reply = conn->call({proto::RegisterQueued{"svc", "q", "v", 0}});
  ASSERT_TRUE(reply && reply->size() == 1);
  EXPECT_EQ(reply->front().status, proto::Status::invalid_argument);
  EXPECT_NE(reply->front().message.find("is not offered on registry 'svc'"), std::string::npos)
      << reply->front().message;
  EXPECT_TRUE(etcd_value(name_key("svc", "q")).empty());
  EXPECT_TRUE(a.holds("svc", "db"));
  // lookup --consistent: refused by name (not a local read passed off as a
  // cluster-wide one), and the CLI says so; on a host registry it answers.
  const RunResult consistent = a.cli({"lookup", "--consistent", "svc", "db"});
  EXPECT_NE(consistent.exit_code(), 0) << consistent.describe();
  EXPECT_NE(consistent.err.find("lookup --consistent is not offered on registry 'svc'"), std::string::npos)
      << consistent.describe();
  ASSERT_TRUE(owner.registers("local", "db", "v"));
  EXPECT_EQ(a.cli({"lookup", "--consistent", "local", "db"}).exit_code(), 0);
}

TEST_F(ClusterRegistrationTest, UnregisterMatchRemovesTheMatchingEntriesEtcdKeysFirst) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", R"({"role":"primary"})"));
  ASSERT_TRUE(owner.registers("dups", "w", R"({"n":1})"));
  ASSERT_TRUE(owner.registers("dups", "w", R"({"n":2})"));
  ASSERT_TRUE(owner.registers("dups", "w", R"({"n":3})"));
  const auto none = owner.ask({"unregister_match", "svc", "db", R"({"role":"replica"})", ""});
  ASSERT_TRUE(is_ok(none));
  EXPECT_FALSE(etcd_value(name_key("svc", "db")).empty());
  ASSERT_TRUE(is_ok(owner.ask({"unregister_match", "svc", "db", R"({"role":"primary"})", ""})));
  EXPECT_TRUE(etcd_value(name_key("svc", "db")).empty());
  EXPECT_FALSE(a.holds("svc", "db"));
  const auto two = owner.ask({"unregister_match", "dups", "w", R"({"n":"$1"})", R"([["<","$1",3]])"});
  ASSERT_TRUE(is_ok(two));
  EXPECT_EQ(two.at(1), "2");
  const std::string under = cluster_prefix() + "/dups/dups/" + to_hex("w") + "/";
  EXPECT_EQ(etcd_count(under), 1u);
  auto left = client().get_prefix(under, cluster::ReadMode::linearizable, cluster::deadline_in(5s));
  ASSERT_TRUE(left && left->kvs.size() == 1);
  EXPECT_EQ(nlohmann::json::parse(left->kvs.front().value).at("value"), "eyJuIjozfQ==");  // {"n":3}
}

// Every etcd member frozen: host registries' writes are answered while a
// cluster write waits for etcd (its answer has not come when they are done:
// an event loop that waited on etcd would answer them only after it), then
// the cluster write fails with cluster_unavailable, and works again once
// etcd is back.
TEST_F(ClusterRegistrationTest, HostRegistriesDoNotWaitForEtcdAndClusterWritesFailUntilItReturns) {
  HostBroker& a = start_host("host-a", "1900ms");
  ASSERT_FALSE(HasFatalFailure());
  Actor cluster_writer = actor_on(a);
  Actor local_writer = actor_on(a);
  ASSERT_TRUE(cluster_writer.registers("svc", "warmup", "v"));  // the lease exists
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().stop(i);
  ASSERT_TRUE(cluster_writer.send({"register", "svc", "db", "v"}));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(local_writer.registers("local", "k" + std::to_string(i), "v"));
  const auto early = cluster_writer.process().receive(0ms);
  EXPECT_FALSE(early.has_value()) << "the cluster write was answered before the host writes: " << *early;
  if (early) return;
  const auto refused = cluster_writer.answer();
  EXPECT_EQ(errc_of(refused), "cluster_unavailable");
  EXPECT_NE(message_of(refused).find("write_deadline"), std::string::npos) << message_of(refused);
  EXPECT_FALSE(a.holds("svc", "db")) << "nothing is written when etcd did not take it";
  for (std::size_t i = 0; i < etcd().size(); ++i) etcd().resume(i);
  ASSERT_TRUE(etcd().wait_healthy(20s));
  EXPECT_TRUE(wait_until([&] { return is_ok(cluster_writer.ask({"register", "svc", "db", "v"})); }, 20s));
  EXPECT_TRUE(a.holds("svc", "db"));
}

TEST_F(ClusterRegistrationTest, ABrokerKilledLosesItsNamesInEtcdWithinItsLease) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  ASSERT_TRUE(owner.registers("svc", "db", "v"));
  ASSERT_TRUE(owner.registers("dups", "w", "v"));
  a.process->kill_hard();
  const auto killed = std::chrono::steady_clock::now();
  // TTL plus a bound: etcd checks expiries every 500 ms and a leader may
  // extend a lease by its election timeout.
  const auto bound = std::chrono::seconds(kLeaseTtlSeconds) + 3s;
  EXPECT_TRUE(wait_until(
      [&] {
        return etcd_value(name_key("svc", "db")).empty() && etcd_count(cluster_prefix() + "/dups/") == 0 &&
               etcd_value(cluster_prefix() + "/hosts/host-a").empty();
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(bound)));
  std::cerr << "names gone "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count()
            << " ms after the broker's SIGKILL\n";
}

// etcd refuses a transaction of more than 128 operations (--max-txn-ops):
// the removals of an owner holding more names than that are split.
TEST_F(ClusterRegistrationTest, AnOwnerOfMoreNamesThanOneEtcdTransactionTakesLosesThemAllWhenItDies) {
  HostBroker& a = start_host("host-a");
  ASSERT_FALSE(HasFatalFailure());
  Actor owner = actor_on(a);
  constexpr int kNames = 150;
  for (int i = 0; i < kNames; ++i) ASSERT_TRUE(owner.registers("svc", "n" + std::to_string(i), "v")) << i;
  const std::string names = cluster_prefix() + "/names/svc/";
  ASSERT_EQ(etcd_count(names), std::size_t{kNames});
  Actor second = actor_on(a);
  ASSERT_TRUE(second.registers("svc", "after", "v"));
  owner.process().kill_and_wait();
  EXPECT_TRUE(wait_until([&] { return etcd_count(names) == 1; }, 10s))
      << etcd_count(names) << " names left in etcd after their owner died";
  second.process().kill_and_wait();
  EXPECT_TRUE(wait_until([&] { return etcd_count(names) == 0; }, 10s))
      << "a later death's removal waited behind the first";
}

}  // namespace
}  // namespace shmreg::test
