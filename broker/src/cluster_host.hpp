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
//     every second until etcd answers.
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
  ClusterHost(boost::asio::io_context& io, OpContext& ctx) : io_(io), ctx_(ctx), retry_(io) {}
  void on_lease_lost();
  void reassert(std::vector<ClusterEntry> entries);

  boost::asio::io_context& io_;
  OpContext& ctx_;
  boost::asio::steady_timer retry_;
  std::unique_ptr<ClusterLink> link_;
};

}  // namespace shmreg::broker
