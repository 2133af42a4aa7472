// [cluster] and scope = "cluster" in parse_settings: every key read, the
// defaults, and each rule broken with the key and the rule named.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config_file.hpp"

namespace shmreg::broker {
namespace {

std::vector<ConfigProblem> problems_of(const std::string& text) {
  auto s = parse_settings(text, "test.toml");
  EXPECT_FALSE(s.has_value()) << "the text parsed:\n" << text;
  return s ? std::vector<ConfigProblem>{} : s.error();
}

// The one problem of text: its key, and a part of its reason.
void expect_problem(const std::string& text, const std::string& key, const std::string& reason_part) {
  const auto problems = problems_of(text);
  ASSERT_EQ(problems.size(), 1u) << text << (problems.empty() ? "" : problems[0].text());
  EXPECT_EQ(problems[0].key, key) << problems[0].text();
  EXPECT_NE(problems[0].reason.find(reason_part), std::string::npos) << problems[0].text();
}

// A directory of the test's files, removed with them at the end.
struct FileDir {
  std::string path;
  FileDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "shmreg-config-cluster-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path = pattern;
  }
  ~FileDir() { std::filesystem::remove_all(path); }
};

// A file in dir, with mode.
std::string temp_file(const FileDir& dir, const std::string& name, mode_t mode) {
  const std::string path = dir.path + "/" + name;
  std::ofstream(path) << "-----BEGIN PRIVATE KEY-----\n";
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

constexpr const char* kMinimal = "[cluster]\nendpoints = [\"http://127.0.0.1:2379\"]\nhost = \"node-a\"\n";

TEST(ConfigCluster, EveryClusterKeyIsRead) {
  auto s = parse_settings(R"(
[cluster]
endpoints = ["http://127.0.0.1:2379", "https://10.0.0.2:22379"]
host = "node-a"
prefix = "/shmreg/prod"
lease_ttl = "7s"
write_deadline = "1500ms"
attempt_timeout = 300

[[registry]]
name = "services"
scope = "cluster"

[[registry]]
name = "local"
)",
                          "test.toml");
  ASSERT_TRUE(s.has_value()) << s.error()[0].text();
  ASSERT_TRUE(s->cluster.has_value());
  const ClusterSection& c = *s->cluster;
  EXPECT_EQ(c.endpoints, (std::vector<std::string>{"http://127.0.0.1:2379", "https://10.0.0.2:22379"}));
  EXPECT_EQ(c.host, "node-a");
  EXPECT_EQ(c.prefix, "/shmreg/prod");
  EXPECT_EQ(c.lease_ttl, std::chrono::seconds(7));
  EXPECT_EQ(c.write_deadline, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.attempt_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(s->registries[0].scope, RegistryScope::cluster);
  EXPECT_EQ(s->registries[1].scope, RegistryScope::host);
  EXPECT_TRUE(s->cluster_scoped("services"));
  EXPECT_FALSE(s->cluster_scoped("local"));
}

TEST(ConfigCluster, DefaultsAreThePrefixShmregAndAFiveSecondLease) {
  auto s = parse_settings(kMinimal, "test.toml");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->cluster->prefix, "/shmreg");
  EXPECT_EQ(s->cluster->lease_ttl, std::chrono::seconds(5));
  EXPECT_EQ(s->cluster->write_deadline, std::chrono::milliseconds(2000));
  EXPECT_FALSE(parse_settings("", "test.toml")->cluster.has_value());
}

TEST(ConfigCluster, TheHostDefaultsToTheMachineId) {
  std::ifstream id("/etc/machine-id");
  std::string text;
  if (!id || !std::getline(id, text) || text.empty()) GTEST_SKIP() << "no /etc/machine-id on this machine";
  auto s = parse_settings("[cluster]\nendpoints = [\"http://127.0.0.1:2379\"]\n", "test.toml");
  ASSERT_TRUE(s.has_value()) << s.error()[0].text();
  EXPECT_EQ(s->cluster->host, text);
}

TEST(ConfigCluster, AClusterRegistryWithoutClusterIsRefused) {
  expect_problem("[[registry]]\nname = \"svc\"\nscope = \"cluster\"\n", "registry[0].scope", "no [cluster] table");
}

TEST(ConfigCluster, AScopeIsHostOrCluster) {
  expect_problem("[[registry]]\nname = \"svc\"\nscope = \"planet\"\n", "registry[0].scope",
                 "neither \"host\" nor \"cluster\"");
}

TEST(ConfigCluster, AClusterRegistryHasNoStaticEntries) {
  expect_problem(std::string(kMinimal) +
                     "[[registry]]\nname = \"svc\"\nscope = \"cluster\"\n[[registry.static]]\nkey = \"k\"\nvalue = "
                     "\"v\"\n",
                 "registry[0].scope", "static entries");
}

TEST(ConfigCluster, EachRuleOfClusterIsNamed) {
  expect_problem("[cluster]\nhost = \"a\"\n", "cluster.endpoints", "needs endpoints");
  expect_problem("[cluster]\nendpoints = []\nhost = \"a\"\n", "cluster.endpoints", "non-empty array");
  expect_problem("[cluster]\nendpoints = [\"127.0.0.1:2379\"]\nhost = \"a\"\n", "cluster.endpoints[0]",
                 "is not \"http://host:port\"");
  expect_problem("[cluster]\nendpoints = [\"http://h:2379/v3\"]\nhost = \"a\"\n", "cluster.endpoints[0]",
                 "is not \"http://host:port\"");
  expect_problem(std::string(kMinimal) + "prefix = \"shmreg\"\n", "cluster.prefix", "starts with '/'");
  expect_problem(std::string(kMinimal) + "prefix = \"/shmreg/\"\n", "cluster.prefix", "no trailing '/'");
  expect_problem(std::string(kMinimal) + "prefix = \"/a//b\"\n", "cluster.prefix", "no \"//\"");
  expect_problem(std::string(kMinimal) + "lease_ttl = \"1500ms\"\n", "cluster.lease_ttl", "whole seconds");
  expect_problem(std::string(kMinimal) + "lease_ttl = \"0s\"\n", "cluster.lease_ttl", "out of range");
  expect_problem(std::string(kMinimal) + "colour = 1\n", "cluster.colour", "unknown");
  expect_problem(std::string(kMinimal) + "lease_ttl = \"2s\"\nwrite_deadline = \"2s\"\n", "cluster.write_deadline",
                 "is not below lease_ttl");
  expect_problem("[cluster]\nendpoints = [\"http://h:1\"]\nhost = \"node a\"\n", "cluster.host",
                 "is not a host name");
  expect_problem("[cluster]\nendpoints = [\"http://h:1\"]\nhost = \"" + std::string(64, 'x') + "\"\n", "cluster.host",
                 "1..63 bytes");
}

TEST(ConfigCluster, AKeyFileReadableByOthersIsRefused) {
  const FileDir dir;
  const std::string key = temp_file(dir, "client.key", 0644);
  const std::string cert = temp_file(dir, "client.crt", 0644);
  const std::string tls = "cert_file = \"" + cert + "\"\nkey_file = \"" + key + "\"\n";
  expect_problem(std::string(kMinimal) + tls, "cluster.key_file", "readable by the broker's user only");
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  expect_problem(std::string(kMinimal) + tls, "cluster.key_file", "mode 0640");
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  auto s = parse_settings(std::string(kMinimal) + tls, "test.toml");
  ASSERT_TRUE(s.has_value()) << s.error()[0].text();
  EXPECT_EQ(s->cluster->key_file, key);
}

TEST(ConfigCluster, ACertificateWritableByOthersOrOwnedByAnotherUserIsRefused) {
  const FileDir dir;
  const std::string ca = temp_file(dir, "ca.pem", 0664);
  expect_problem(std::string(kMinimal) + "ca_file = \"" + ca + "\"\n", "cluster.ca_file",
                 "must not be writable by group or others");
  ASSERT_EQ(::chmod(ca.c_str(), 0644), 0);
  ASSERT_TRUE(parse_settings(std::string(kMinimal) + "ca_file = \"" + ca + "\"\n", "test.toml").has_value());
  if (::geteuid() != 0) GTEST_SKIP() << "giving the file to another uid needs root";
  ASSERT_EQ(::chown(ca.c_str(), 65534, 65534), 0);
  expect_problem(std::string(kMinimal) + "ca_file = \"" + ca + "\"\n", "cluster.ca_file", "belongs to uid 65534");
}

TEST(ConfigCluster, TlsFilesMustBeReadableAndGoTogether) {
  expect_problem(std::string(kMinimal) + "ca_file = \"/nonexistent/ca.pem\"\n", "cluster.ca_file", "cannot read");
  const FileDir dir;
  const std::string key = temp_file(dir, "client.key", 0600);
  expect_problem(std::string(kMinimal) + "key_file = \"" + key + "\"\n", "cluster", "go together");
}

}  // namespace
}  // namespace shmreg::broker
