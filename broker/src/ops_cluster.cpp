// The registration family on cluster registries (see ops_cluster.hpp).
#include "ops_cluster.hpp"

#include <fcntl.h>

#include <algorithm>
#include <memory>
#include <set>
#include <type_traits>
#include <variant>

#include "policy.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

bool cluster_scoped(const OpContext& ctx, const std::string& registry) {
  return ctx.cluster != nullptr && ctx.config.settings.cluster_scoped(registry);
}

std::uint32_t uid_of(const OpContext& ctx, std::uint32_t pid) {
  for (const shm::OwnerRecord& o : ctx.writer.owners())
    if (o.identity.pid == pid) return o.identity.uid;
  return 0;
}

std::string deadline_text(const OpContext& ctx) {
  return std::to_string(ctx.cluster->config().write_deadline.count()) + " ms ([cluster] write_deadline)";
}

proto::OpResult unavailable(const OpContext& ctx, const char* nothing_done, const std::string& why) {
  return refusal(proto::Status::cluster_unavailable,
                 "etcd did not take the write within " + deadline_text(ctx) + "; " + nothing_done + ": " + why);
}

proto::OpResult not_on_cluster(const char* what, const std::string& registry) {
  return refusal(proto::Status::invalid_argument,
                 std::string(what) + " is not offered on registry '" + registry +
                     "', which has scope = \"cluster\" (docs/cluster.md, \"What cluster registries do not offer\")");
}

// The owner's pidfd, kept while the request waits for etcd (the frame's
// descriptors are closed once the op table returns).
std::shared_ptr<sys::UniqueFd> keep_pidfd(const Owner& owner) {
  return std::make_shared<sys::UniqueFd>(::fcntl(owner.pidfd, F_DUPFD_CLOEXEC, 0));
}

// A name held by a process of this host that is dead, its exit not handled
// yet (a service restarted at once), is the dead's no more, as on a host
// registry: the holder is reaped (its key's deletion queued, and the link
// runs it before the next claim), and the claim is made once more.
bool reaped_dead_holder(OpContext& ctx, const ClaimOutcome& out) {
  if (out.holder.host != ctx.cluster->config().host || out.holder.pid == 0) return false;
  const auto pid = static_cast<pid_t>(out.holder.pid);
  if (ctx.owners.liveness(pid) != OwnerWatches::Liveness::dead) return false;
  return ctx.owners.reap(pid, "holder of a cluster name found dead by a new registration");
}

proto::OpResult taken_refusal(const ClaimOutcome& out) {
  proto::OpResult res = refusal(proto::Status::already_registered, "already registered by PID " +
                                                                       std::to_string(out.holder.pid) + " on host '" +
                                                                       out.holder.host + "'");
  res.value = out.holder.pid;
  return res;
}

// etcd has just given this host a unique name, so another host's entry that
// the segment still shows for it is the mirror's copy of a key etcd has
// already deleted (the deletion is on its way through the watch): it goes
// now, and the insert is tried again. True when one went.
bool dropped_stale_remote_holder(OpContext& ctx, const ClusterEntry& entry, const proto::OpResult& refused) {
  if (entry.duplicate || refused.status != proto::Status::already_registered) return false;
  const auto holder = ctx.writer.remote_owner(static_cast<std::uint32_t>(refused.value));
  if (!holder) return false;
  const auto id = ctx.writer.find_registry(entry.registry);
  if (!id) return false;
  const auto removed = ctx.writer.remove_remote(*id, entry.key, shm::RemoteOwner{holder->first, holder->second, 0});
  if (!removed || *removed == 0) return false;
  ctx.log("cluster: '" + entry.registry + "' name held in etcd by this host now; the mirrored entry of host '" +
          holder->first + "' PID " + std::to_string(holder->second) + " was stale and is removed");
  return true;
}

void claim_then_insert(OpContext& ctx, const Owner& owner, std::shared_ptr<sys::UniqueFd> pidfd, ClusterEntry entry,
                       Finish finish, bool may_reap) {
  ClusterEntry asked = entry;
  ctx.cluster->claim(std::move(asked), [&ctx, owner, pidfd, entry, finish = std::move(finish),
                                        may_reap](ClaimOutcome out) mutable {
    switch (out.kind) {
      case ClaimOutcome::Kind::created: {
        Owner kept = owner;
        kept.pidfd = pidfd->get();
        proto::OpResult res = register_entry(ctx, kept, entry.registry, entry.key, entry.value);
        if (dropped_stale_remote_holder(ctx, entry, res))
          res = register_entry(ctx, kept, entry.registry, entry.key, entry.value);
        if (res.status != proto::Status::ok && out.fresh) {
          entry.etcd_key = out.etcd_key;
          ctx.cluster->release_later({entry});
        }
        return finish(std::move(res));
      }
      case ClaimOutcome::Kind::taken:
        if (may_reap && reaped_dead_holder(ctx, out))
          return claim_then_insert(ctx, owner, std::move(pidfd), std::move(entry), std::move(finish), false);
        return finish(taken_refusal(out));
      case ClaimOutcome::Kind::unavailable: return finish(unavailable(ctx, "nothing was registered", out.message));
      case ClaimOutcome::Kind::failed:
        return finish(refusal(proto::Status::io_error, "etcd refused the registration: " + out.message));
    }
  });
}

std::optional<proto::OpResult> start_register(OpContext& ctx, const Owner& owner, const std::string& registry,
                                              const std::string& key, const std::string& value, Finish finish) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::move(rdr.error());
  auto view = (*rdr)->registry(registry);
  if (!view) return error_result(view.error());
  if (key.empty()) return empty_key_refusal(ctx, registry);
  if (key.size() > view->max_key() || value.size() > view->max_value())
    return write_refusal(ctx, key.size() > view->max_key() ? shm::Errc::key_too_long : shm::Errc::value_too_long,
                         registry);
  if (auto ok = may_own(ctx.config.settings, ctx.writer, owner, registry, key, value.size()); !ok)
    return std::move(ok.error());
  auto pidfd = keep_pidfd(owner);
  if (!*pidfd) return refusal(proto::Status::io_error, "the broker cannot keep the owner's pidfd; nothing was registered");
  ClusterEntry entry{registry, key, value, static_cast<std::uint32_t>(owner.pid), static_cast<std::uint32_t>(owner.uid),
                     view->kind() == shm::RegistryKind::duplicate, {}};
  claim_then_insert(ctx, owner, std::move(pidfd), std::move(entry), std::move(finish), true);
  return std::nullopt;
}

std::optional<proto::OpResult> start_unregister(OpContext& ctx, Request& req, const proto::Unregister& op,
                                                Finish finish) {
  const Owner owner = req.caller.as_owner();
  ctx.owners.settle(owner);
  auto rdr = own_reader(ctx);
  if (!rdr) return std::move(rdr.error());
  auto view = (*rdr)->registry(op.registry);
  if (!view) return error_result(view.error());
  const auto pid = static_cast<std::uint32_t>(owner.pid);
  auto entries = (*rdr)->values(*view, op.key, pid);
  if (!entries) return error_result(entries.error());
  if (entries->empty()) return success(0);
  ClusterEntry e{op.registry, op.key, entries->front().value, pid, static_cast<std::uint32_t>(owner.uid),
                 view->kind() == shm::RegistryKind::duplicate, {}};
  ctx.cluster->release({e}, [&ctx, e, finish = std::move(finish)](ReleaseOutcome out) {
    if (!out.ok) return finish(unavailable(ctx, "nothing was removed", out.message));
    auto id = ctx.writer.find_registry(e.registry);
    if (!id) return finish(error_result(id.error()));
    auto n = ctx.writer.remove(*id, e.key, e.pid);
    finish(n ? success(*n) : error_result(n.error()));
  });
  return std::nullopt;
}

std::optional<proto::OpResult> start_unregister_match(OpContext& ctx, Request& req, const proto::UnregisterMatch& op,
                                                      Finish finish) {
  auto plan = plan_unregister_match(ctx, req, op);
  if (!plan) return std::move(plan.error());
  if (plan->matching.empty()) return success(0);
  ClusterEntry e{op.registry, op.key, {}, plan->pid, plan->uid, plan->duplicate, {}};
  auto values = plan->matching;
  ctx.cluster->release_values(std::move(e), std::move(values),
                              [&ctx, plan = std::move(*plan), key = op.key, finish = std::move(finish)](
                                  ReleaseOutcome out) {
                                if (!out.ok) return finish(unavailable(ctx, "nothing was removed", out.message));
                                finish(remove_matching(ctx, plan, key));
                              });
  return std::nullopt;
}

std::optional<proto::OpResult> start_unregister_all(OpContext& ctx, Request& req, Finish finish) {
  const auto pid = static_cast<std::uint32_t>(req.caller.pid);
  ctx.owners.settle(req.caller.as_owner());
  std::vector<ClusterEntry> entries = cluster_entries_of(ctx, pid);
  if (entries.empty()) {
    auto n = ctx.writer.remove_owner(pid);
    return n ? success(*n) : error_result(n.error());
  }
  auto released = std::make_shared<std::vector<ClusterEntry>>(entries);
  ctx.cluster->release(std::move(entries), [&ctx, pid, released, finish = std::move(finish)](ReleaseOutcome out) {
    if (!out.ok) return finish(unavailable(ctx, "nothing was removed", out.message));
    // A register of this process on another connection may have landed
    // while the release waited: remove_owner takes its entry too, so its
    // etcd key goes after it.
    std::vector<ClusterEntry> late;
    for (ClusterEntry& e : cluster_entries_of(ctx, pid)) {
      const bool known = std::any_of(released->begin(), released->end(), [&](const ClusterEntry& r) {
        return r.registry == e.registry && r.key == e.key && r.value == e.value;
      });
      if (!known) late.push_back(std::move(e));
    }
    auto n = ctx.writer.remove_owner(pid);
    if (!late.empty()) ctx.cluster->release_later(std::move(late));
    finish(n ? success(*n) : error_result(n.error()));
  });
  return std::nullopt;
}

}  // namespace

bool touches_cluster(OpContext& ctx, const Caller& caller, const proto::Op& op) {
  if (ctx.cluster == nullptr) return false;
  return std::visit(Overloaded{
                        [&](const proto::UnregisterAll&) {
                          return !cluster_entries_of(ctx, static_cast<std::uint32_t>(caller.pid)).empty();
                        },
                        [&](const proto::CreateRegistry&) { return false; },
                        [&](const proto::SendMessage&) { return false; },
                        [&](const proto::GetClusterStatus&) { return true; },
                        [&](const auto& o) {
                          if constexpr (requires { o.registry; }) return cluster_scoped(ctx, o.registry);
                          return false;
                        },
                    },
                    op);
}

std::optional<proto::OpResult> start_cluster_op(OpContext& ctx, Request& req, const proto::Op& op, Finish finish) {
  return std::visit(
      Overloaded{
          [&](const proto::RegisterKey& o) -> std::optional<proto::OpResult> {
            return start_register(ctx, req.caller.as_owner(), o.registry, o.key, o.value, std::move(finish));
          },
          [&](const proto::RegisterOnBehalf& o) -> std::optional<proto::OpResult> {
            if (o.target == 0)
              return refusal(proto::Status::invalid_argument,
                             "no pidfd #0 came with this request; pass the target's pidfd with SCM_RIGHTS");
            auto owner = owner_for(req, o.target);
            if (!owner) return std::move(owner.error());
            if (auto ok = may_claim(ctx.config.settings, req.caller, o.registry, o.key); !ok)
              return std::move(ok.error());
            return start_register(ctx, *owner, o.registry, o.key, o.value, std::move(finish));
          },
          [&](const proto::Unregister& o) { return start_unregister(ctx, req, o, std::move(finish)); },
          [&](const proto::UnregisterAll&) { return start_unregister_all(ctx, req, std::move(finish)); },
          [&](const proto::RegisterQueued& o) -> std::optional<proto::OpResult> {
            return not_on_cluster("an owner queue (--queue and the other D-Bus flags)", o.registry);
          },
          [&](const proto::UnregisterMatch& o) { return start_unregister_match(ctx, req, o, std::move(finish)); },
          [&](const proto::UpdateValue& o) -> std::optional<proto::OpResult> {
            return not_on_cluster("update_value (unregister and register again)", o.registry);
          },
          [&](const proto::SetStatic& o) -> std::optional<proto::OpResult> {
            return not_on_cluster("a static entry", o.registry);
          },
          [&](const proto::LookupConsistent& o) -> std::optional<proto::OpResult> {
            // The segment holds other hosts' entries as the mirror last saw
            // them; verifying those needs a linearizable read of etcd, which
            // is not built yet. A plain lookup reads the mirror.
            return not_on_cluster("lookup --consistent", o.registry);
          },
          [&](const proto::UnsetStatic& o) -> std::optional<proto::OpResult> {
            return not_on_cluster("a static entry", o.registry);
          },
          [&](const proto::GetClusterStatus&) -> std::optional<proto::OpResult> {
            ctx.cluster->describe([finish = std::move(finish)](std::string text) { finish(success(0, std::move(text))); });
            return std::nullopt;
          },
          [&](const auto& o) -> std::optional<proto::OpResult> {
            std::string name;
            if constexpr (requires { o.registry; }) name = o.registry;
            return refusal(proto::Status::invalid_argument, "this op is not offered on cluster registry '" + name + "'");
          },
      },
      op);
}

std::vector<ClusterEntry> cluster_entries_of(OpContext& ctx, std::uint32_t pid, bool every_value) {
  std::vector<ClusterEntry> out;
  if (ctx.cluster == nullptr) return out;
  auto rdr = own_reader(ctx);
  if (!rdr) return out;
  const std::uint32_t uid = uid_of(ctx, pid);
  for (const DeclaredRegistry& d : ctx.config.settings.registries) {
    if (d.scope != RegistryScope::cluster) continue;
    auto view = (*rdr)->registry(d.name);
    if (!view) continue;
    auto keys = (*rdr)->keys(*view, pid);
    if (!keys) continue;
    const bool dup = view->kind() == shm::RegistryKind::duplicate;
    // keys() lists a key once per entry of pid under it.
    const std::set<std::string> distinct(keys->begin(), keys->end());
    for (const std::string& k : distinct) {
      auto vals = (*rdr)->values(*view, k, pid);
      if (!vals || vals->empty()) continue;
      for (const shm::Entry& v : *vals) {
        out.push_back(ClusterEntry{d.name, k, v.value, pid, uid, dup, {}});
        if (!every_value) break;
      }
    }
  }
  return out;
}

std::size_t withdraw_local_cluster_entries(OpContext& ctx) {
  std::size_t removed = 0;
  auto rdr = own_reader(ctx);
  if (!rdr) return 0;
  for (const DeclaredRegistry& d : ctx.config.settings.registries) {
    if (d.scope != RegistryScope::cluster) continue;
    auto view = (*rdr)->registry(d.name);
    auto id = ctx.writer.find_registry(d.name);
    if (!view || !id) continue;
    std::vector<std::pair<std::string, std::uint32_t>> local;
    (void)(*rdr)->for_each(*view, [&](const shm::Entry& e) {
      if (e.host.empty() && ctx.owners.watched_identity(static_cast<pid_t>(e.pid))) local.emplace_back(e.key, e.pid);
    });
    for (const auto& [key, pid] : local)
      if (auto n = ctx.writer.remove(*id, key, pid); n) removed += *n;
  }
  return removed;
}

}  // namespace shmreg::broker
