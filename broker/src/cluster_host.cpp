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
// until the previous broker's lease expires. The entries are held under the
// previous broker's lease only until they are asserted under this one's;
// that lease ends at the latest lease_ttl after this start, so what has not
// been asserted by then is withdrawn (another host may hold it by then).
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
  pending_ = std::move(all);
  resume_deadline_.expires_after(link_->config().lease_ttl);
  resume_deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) withdraw_unasserted();
  });
  reassert_next();
}

// Whether the segment still holds e with its value: its owner may have
// unregistered it, died or lost it with the lease while its claim waited.
// True when the segment cannot be read (the lease bounds a key kept so).
bool ClusterHost::still_held(const ClusterEntry& e) {
  auto rdr = own_reader(ctx_);
  if (!rdr) return true;
  auto view = (*rdr)->registry(e.registry);
  if (!view) return false;
  auto entries = (*rdr)->values(*view, e.key, e.pid);
  if (!entries) return true;
  for (const shm::Entry& x : *entries)
    if (x.value == e.value && x.host.empty()) return true;
  return false;
}

// One claim at a time, from the back of pending_; what etcd could not take
// yet is tried again a second later. An entry gone from the segment
// meanwhile is not claimed, and a key created for one that went while its
// claim was in flight is deleted again: otherwise this broker's lease would
// hold a dead or withdrawn name for as long as the broker lives.
void ClusterHost::reassert_next() {
  while (!pending_.empty() && !still_held(pending_.back())) pending_.pop_back();
  if (pending_.empty()) {
    resume_deadline_.cancel();
    return;
  }
  const ClusterEntry e = pending_.back();
  link_->claim(e, [this, e](ClaimOutcome out) {
    if (out.kind == ClaimOutcome::Kind::unavailable) {
      retry_.expires_after(std::chrono::seconds(1));
      retry_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) reassert_next();
      });
      return;
    }
    if (!pending_.empty() && pending_.back().registry == e.registry && pending_.back().key == e.key &&
        pending_.back().pid == e.pid && pending_.back().value == e.value)
      pending_.pop_back();
    if (out.kind == ClaimOutcome::Kind::created && !still_held(e)) {
      ClusterEntry gone = e;
      gone.etcd_key = out.etcd_key;
      link_->release_later({gone});
      ctx_.log("cluster: registry '" + e.registry + "': pid " + std::to_string(e.pid) +
               " let its name go while it was asserted again; its key is deleted again");
    }
    if (out.kind == ClaimOutcome::Kind::taken) {
      auto id = ctx_.writer.find_registry(e.registry);
      if (id) (void)ctx_.writer.remove(*id, e.key, e.pid);
      ctx_.log("cluster: registry '" + e.registry + "': pid " + std::to_string(e.pid) +
               " lost its name to pid " + std::to_string(out.holder.pid) + " on host '" + out.holder.host +
               "' while this host's lease was gone; withdrawn");
    }
    reassert_next();
  });
}

void ClusterHost::withdraw_unasserted() {
  if (pending_.empty()) return;
  std::size_t n = 0;
  for (const ClusterEntry& e : pending_) {
    auto id = ctx_.writer.find_registry(e.registry);
    if (!id) continue;
    if (auto removed = ctx_.writer.remove(*id, e.key, e.pid); removed) n += *removed;
  }
  pending_.clear();
  retry_.cancel();
  ctx_.log("cluster: etcd did not take this host's names again within lease_ttl of the start; withdrew " +
           std::to_string(n) + " cluster entries of live owners (each an unregister event)");
}

}  // namespace shmreg::broker
