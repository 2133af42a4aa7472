#include "cluster_broker_test.hpp"

#include <fstream>

namespace shmreg::test {

RunResult HostBroker::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {cli_binary(), "--namespace", ns, "--socket", socket};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

bool HostBroker::holds(const std::string& registry, const std::string& key) const {
  return cli({"lookup", registry, key}).exit_code() == 0;
}

void ClusterBrokerTest::TearDown() {
  for (auto& h : hosts_) {
    if (HasFailure() && h->process) std::cerr << "--- broker of host " << h->host << ":\n" << h->process->log();
    if (h->process && h->process->running()) h->process->kill_hard();
    remove_namespace_files(h->dir.path(), h->ns);
  }
  hosts_.clear();
}

std::string ClusterBrokerTest::cluster_prefix() const {
  std::string p = prefix();
  while (p.ends_with('/')) p.pop_back();
  return p;
}

std::string ClusterBrokerTest::config_text(const std::string& host, const std::string& write_deadline) const {
  std::string endpoints;
  for (const std::string& url : const_cast<ClusterBrokerTest*>(this)->etcd().client_urls())
    endpoints += (endpoints.empty() ? "\"" : ", \"") + url + "\"";
  return "[cluster]\nendpoints = [" + endpoints + "]\nhost = \"" + host + "\"\nprefix = \"" + cluster_prefix() +
         "\"\nlease_ttl = \"" + std::to_string(kLeaseTtlSeconds) +
         "s\"\nwrite_deadline = \"" + write_deadline + "\"\nattempt_timeout = \"300ms\"\n\n"
         "[access]\nreload = [\"*\"]\n\n"
         "[[registry]]\nname = \"svc\"\nscope = \"cluster\"\n\n"
         "[[registry]]\nname = \"dups\"\nkeys = \"duplicate\"\nscope = \"cluster\"\n\n"
         "[[registry]]\nname = \"local\"\n";
}

HostBroker& ClusterBrokerTest::start_host(const std::string& host, const std::string& write_deadline) {
  auto h = std::make_unique<HostBroker>();
  h->host = host;
  h->ns = unique_namespace();
  h->socket = h->dir.path() + "/broker.sock";
  h->config = h->dir.path() + "/broker.toml";
  std::ofstream(h->config) << config_text(host, write_deadline);
  h->process.emplace(h->ns, h->socket, h->dir.path() + "/broker.log");
  auto started = h->process->start({"--config", h->config, "--segment-size", "16M"});
  EXPECT_TRUE(started.has_value()) << (started ? "" : started.error());
  hosts_.push_back(std::move(h));
  return *hosts_.back();
}

std::string ClusterBrokerTest::name_key(const std::string& registry, const std::string& key) const {
  return cluster_prefix() + "/names/" + registry + "/" + to_hex(key);
}

std::string ClusterBrokerTest::etcd_value(const std::string& key) {
  auto r = client().get(key, cluster::ReadMode::linearizable, cluster::deadline_in(std::chrono::seconds(5)));
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return {};
  }
  return r->kvs.empty() ? std::string() : r->kvs.front().value;
}

std::size_t ClusterBrokerTest::etcd_count(const std::string& key_prefix) {
  auto r = client().get_prefix(key_prefix, cluster::ReadMode::linearizable, cluster::deadline_in(std::chrono::seconds(5)));
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return 0;
  }
  return r->kvs.size();
}

}  // namespace shmreg::test
