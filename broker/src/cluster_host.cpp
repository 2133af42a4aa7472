// This host's part in the cluster (see cluster_host.hpp).
#include "cluster_host.hpp"

#include <memory>

#include "ops_cluster.hpp"

namespace shmreg::broker {

std::expected<std::unique_ptr<ClusterHost>, std::string> ClusterHost::start(boost::asio::io_context& io,
                                                                            OpContext& ctx) {
  std::unique_ptr<ClusterHost> host(new ClusterHost(io, ctx));
  ClusterHost* raw = host.get();
  auto link = ClusterLink::start(io, *ctx.config.settings.cluster, ctx.log, [raw] { raw->on_lease_lost(); });
  if (!link) return std::unexpected(link.error());
  host->link_ = std::move(*link);
  ctx.cluster = host->link_.get();
  ctx.owners.before_reap([raw](pid_t pid) {
    auto entries = cluster_entries_of(raw->ctx_, static_cast<std::uint32_t>(pid));
    if (!entries.empty()) raw->link_->release_later(std::move(entries));
  });
  ctx.log("cluster: host '" + ctx.config.settings.cluster->host + "', prefix " + ctx.config.settings.cluster->prefix +
          ", " + std::to_string(ctx.config.settings.cluster->endpoints.size()) + " etcd endpoints");
  return host;
}

ClusterHost::~ClusterHost() {
  ctx_.owners.before_reap({});
  ctx_.cluster = nullptr;
  link_.reset();  // joins the worker before the rest goes
}

void ClusterHost::on_lease_lost() {
  const std::size_t n = withdraw_local_cluster_entries(ctx_);
  ctx_.log("cluster: lease lost; withdrew " + std::to_string(n) +
           " cluster entries of this host's owners (each an unregister event)");
}

// A duplicate registry's old keys of these owners go first (the link runs
// its calls in order), so that a remote host does not count an entry twice
// until the previous broker's lease expires.
void ClusterHost::resume() {
  std::vector<ClusterEntry> all, old_dups;
  for (const shm::OwnerRecord& o : ctx_.writer.owners()) {
    auto mine = cluster_entries_of(ctx_, o.identity.pid, true);
    for (const ClusterEntry& e : mine)
      if (e.duplicate) old_dups.push_back(e);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  if (all.empty()) return;
  ctx_.log("cluster: asserting " + std::to_string(all.size()) + " cluster entries of live owners again");
  if (!old_dups.empty()) link_->release(std::move(old_dups), [](ReleaseOutcome) {});
  reassert(std::move(all));
}

// One claim at a time; what etcd could not take yet is tried again a second later.
void ClusterHost::reassert(std::vector<ClusterEntry> entries) {
  if (entries.empty()) return;
  ClusterEntry e = entries.back();
  entries.pop_back();
  link_->claim(e, [this, e, rest = std::move(entries)](ClaimOutcome out) mutable {
    if (out.kind == ClaimOutcome::Kind::unavailable) {
      rest.push_back(e);
      retry_.expires_after(std::chrono::seconds(1));
      retry_.async_wait([this, rest = std::move(rest)](const boost::system::error_code& ec) mutable {
        if (!ec) reassert(std::move(rest));
      });
      return;
    }
    if (out.kind == ClaimOutcome::Kind::taken) {
      auto id = ctx_.writer.find_registry(e.registry);
      if (id) (void)ctx_.writer.remove(*id, e.key, e.pid);
      ctx_.log("cluster: registry '" + e.registry + "': pid " + std::to_string(e.pid) +
               " lost its name to pid " + std::to_string(out.holder.pid) + " on host '" + out.holder.host +
               "' while this host's lease was gone; withdrawn");
    }
    reassert(std::move(rest));
  });
}

}  // namespace shmreg::broker
