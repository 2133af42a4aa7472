// libshmreg, op family "lookups": lookup_batch and lookup_values, many keys
// read from the mapped segment in one pipelined pass
// (shm::SegmentReader::lookup_batch does the pipelining; this file converts).
#include "client_state.hpp"
#include "errors.hpp"
#include "public_views.hpp"

namespace shmreg {

using client_detail::error_from_shm;
using client_detail::guarded;

Result<std::size_t> Registry::lookup_batch_views(std::span<const std::string_view> keys, BatchFn fn,
                                                 void* ctx) const noexcept {
  return guarded([&]() -> Result<std::size_t> {
    auto n = state_->client->reader.lookup_batch(
        state_->view, keys, [&](std::size_t i, std::span<const shm::EntryView> views) {
          client_detail::with_public_views(views, [&](std::span<const EntryView> out) { fn(ctx, i, out); });
        });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return *n;
  });
}

Result<std::size_t> Registry::lookup_values(std::span<const std::string_view> keys,
                                            std::vector<std::optional<std::string>>& out) const noexcept {
  return guarded([&]() -> Result<std::size_t> {
    out.resize(keys.size());
    auto n = state_->client->reader.lookup_batch(
        state_->view, keys, [&](std::size_t i, std::span<const shm::EntryView> views) {
          std::optional<std::string>& slot = out[i];
          if (views.empty()) return slot.reset();
          if (slot)
            slot->assign(views[0].value);
          else
            slot.emplace(views[0].value);
        });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return *n;
  });
}

}  // namespace shmreg
