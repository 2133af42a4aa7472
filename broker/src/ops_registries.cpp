// The registries family: ping and create_registry with its initial meta.
#include <unistd.h>

#include "ops.hpp"
#include "policy.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "shmreg/shm/spec_rules.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

// The text of a meta list check_meta refused; the status is its own.
std::string meta_refusal(const shm::MetaPairs& meta, shm::Errc e) {
  if (e == shm::Errc::meta_too_large)
    return "the meta takes " + std::to_string(shm::meta_size(meta)) + " bytes, more than the " +
           std::to_string(shm::kMetaBlockSize) + " a registry holds (8 per pair, key and value each padded to 8)";
  for (std::size_t i = 0; i < meta.size(); ++i) {
    const std::string& k = meta[i].first;
    if (k.empty() || k.size() > shm::kMaxMetaKey)
      return "a meta key is 1 to " + std::to_string(shm::kMaxMetaKey) + " bytes";
    for (std::size_t j = 0; j < i; ++j)
      if (meta[j].first == k) return "meta key '" + k + "' is given twice";
  }
  return std::string(shm::to_string(e));
}

// The refusal of a creation the writer refused with e: which option differs
// from the existing registry, or how much the new one needs against what the
// segment has left.
proto::OpResult creation_refusal(OpContext& ctx, const shm::RegistrySpec& spec, shm::Errc e) {
  if (e == shm::Errc::registry_exists) {
    auto rdr = own_reader(ctx);
    auto view = rdr ? (*rdr)->registry(spec.name) : std::unexpected(shm::Errc::registry_not_found);
    if (!view) return error_result(e);
    return error_result(e, "registry '" + spec.name + "' exists with different options: its " +
                               shm::difference(*view, spec) + " (create it again with its own options, or use it)");
  }
  if (e == shm::Errc::segment_full)
    return error_result(e, "segment is full: registry '" + spec.name + "' of " +
                               std::to_string(shm::SegmentWriter::footprint(spec)) + " bytes does not fit in the " +
                               std::to_string(ctx.writer.arena_free()) +
                               " arena bytes left (a smaller --capacity or --events, or a larger --segment-size "
                               "or [broker] segment_size, fixed when the segment was created)");
  return write_refusal(ctx, e);
}

}  // namespace

proto::OpResult ping(OpContext&, Request&, const proto::Ping&) {
  return success(static_cast<std::uint64_t>(::getpid()));
}

// The meta is checked in full first, and written with the creation, in the
// same write, only if this call creates the registry: readers see the
// registry with it or not at all. An existing registry (same options) keeps
// the meta it has.
//
// A creation counts against the caller's registries and registry_bytes
// quotas (authorize() has checked [access] create), and the registry records
// the caller's uid as its creator.
proto::OpResult create_registry(OpContext& ctx, Request& req, const proto::CreateRegistry& op) {
  if (auto ok = shm::check_meta(op.meta); !ok) return error_result(ok.error(), meta_refusal(op.meta, ok.error()));
  shm::RegistrySpec spec;
  spec.name = op.name;
  spec.kind = op.kind == 2 ? shm::RegistryKind::duplicate : shm::RegistryKind::unique;
  spec.partitions = op.partitions;
  spec.max_key = op.max_key != 0 ? op.max_key : ctx.config.settings.broker.default_max_key;
  spec.max_value = op.max_value != 0 ? op.max_value : ctx.config.settings.broker.default_max_value;
  spec.capacity = op.capacity != 0 ? op.capacity : ctx.config.settings.broker.default_capacity;
  if (op.events != 0) spec.event_capacity = op.events;
  spec.meta = op.meta;
  spec.creator_uid = static_cast<std::uint32_t>(req.caller.uid);
  if (auto rule = shm::broken_rule(spec)) return refusal(proto::Status::invalid_argument, shm::describe(*rule, spec));
  const bool existed = ctx.writer.find_registry(spec.name).has_value();
  if (!existed)
    if (auto ok = may_add_registry(ctx.config.settings, ctx.writer, req.caller.uid, shm::SegmentWriter::footprint(spec));
        !ok)
      return std::move(ok.error());
  auto id = ctx.writer.create_registry(spec);
  if (!id) return creation_refusal(ctx, spec, id.error());
  proto::OpResult res = success(*id);
  if (existed && !op.meta.empty()) res.message = "the registry exists; its meta was left as it is";
  return res;
}

}  // namespace shmreg::broker
