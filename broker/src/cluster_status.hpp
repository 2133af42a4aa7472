// What `shmreg cluster status` and `shmreg cluster members` show
// (docs/cluster.md, "shmreg cluster"): the broker's view of its etcd cluster
// as one JSON object, asked of etcd on the cluster link's worker thread.
//
// Thread-safety: runs on the link's worker (it uses the link's client).
#pragma once

#include <string>

#include "cluster_link.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace shmreg::broker {

// {"host", "prefix", "endpoints": [{"endpoint", "healthy", "error", "member_id",
//  "leader_id", "version"}], "leader", "members": [{"id", "name", "client_urls"}],
//  "lease": {"id", "granted_ttl_s", "ms_since_refresh", "remaining_s"} or null, "pending_removals",
//  "leases_lost", "last_error", "hosts": [{"host", "lease", "broker_pid",
//  "started_ns"}], "hosts_error"}. Ids as etcd prints them (hex strings), the
// lease id as a decimal string.
[[nodiscard]] std::string describe_cluster(cluster::EtcdClient& client, const ClusterSection& config,
                                           cluster::LeaseId lease, const LinkStatus& link, cluster::Deadline deadline);

}  // namespace shmreg::broker
