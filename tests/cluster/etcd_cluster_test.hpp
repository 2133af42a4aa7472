// GoogleTest fixtures over EtcdCluster (etcd_cluster.hpp).
//
// - SharedEtcdClusterTest: one three-member cluster for the whole suite,
//   started by the suite's first test; for tests that do not break it. Each
//   test works under a key prefix of its own (prefix()), its namespace.
// - OwnEtcdClusterTest: a cluster per test, for the tests that kill, stop
//   or restart members.
//
// Both skip (GTEST_SKIP, with the reason) when etcd is not installed, and
// fail when it is installed but the cluster does not come up.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "etcd_cluster.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace shmreg::test {

// Client options for the given endpoints, with an attempt timeout short
// enough for a test to fail over from a stopped member quickly.
cluster::ClientOptions etcd_client_options(std::vector<std::string> endpoints);

// "/shmreg-test/<suite>/<test>/": the running test's own key prefix.
std::string etcd_test_prefix();

class SharedEtcdClusterTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override;

  EtcdCluster& etcd() { return *cluster_; }
  const std::string& prefix() const { return prefix_; }
  cluster::ClientOptions options() const { return etcd_client_options(cluster_->client_urls()); }
  // A client of every member, or of member i alone.
  cluster::EtcdClient client() const;
  cluster::EtcdClient client_of(std::size_t member) const;

 private:
  static inline std::optional<EtcdCluster> cluster_;
  static inline std::string start_error_;
  std::string prefix_;
};

class OwnEtcdClusterTest : public ::testing::Test {
 protected:
  void SetUp() override;

  EtcdCluster& etcd() { return *cluster_; }
  const std::string& prefix() const { return prefix_; }
  cluster::ClientOptions options() const { return etcd_client_options(cluster_->client_urls()); }
  cluster::EtcdClient client() const;

 private:
  std::optional<EtcdCluster> cluster_;
  std::string prefix_;
};

}  // namespace shmreg::test
