#include "etcd_cluster_test.hpp"

namespace shmreg::test {

namespace {

cluster::EtcdClient make_client(cluster::ClientOptions options) {
  auto client = cluster::EtcdClient::make(std::move(options));
  if (!client) throw std::runtime_error("etcd test client: " + client.error().message);
  return std::move(*client);
}

}  // namespace

cluster::ClientOptions etcd_client_options(std::vector<std::string> endpoints) {
  cluster::ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.attempt_timeout = std::chrono::milliseconds(500);
  return o;
}

std::string etcd_test_prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "/shmreg-test/" + std::string(info->test_suite_name()) + "/" + info->name() + "/";
}

void SharedEtcdClusterTest::SetUp() {
  if (EtcdCluster::find_etcd().empty()) GTEST_SKIP() << "etcd is not installed (Debian package etcd-server)";
  if (!cluster_ && start_error_.empty()) {
    auto started = EtcdCluster::start();
    if (started) {
      cluster_.emplace(std::move(*started));
    } else {
      start_error_ = started.error();
    }
  }
  ASSERT_TRUE(cluster_) << start_error_;
  prefix_ = etcd_test_prefix();
}

cluster::EtcdClient SharedEtcdClusterTest::client() const { return make_client(options()); }
cluster::EtcdClient SharedEtcdClusterTest::client_of(std::size_t member) const {
  return make_client(etcd_client_options({cluster_->client_url(member)}));
}

void OwnEtcdClusterTest::SetUp() {
  if (EtcdCluster::find_etcd().empty()) GTEST_SKIP() << "etcd is not installed (Debian package etcd-server)";
  auto started = EtcdCluster::start();
  ASSERT_TRUE(started) << started.error();
  cluster_.emplace(std::move(*started));
  prefix_ = etcd_test_prefix();
}

cluster::EtcdClient OwnEtcdClusterTest::client() const { return make_client(options()); }

}  // namespace shmreg::test
