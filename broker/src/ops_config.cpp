// The config family: static entries, reload and status. The op table has
// authorized each op (the registry's admins for statics, [access] reload
// for reload); these handlers only carry them out.
#include "broker_status.hpp"
#include "ops.hpp"
#include "reload.hpp"
#include "status.hpp"

namespace shmreg::broker {

// Owned by the namespace (pid 0), not declared by the file: it stays across
// reloads and restarts until unset.
proto::OpResult set_static(OpContext& ctx, Request&, const proto::SetStatic& op) {
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error(), "no registry '" + op.registry + "'");
  if (op.key.empty()) return empty_key_refusal(ctx, op.registry);
  std::uint32_t holder = 0;
  auto version = ctx.writer.set_static(*id, op.key, op.value, false, &holder);
  if (!version) {
    if (version.error() == shm::Errc::already_registered)
      return error_result(version.error(), "key '" + op.key + "' of registry '" + op.registry +
                                               "' is held by pid " + std::to_string(holder));
    return write_refusal(ctx, version.error(), op.registry);
  }
  return success(*version);
}

// A declared static may be unset at run time; the next reload sets it again.
proto::OpResult unset_static(OpContext& ctx, Request& req, const proto::UnsetStatic& op) {
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error(), "no registry '" + op.registry + "'");
  bool declared = false;
  if (const DeclaredRegistry* d = ctx.config.settings.declared(op.registry))
    for (const StaticEntry& s : d->statics) declared = declared || s.key == op.key;
  auto removed = ctx.writer.unset_static(*id, op.key);
  if (!removed) return error_result(removed.error());
  if (*removed && declared)
    ctx.log("uid " + std::to_string(req.caller.uid) + " unset static '" + op.key + "' of registry '" + op.registry +
            "', which the configuration declares; the next reload sets it again");
  return success(*removed ? 1 : 0);
}

proto::OpResult reload(OpContext& ctx, Request& req, const proto::Reload& op) {
  ConfigLifecycle& lc = *ctx.lifecycle;
  const std::string who = "uid " + std::to_string(req.caller.uid);
  if (op.action != proto::ReloadAction::reload) {
    const bool allow = op.action == proto::ReloadAction::allow;
    allow ? lc.allow() : lc.forbid();
    ctx.log(who + (allow ? " allowed" : " forbade") + " configuration reloads");
    return success(lc.generation(), reload_json(lc, ReloadOutcome{true, false, {}, {}}));
  }
  const ReloadOutcome out = lc.reload();
  log_reload(ctx.log, lc, out, "requested by " + who);
  if (out.ok) return success(lc.generation(), reload_json(lc, out));
  proto::OpResult res = refusal(out.forbidden ? proto::Status::reload_forbidden : proto::Status::reload_failed,
                                out.forbidden ? out.reasons.front() : reload_failure_message(out));
  res.value = lc.generation();
  res.data = reload_json(lc, out);
  return res;
}

proto::OpResult get_status(OpContext& ctx, Request& req, const proto::GetStatus&) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::move(rdr.error());
  return success(0, status_json(StatusSources{*ctx.lifecycle, ctx.writer, **rdr, *ctx.tally}, req.caller.uid));
}

}  // namespace shmreg::broker
