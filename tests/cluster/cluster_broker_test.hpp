// Fixtures for the cluster registries of real brokers (docs/cluster.md):
// a three-member etcd cluster per test (OwnEtcdClusterTest) and brokers on
// namespaces and sockets of their own, each with a distinct [cluster] host
// standing in for a host.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actor.hpp"
#include "broker_process.hpp"
#include "child_process.hpp"
#include "etcd_cluster_test.hpp"

namespace shmreg::test {

// One broker standing for one host.
struct HostBroker {
  std::string host;
  std::string ns;
  TempDir dir;
  std::string socket;
  std::string config;
  std::optional<BrokerProcess> process;

  // `shmreg --namespace ns --socket socket args...`
  RunResult cli(const std::vector<std::string>& args) const;
  // Whether this host's segment holds key in registry (shmreg lookup).
  bool holds(const std::string& registry, const std::string& key) const;
};

class ClusterBrokerTest : public OwnEtcdClusterTest {
 protected:
  static constexpr int kLeaseTtlSeconds = 2;

  void TearDown() override;

  // The [cluster] prefix of this test (no trailing '/').
  std::string cluster_prefix() const;
  // The configuration file of a broker for host: [cluster] on this test's
  // etcd, registries "svc" (unique, cluster), "dups" (duplicate, cluster)
  // and "local" (unique, host).
  std::string config_text(const std::string& host, const std::string& write_deadline = "1500ms") const;
  // Starts a broker for host (with config_text); a failure is a test failure.
  HostBroker& start_host(const std::string& host, const std::string& write_deadline = "1500ms");
  Actor actor_on(const HostBroker& b) { return Actor::start(b.ns, b.socket); }

  // The etcd key of a unique cluster name, and its holder's JSON (empty: none).
  std::string name_key(const std::string& registry, const std::string& key) const;
  std::string etcd_value(const std::string& key);
  std::size_t etcd_count(const std::string& key_prefix);

 private:
  std::vector<std::unique_ptr<HostBroker>> hosts_;
};

}  // namespace shmreg::test
