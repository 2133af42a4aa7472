// The cluster family of the CLI (docs/cluster.md, "shmreg cluster"): the
// broker's view of its etcd cluster, which the broker asks of etcd for the
// CLI (op get_cluster_status), so that the CLI needs neither the broker's
// configuration nor its etcd credentials.
//   cluster status    this host and prefix, its lease (id, TTL, seconds
//                     left), the etcd leader, each endpoint's health, the
//                     members; --json: the broker's JSON object unchanged
//   cluster members   HOST<TAB>LEASE<TAB>BROKER_PID per host with a live
//                     P/hosts/ key (its lease alive); --json: {"prefix", "hosts"}
// Both exit 2 with invalid_argument from a broker without [cluster].
#include <iostream>

#include "commands.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;
using namespace cli;

struct ClusterArgs {
  std::string what;
};

std::string text_of(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

void print_status(const json& j) {
  std::cout << "host\t" << text_of(j, "host") << "\nprefix\t" << text_of(j, "prefix") << "\n";
  const json& lease = j.at("lease");
  if (lease.is_null())
    std::cout << "lease\tnone (" << text_of(j, "last_error") << ")\n";
  else
    std::cout << "lease\t" << text_of(lease, "id") << " (TTL " << text_of(lease, "granted_ttl_s") << " s, "
              << text_of(lease, "remaining_s") << " s left)\n";
  std::cout << "leader\t" << text_of(j, "leader") << "\n";
  for (const json& e : j.at("endpoints")) {
    std::cout << "endpoint\t" << text_of(e, "endpoint") << "\t";
    if (e.value("healthy", false))
      std::cout << "healthy\tmember " << text_of(e, "member_id") << "\tleader " << text_of(e, "leader_id")
                << "\tetcd " << text_of(e, "version") << "\n";
    else
      std::cout << "unhealthy\t" << text_of(e, "error") << "\n";
  }
  for (const json& m : j.at("members")) std::cout << "member\t" << text_of(m, "id") << "\t" << text_of(m, "name") << "\n";
  std::cout << "pending removals\t" << text_of(j, "pending_removals") << "\nleases lost\t" << text_of(j, "leases_lost")
            << "\n";
}

int run_cluster(const Globals& g, const ClusterArgs& a) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto s = c->cluster_status();
  if (!s) return report_error(g, s.error());
  const json j = json::parse(*s, nullptr, false);
  if (!j.is_object()) return usage_error("the broker's cluster status is not a JSON object");
  try {
    if (a.what == "status") {
      if (g.json) std::cout << *s << "\n";
      else print_status(j);
      return kExitOk;
    }
    if (g.json) {
      std::cout << json{{"prefix", j.at("prefix")}, {"hosts", j.at("hosts")}}.dump() << "\n";
      return kExitOk;
    }
    for (const json& h : j.at("hosts"))
      std::cout << text_of(h, "host") << "\t" << text_of(h, "lease") << "\t" << text_of(h, "broker_pid") << "\n";
    if (j.contains("hosts_error")) std::cerr << "shmreg: hosts not read: " << text_of(j, "hosts_error") << "\n";
    return j.contains("hosts_error") ? kExitError : kExitOk;
  } catch (const json::exception& e) {
    return usage_error(std::string("the broker's cluster status is not what this CLI reads: ") + e.what());
  }
}

}  // namespace

void add_cluster_commands(CommandTable& table) {
  auto added = table.add<ClusterArgs>(
      "cluster",
      "the broker's etcd cluster (scope = \"cluster\" registries): 'status' (this host, its lease, the leader, each "
      "endpoint's health) or 'members' (hosts with a live lease)",
      run_cluster);
  added.cmd->add_option("what", added.args.what, "status or members")
      ->required()
      ->check(CLI::IsMember({"status", "members"}));
}

}  // namespace shmreg::tools
