// What the op families share: the broker's reader, who an op acts for, and
// the refusals that name a full segment's limits (see ops.hpp).
#include "ops.hpp"

#include "status.hpp"
#include "target.hpp"

namespace shmreg::broker {

std::expected<const shm::SegmentReader*, proto::OpResult> own_reader(OpContext& ctx) {
  if (!ctx.reader) {
    auto r = shm::SegmentReader::open(ctx.config.paths.segment());
    if (!r)
      return std::unexpected(refusal(proto::Status::internal_error,
                                     "the broker cannot map its own segment: " + std::string(shm::to_string(r.error()))));
    ctx.reader.emplace(std::move(*r));
  }
  return &*ctx.reader;
}

std::expected<Owner, proto::OpResult> owner_for(const Request& req, std::uint8_t target) {
  if (target == 0) return req.caller.as_owner();
  if (target > req.caller.passed_pidfds.size())
    return std::unexpected(refusal(proto::Status::invalid_argument,
                                   "no pidfd #" + std::to_string(target) +
                                       " came with this request; pass the target's pidfd with SCM_RIGHTS"));
  const int fd = req.caller.passed_pidfds[target - 1].get();
  auto t = target_of(fd, req.caller.uid);
  if (!t) return std::unexpected(refusal(t.error().status, t.error().message));
  return Owner{t->pid, t->uid, t->identity, std::move(t->groups), fd};
}

namespace {

// "key too long for registry 'svc': its keys are at most 128 bytes (...)",
// and the same for values; nullopt when the registry cannot be read.
std::optional<std::string> length_refusal(OpContext& ctx, shm::Errc e, std::string_view registry) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::nullopt;
  auto view = (*rdr)->registry(registry);
  if (!view) return std::nullopt;
  const bool key = e == shm::Errc::key_too_long;
  return std::string(key ? "key" : "value") + " too long for registry '" + std::string(registry) + "': its " +
         (key ? "keys" : "values") + " are at most " + std::to_string(key ? view->max_key() : view->max_value()) +
         " bytes (" + (key ? "--max-key" : "--max-value") + ", fixed when it was created)";
}

}  // namespace

proto::OpResult empty_key_refusal(OpContext& ctx, std::string_view registry) {
  std::string limit;
  if (auto rdr = own_reader(ctx))
    if (auto view = (*rdr)->registry(registry)) limit = " to " + std::to_string(view->max_key());
  return refusal(proto::Status::invalid_argument,
                 "key is empty: a key of registry '" + std::string(registry) + "' is 1" + limit + " bytes");
}

proto::OpResult write_refusal(OpContext& ctx, shm::Errc e, std::string_view registry) {
  if ((e == shm::Errc::key_too_long || e == shm::Errc::value_too_long) && !registry.empty()) {
    auto text = length_refusal(ctx, e, registry);
    return text ? error_result(e, std::move(*text)) : error_result(e);
  }
  if (e != shm::Errc::registry_full && e != shm::Errc::owner_table_full && e != shm::Errc::segment_full)
    return error_result(e);
  auto rdr = own_reader(ctx);
  if (!rdr) return error_result(e);
  const shm::SegmentGeometry& geo = (*rdr)->geometry();
  std::string text;
  if (e == shm::Errc::owner_table_full) {
    text = "owner table is full: the segment holds at most " + std::to_string(geo.owner_capacity) +
           " owner processes (--owner-capacity, [broker] owner_capacity; fixed when the segment was created)";
  } else if (e == shm::Errc::segment_full) {
    text = "segment is full: " + std::to_string(ctx.writer.arena_free()) + " of its " +
           std::to_string(geo.arena_size) +
           " arena bytes are free (--segment-size, [broker] segment_size; fixed when the segment was created)";
  } else {
    auto view = (*rdr)->registry(registry);
    if (!view) return error_result(e);
    // Freed places are reused only after the grace period, so a registry
    // can be full a moment before its live entries reach the capacity.
    text = "registry '" + std::string(registry) + "' is full: its capacity is " + std::to_string(view->capacity()) +
           " entries (--capacity, fixed when it was created)";
  }
  return error_result(e, std::move(text));
}

}  // namespace shmreg::broker
