#include "cluster_status.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cluster_keys.hpp"

namespace shmreg::broker {

namespace {

using nlohmann::json;

std::string id_hex(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

json endpoints_of(const cluster::ClusterStatus& cs) {
  json out = json::array();
  for (const cluster::EndpointStatus& e : cs.endpoints) {
    json j = {{"endpoint", e.endpoint}, {"healthy", e.healthy}};
    if (e.healthy) {
      j["member_id"] = id_hex(e.member_id);
      j["leader_id"] = id_hex(e.leader_id);
      j["version"] = e.version;
    } else {
      j["error"] = e.error;
    }
    out.push_back(std::move(j));
  }
  return out;
}

json members_of(const cluster::ClusterStatus& cs) {
  json out = json::array();
  for (const cluster::Member& m : cs.members)
    out.push_back({{"id", id_hex(m.id)}, {"name", m.name}, {"client_urls", m.client_urls}});
  return out;
}

}  // namespace

std::string describe_cluster(cluster::EtcdClient& client, const ClusterSection& config, cluster::LeaseId lease,
                             const LinkStatus& link, cluster::Deadline deadline) {
  const cluster::ClusterStatus cs = client.status(deadline);
  json j = {{"host", config.host},
            {"prefix", config.prefix},
            {"endpoints", endpoints_of(cs)},
            {"leader", cs.leader_id == 0 ? json(nullptr) : json(id_hex(cs.leader_id))},
            {"members", members_of(cs)},
            {"lease", nullptr},
            {"pending_removals", link.pending_removals},
            {"leases_lost", link.leases_lost},
            {"last_error", link.last_error}};
  if (lease != 0) {
    json l = {{"id", std::to_string(lease)},
              {"granted_ttl_s", link.lease_ttl_s},
              {"ms_since_refresh", link.ms_since_refresh < 0 ? json(nullptr) : json(link.ms_since_refresh)}};
    if (auto ttl = client.lease_time_to_live(lease, deadline)) l["remaining_s"] = ttl->ttl_seconds;
    else l["remaining_s"] = nullptr;
    j["lease"] = std::move(l);
  }
  json hosts = json::array();
  if (auto r = client.get_prefix(hosts_prefix(config.prefix), cluster::ReadMode::linearizable, deadline)) {
    for (const cluster::KeyValue& kv : r->kvs) {
      const json h = json::parse(kv.value, nullptr, false);
      if (h.is_object()) hosts.push_back(h);
    }
  } else {
    j["hosts_error"] = r.error().message;
  }
  j["hosts"] = std::move(hosts);
  return j.dump();
}

}  // namespace shmreg::broker
