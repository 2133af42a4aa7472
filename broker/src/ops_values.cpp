// The values family: update_value (a compare-and-set on the entry's
// version, also behind set_value) and the registry meta (put_meta,
// delete_meta).
#include "ops.hpp"
#include "policy.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

// The reply for a failed update_value: the status is e's own, the message
// says which rule the op broke where the caller can act on it.
proto::OpResult update_refused(OpContext& ctx, shm::Errc e, const proto::UpdateValue& op, pid_t pid) {
  if (e == shm::Errc::not_found)
    return error_result(e, "pid " + std::to_string(pid) + " has no entry under this key in " + quoted(op.registry));
  if (e == shm::Errc::version_conflict)
    return error_result(e, "the entry is no longer at version " + std::to_string(op.expected_version.value_or(0)));
  if (e == shm::Errc::invalid_argument)
    return error_result(e, "update_value needs a unique registry; " + quoted(op.registry) + " has duplicate keys");
  return write_refusal(ctx, e, op.registry);
}

proto::OpResult put_meta_refused(shm::Errc e, const proto::PutMeta& op) {
  if (e == shm::Errc::invalid_argument)
    return error_result(e, "a meta key is 1 to " + std::to_string(shm::kMaxMetaKey) + " bytes");
  if (e == shm::Errc::meta_too_large)
    return error_result(e, "the meta of " + quoted(op.registry) + " would exceed " +
                               std::to_string(shm::kMetaBlockSize) +
                               " bytes (8 per pair, key and value each padded to 8)");
  return error_result(e);
}

// The owner's value_bytes quota, against the growth of its entry's value.
// Without an entry there is nothing to grow: the writer answers not_found.
Verdict may_replace_value(OpContext& ctx, const Owner& owner, const proto::UpdateValue& op) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::unexpected(std::move(rdr.error()));
  auto view = (*rdr)->registry(op.registry);
  if (!view) return {};
  auto entries = (*rdr)->values(*view, op.key, static_cast<std::uint32_t>(owner.pid));
  if (!entries || entries->empty()) return {};
  return may_grow_value(ctx.config.settings, ctx.writer, owner.uid, entries->front().value.size(), op.value.size());
}

}  // namespace

proto::OpResult update_value(OpContext& ctx, Request& req, const proto::UpdateValue& op) {
  auto owner = owner_for(req, op.target);
  if (!owner) return std::move(owner.error());
  ctx.owners.settle(*owner);
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error());
  if (auto ok = may_replace_value(ctx, *owner, op); !ok) return std::move(ok.error());
  auto v = ctx.writer.update_value(*id, op.key, static_cast<std::uint32_t>(owner->pid), op.value, op.expected_version);
  if (!v) return update_refused(ctx, v.error(), op, owner->pid);
  return success(*v);
}

proto::OpResult put_meta(OpContext& ctx, Request&, const proto::PutMeta& op) {
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error());
  if (auto ok = ctx.writer.put_meta(*id, op.key, op.value); !ok) return put_meta_refused(ok.error(), op);
  return success();
}

// Value of the result: 1 if the key was removed, 0 if there was none.
proto::OpResult delete_meta(OpContext& ctx, Request&, const proto::DeleteMeta& op) {
  auto id = ctx.writer.find_registry(op.registry);
  if (!id) return error_result(id.error());
  auto ok = ctx.writer.delete_meta(*id, op.key);
  if (!ok && ok.error() == shm::Errc::not_found) return success(0);
  if (!ok) return error_result(ok.error());
  return success(1);
}

}  // namespace shmreg::broker
