// The registration family on scope = "cluster" registries (docs/cluster.md):
// etcd first, then the segment, the request parked meanwhile.
//
// A request frame holding an op that writes a cluster registry holds that
// op alone (touches_cluster says which ops do); the op table refuses a frame
// that mixes it with others, so that a frame stays all-or-nothing without a
// distributed rollback. start_cluster_op checks everything the broker can
// check alone, then asks the cluster link (cluster_link.hpp) and returns;
// the op's result comes later, on the loop, through finish:
//   - register, register_on_behalf: the etcd key is created (a unique name:
//     only if absent), then the entry inserted; a name another host or
//     process holds is already_registered naming its host and pid; etcd not
//     answering within [cluster] write_deadline is cluster_unavailable and
//     nothing is written. A key this call created whose insert then fails
//     is deleted again.
//   - unregister, unregister_all, unregister_match: the etcd keys are deleted
//     first (only if they still hold what this host wrote), then the entries.
//   - get_cluster_status: etcd's members, leader and endpoints' health, this
//     host's lease and the hosts with a live P/hosts/ key, as JSON.
//   - register_queued, update_value, set_static and
//     unset_static on a cluster registry are refused (invalid_argument).
//
// Owner death is not an op: cluster_entries_of() gives the link what to
// delete when a pid is reaped (broker.cpp wires it).
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "cluster_link.hpp"
#include "ops.hpp"

namespace shmreg::broker {

using Finish = std::function<void(proto::OpResult)>;

// Whether op writes a cluster registry: a register, unregister or refused op
// naming one, or an unregister_all of a caller holding cluster entries.
[[nodiscard]] bool touches_cluster(OpContext& ctx, const Caller& caller, const proto::Op& op);

// Runs op (for which touches_cluster holds, authorized already): its result
// now, or nullopt and finish gets it later, once, on the loop.
[[nodiscard]] std::optional<proto::OpResult> start_cluster_op(OpContext& ctx, Request& req, const proto::Op& op,
                                                              Finish finish);

// The entries pid holds in cluster registries, as the link writes them
// (empty when the broker has no link): one per key, enough to release them
// (a duplicate registry's keys of pid under a key go as one range), or with
// every_value one per entry, to write them again.
[[nodiscard]] std::vector<ClusterEntry> cluster_entries_of(OpContext& ctx, std::uint32_t pid,
                                                           bool every_value = false);

// Removes from the segment every entry of a cluster registry whose owner is
// a process the broker watches (this host's owners), each with an
// unregister event: the lease they were held under is gone. Returns how many.
std::size_t withdraw_local_cluster_entries(OpContext& ctx);

}  // namespace shmreg::broker
