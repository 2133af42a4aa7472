// The etcd client over TLS, against a real etcd that serves https and asks
// for a client certificate: with the cluster's CA and a client certificate
// every call works; without the certificate, or trusting another CA, the
// call fails and says why.
#include <gtest/gtest.h>

#include "etcd_cluster.hpp"
#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/watch.hpp"
#include "test_certs.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EtcdCluster::find_etcd().empty()) GTEST_SKIP() << "etcd is not installed (Debian package etcd-server)";
    if (find_openssl().empty()) GTEST_SKIP() << "openssl is not installed (Debian package openssl)";
    auto certs = make_test_certs(dir_.path());
    ASSERT_TRUE(certs) << certs.error();
    certs_ = *certs;
    EtcdClusterOptions o;
    o.members = 1;
    o.tls = EtcdTlsFiles{certs_.ca_file, certs_.server_cert, certs_.server_key, true};
    auto started = EtcdCluster::start(o);
    ASSERT_TRUE(started) << started.error();
    cluster_.emplace(std::move(*started));
  }

  ClientOptions tls_options() const {
    auto o = etcd_client_options(cluster_->client_urls());
    o.tls = TlsFiles{certs_.ca_file, certs_.client_cert, certs_.client_key};
    return o;
  }

  TempDir dir_;
  TestCerts certs_;
  std::optional<EtcdCluster> cluster_;
};

TEST_F(TlsTest, WithTheClusterCaAndAClientCertificateEveryCallWorks) {
  ASSERT_TRUE(cluster_->client_url(0).starts_with("https://"));
  auto c = EtcdClient::make(tls_options());
  ASSERT_TRUE(c) << c.error().message;
  auto lease = c->lease_grant(30, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  auto created = c->create_if_absent("/tls/name", "node-a:1", lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->created);
  auto watch = Watch::open(tls_options(), "/tls/", created->header.revision, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  auto events = watch->next(deadline_in(kTimeout));
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kv.value, "node-a:1");
  auto refreshed = c->lease_keep_alive(lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  const auto status = c->status(deadline_in(kTimeout));
  ASSERT_EQ(status.endpoints.size(), 1u);
  EXPECT_TRUE(status.endpoints[0].healthy) << status.endpoints[0].error;
}

TEST_F(TlsTest, WithoutAClientCertificateTheCallFailsNamingTheEndpoint) {
  auto o = tls_options();
  o.tls.cert_file.clear();
  o.tls.key_file.clear();
  auto c = EtcdClient::make(o);
  ASSERT_TRUE(c) << c.error().message;
  auto r = c->get("/tls/name", ReadMode::linearizable, deadline_in(std::chrono::milliseconds(500)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::cluster_unavailable) << r.error().message;
  EXPECT_NE(r.error().message.find(cluster_->client_url(0)), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, AServerCertificateFromAnotherCaIsRefused) {
  auto o = tls_options();
  o.tls.ca_file = certs_.other_ca_file;
  auto c = EtcdClient::make(o);
  ASSERT_TRUE(c) << c.error().message;
  auto r = c->get("/tls/name", ReadMode::linearizable, deadline_in(std::chrono::milliseconds(500)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::cluster_unavailable) << r.error().message;
  EXPECT_NE(r.error().message.find("tls handshake"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, PlainHttpToATlsPortIsNotTakenForAnAnswer) {
  auto o = tls_options();
  o.endpoints = {"http://" + cluster_->client_url(0).substr(std::string("https://").size())};
  auto c = EtcdClient::make(o);
  ASSERT_TRUE(c) << c.error().message;
  auto r = c->get("/tls/name", ReadMode::linearizable, deadline_in(std::chrono::milliseconds(500)));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(o.endpoints[0]), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace shmreg::test
