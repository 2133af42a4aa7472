// This host's part in the cluster (docs/cluster.md), when the configuration
// has [cluster]: the link to etcd (cluster_link.hpp) and what the broker does
// around it besides the ops (ops_cluster.hpp):
//   - owner death: a reaped pid's cluster entries leave the segment at once
//     and their etcd keys are deleted through the link's retry queue (the
//     owner is dead: its names must not wait for etcd locally; remote hosts
//     see them until the deletion lands, at most until the lease expires);
//   - lease lost: every cluster entry of this host's owners is withdrawn
//     from the segment (an unregister event each, which tells the owners);
//   - start: the cluster entries of owners still alive from the previous
//     broker are asserted again under the new lease (create-if-absent; a
//     name another host took meanwhile is withdrawn, with its event), retried
//     every second while etcd does not answer, and withdrawn (each with its
//     event) if etcd has not taken them within lease_ttl of the start, when
//     the previous broker's lease may have ended; an entry whose owner let
//     it go meanwhile is not asserted (or its new key is deleted again).
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "cluster_link.hpp"
#include "ops.hpp"

namespace shmreg::broker {

class ClusterHost {
 public:
  // Starts the link, sets ctx.cluster and the reap hook of ctx.owners.
  // REQUIRES: ctx.config.settings.cluster; io and ctx outlive this object.
  static std::expected<std::unique_ptr<ClusterHost>, std::string> start(boost::asio::io_context& io, OpContext& ctx);
  ~ClusterHost();

  // After the owners are reconciled: re-asserts the names of live owners.
  void resume();

  [[nodiscard]] ClusterLink& link() noexcept { return *link_; }

 private:
  ClusterHost(boost::asio::io_context& io, OpContext& ctx)
      : io_(io), ctx_(ctx), retry_(io), resume_deadline_(io) {}
  void on_lease_lost();
  void reassert_next();
  void withdraw_unasserted();
  [[nodiscard]] bool still_held(const ClusterEntry& e);

  boost::asio::io_context& io_;
  OpContext& ctx_;
  boost::asio::steady_timer retry_;
  // resume(): the live owners' entries still to assert under this broker's
  // lease (claimed from the back), and when they are withdrawn if etcd has
  // not taken them.
  std::vector<ClusterEntry> pending_;
  boost::asio::steady_timer resume_deadline_;
  std::unique_ptr<ClusterLink> link_;
};

}  // namespace shmreg::broker
