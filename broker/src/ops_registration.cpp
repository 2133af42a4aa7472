// The registration family: register (for the caller or, pidfd-proven, for
// another process), owner queues, unregister, unregister_all and
// unregister_match.
#include <set>
#include <string>

#include "ops.hpp"
#include "policy.hpp"
#include "shmreg/proto/pattern.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

// What every registration shares: the registry, the owner as the segment
// records it, and the watch secured before any entry exists (an owner the
// broker could not watch would keep its entries after death).
struct Registration {
  std::uint32_t registry = 0;
  shm::OwnerIdentity owner;
  sys::UniqueFd watch_fd;  // empty when the owner is already watched
};

std::expected<Registration, proto::OpResult> begin_registration(OpContext& ctx, const Owner& owner,
                                                                const std::string& registry) {
  auto id = ctx.writer.find_registry(registry);
  if (!id) return std::unexpected(error_result(id.error()));
  auto watch_fd = ctx.owners.watch_fd_for(owner);
  if (!watch_fd) return std::unexpected(refusal(proto::Status::io_error, watch_fd.error()));
  return Registration{*id,
                      shm::OwnerIdentity{static_cast<std::uint32_t>(owner.pid), static_cast<std::uint32_t>(owner.uid),
                                         owner.identity.kind, owner.identity.value},
                      std::move(*watch_fd)};
}

// A reap failed and the broker is stopping: nothing more is written.
proto::OpResult halting_refusal() {
  return refusal(proto::Status::internal_error,
                 "the broker is stopping on a broken invariant (see its log); nothing was registered");
}

// Runs insert(); if the segment holds the owner's pid under another
// identity, that process is dead (two live processes never share a pid),
// its exit just not yet handled: reap it, then run insert() again.
template <class Insert>
auto insert_reaping_stale(OpContext& ctx, const Owner& owner, Insert&& insert) -> std::optional<decltype(insert())> {
  auto r = insert();
  if (!r && r.error() == shm::Errc::stale_owner) {
    if (!ctx.owners.reap(owner.pid, "pid recycled by a new registering process")) return std::nullopt;
    r = insert();
  }
  return r;
}

enum class Reaped { none, some, halting };

// The holder of a unique key may have died with its exit not handled yet (a
// service restarted at once): as Elixir's Registry does, a dead holder loses
// the key. With an owner queue the key passes to the next in line, who may
// be dead and unreaped too: retry() asks again and names the holder now (0:
// the way is clear). Each process is reaped at most once, so the line's
// length bounds the loop.
template <class Retry>
Reaped reap_dead_holders(OpContext& ctx, std::uint32_t holder, Retry&& retry) {
  Reaped done = Reaped::none;
  std::set<std::uint32_t> reaped;
  while (holder != 0 && reaped.insert(holder).second &&
         ctx.owners.liveness(static_cast<pid_t>(holder)) == OwnerWatches::Liveness::dead) {
    if (!ctx.owners.reap(static_cast<pid_t>(holder), "holder of a unique key found dead by a new registration"))
      return Reaped::halting;
    done = Reaped::some;
    holder = retry();
  }
  return done;
}

// The pid holding key (its primary owner), as the broker's reader sees it;
// 0 when none or unknown.
std::uint32_t key_holder(OpContext& ctx, const std::string& registry, const std::string& key) {
  auto rdr = own_reader(ctx);
  if (!rdr) return 0;
  auto view = (*rdr)->registry(registry);
  std::string value;
  std::uint32_t pid = 0;
  if (!view || !(*rdr)->lookup_value(*view, key, value, &pid).value_or(false)) return 0;
  return pid;
}

proto::OpResult register_for(OpContext& ctx, const Owner& owner, const std::string& registry, const std::string& key,
                             const std::string& value) {
  auto reg = begin_registration(ctx, owner, registry);
  if (!reg) return std::move(reg.error());
  if (key.empty()) return empty_key_refusal(ctx, registry);
  auto quota = [&] { return may_own(ctx.config.settings, ctx.writer, owner, registry, key, value.size()); };
  auto ok = quota();
  // A uid at its limit may be held there by its own dead process, the key's
  // holder: the dead go first, then the quota is asked again.
  if (!ok && reap_dead_holders(ctx, key_holder(ctx, registry, key), [&] {
        ok = quota();
        return ok ? 0 : key_holder(ctx, registry, key);
      }) == Reaped::halting)
    return halting_refusal();
  if (!ok) return std::move(ok.error());
  std::uint32_t conflict = 0;
  auto insert = [&] { return ctx.writer.insert(reg->registry, key, value, reg->owner, &conflict); };
  auto r = insert_reaping_stale(ctx, owner, insert);
  if (!r) return halting_refusal();
  const auto taken = [&] { return !*r && r->error() == shm::Errc::already_registered; };
  if (taken() && reap_dead_holders(ctx, conflict, [&] {
        *r = insert();
        return taken() ? conflict : 0;
      }) == Reaped::halting)
    return halting_refusal();
  if (taken()) {
    proto::OpResult res = error_result(r->error(), "already registered by PID " + std::to_string(conflict));
    res.value = conflict;
    return res;
  }
  if (!*r) return write_refusal(ctx, r->error(), registry);
  ctx.owners.ensure_watched(owner, std::move(reg->watch_fd));
  return success((*r)->version);
}

}  // namespace

proto::OpResult register_entry(OpContext& ctx, const Owner& owner, const std::string& registry,
                               const std::string& key, const std::string& value) {
  return register_for(ctx, owner, registry, key, value);
}

proto::OpResult register_key(OpContext& ctx, Request& req, const proto::RegisterKey& op) {
  return register_for(ctx, req.caller.as_owner(), op.registry, op.key, op.value);
}

proto::OpResult register_on_behalf(OpContext& ctx, Request& req, const proto::RegisterOnBehalf& op) {
  if (op.target == 0)
    return refusal(proto::Status::invalid_argument,
                   "no pidfd #0 came with this request; pass the target's pidfd with SCM_RIGHTS");
  auto owner = owner_for(req, op.target);
  if (!owner) return std::move(owner.error());
  if (auto ok = may_claim(ctx.config.settings, req.caller, op.registry, op.key); !ok) return std::move(ok.error());
  return register_for(ctx, *owner, op.registry, op.key, op.value);
}

proto::OpResult register_queued(OpContext& ctx, Request& req, const proto::RegisterQueued& op) {
  const Owner owner = req.caller.as_owner();
  auto reg = begin_registration(ctx, owner, op.registry);
  if (!reg) return std::move(reg.error());
  if (op.key.empty()) return empty_key_refusal(ctx, op.registry);
  // A queued record counts as an entry: it becomes one when the key passes on.
  if (auto ok = may_own(ctx.config.settings, ctx.writer, owner, op.registry, op.key, op.value.size()); !ok)
    return std::move(ok.error());
  auto insert = [&] { return ctx.writer.insert_queued(reg->registry, op.key, op.value, reg->owner, op.flags); };
  auto r = insert_reaping_stale(ctx, owner, insert);
  if (!r) return halting_refusal();
  // do_not_queue against a primary that is dead, its exit not handled: as
  // register does, the dead go first, then the key is asked for again.
  const auto exists = [&] { return *r && (*r)->reply == shm::QueueReply::exists; };
  if (exists() && reap_dead_holders(ctx, (*r)->owner_pid, [&] {
        *r = insert();
        return exists() ? (*r)->owner_pid : 0;
      }) == Reaped::halting)
    return halting_refusal();
  const auto duplicate_keys = [&] {
    auto rdr = own_reader(ctx);
    auto view = rdr ? (*rdr)->registry(op.registry) : std::unexpected(shm::Errc::registry_not_found);
    return view && view->kind() == shm::RegistryKind::duplicate;
  };
  if (!*r && r->error() == shm::Errc::invalid_argument && duplicate_keys())
    return error_result(r->error(), "owner queues (--queue and the other D-Bus flags) are for unique registries; '" +
                                        op.registry + "' has duplicate keys");
  if (!*r) return write_refusal(ctx, r->error(), op.registry);
  const shm::QueueResult& q = **r;
  if (q.reply != shm::QueueReply::exists) ctx.owners.ensure_watched(owner, std::move(reg->watch_fd));
  return success(proto::pack_queue_reply(static_cast<std::uint32_t>(q.reply), q.owner_pid));
}

// unregister and unregister_all settle the caller first, like every op that
// names an owner: the entries of an earlier process with the caller's pid are
// reaped as that process's death, never removed at the caller's request.
proto::OpResult unregister(OpContext& ctx, Request& req, const proto::Unregister& op) {
  ctx.owners.settle(req.caller.as_owner());
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error());
  auto n = ctx.writer.remove(*id, op.key, static_cast<std::uint32_t>(req.caller.pid));
  if (!n) return error_result(n.error());
  return success(*n);
}

proto::OpResult unregister_all(OpContext& ctx, Request& req, const proto::UnregisterAll&) {
  ctx.owners.settle(req.caller.as_owner());
  auto n = ctx.writer.remove_owner(static_cast<std::uint32_t>(req.caller.pid));
  if (!n) return error_result(n.error());
  return success(*n);
}

// unregister_match removes the target's entries under key whose values
// match, in one all-or-nothing write (SegmentWriter::remove_if): all of
// them, or some of them while the target's others under key stay. The one
// limit: a partial removal of more than shm::kMaxRemoveSome entries is
// refused with invalid_argument and changes nothing. Its two halves are
// apart so that a cluster registry's etcd keys go between them.
std::expected<MatchPlan, proto::OpResult> plan_unregister_match(OpContext& ctx, Request& req,
                                                                 const proto::UnregisterMatch& op) {
  // Compiling is the costly part (a pattern may be nearly a whole frame):
  // its size is checked first.
  const std::size_t limit = ctx.config.settings.broker.connection.pattern_bytes;
  const auto refused = [](proto::OpResult r) { return std::unexpected(std::move(r)); };
  if (op.pattern.size() + op.guards.size() > limit)
    return refused(refusal(proto::Status::invalid_argument,
                           "pattern and guards of " + std::to_string(op.pattern.size() + op.guards.size()) +
                               " bytes; the maximum is " + std::to_string(limit) + " (--max-pattern-bytes)"));
  auto matcher = proto::Matcher::compile(op.pattern, op.guards);
  if (!matcher) return refused(refusal(proto::Status::invalid_argument, matcher.error()));
  auto owner = owner_for(req, op.target);
  if (!owner) return refused(std::move(owner.error()));
  ctx.owners.settle(*owner);
  MatchPlan plan;
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return refused(error_result(id.error()));
  plan.registry = *id;
  auto rdr = own_reader(ctx);
  if (!rdr) return refused(std::move(rdr.error()));
  auto view = (*rdr)->registry(op.registry);
  if (!view) return refused(error_result(view.error()));
  plan.duplicate = view->kind() == shm::RegistryKind::duplicate;
  plan.pid = static_cast<std::uint32_t>(owner->pid);
  plan.uid = static_cast<std::uint32_t>(owner->uid);
  auto entries = (*rdr)->values(*view, op.key, plan.pid);
  if (!entries) return refused(error_result(entries.error()));
  // Matching (JSON parsing, which may throw) happens here, before the
  // writer's all-or-nothing removal, whose predicate only looks values up.
  for (const shm::Entry& e : *entries)
    if (matcher->matches(e.value)) plan.matching.insert(e.value);
  return plan;
}

proto::OpResult remove_matching(OpContext& ctx, const MatchPlan& plan, const std::string& key) {
  const auto& matching = plan.matching;
  auto n = ctx.writer.remove_if(plan.registry, key, plan.pid,
                                [&](std::string_view v) { return matching.count(v) != 0; });
  if (!n && n.error() == shm::Errc::invalid_argument)
    return error_result(n.error(), "more than " + std::to_string(shm::kMaxRemoveSome) +
                                       " of one process's entries under a key match while others do not; "
                                       "nothing was removed");
  if (!n) return error_result(n.error());
  return success(*n);
}

proto::OpResult unregister_match(OpContext& ctx, Request& req, const proto::UnregisterMatch& op) {
  auto plan = plan_unregister_match(ctx, req, op);
  if (!plan) return std::move(plan.error());
  if (plan->matching.empty()) return success(0);
  return remove_matching(ctx, *plan, op.key);
}

}  // namespace shmreg::broker
