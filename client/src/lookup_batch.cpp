// libshmreg, op family "lookups": lookup_batch and lookup_values, many keys
// read from the mapped segment in one pipelined pass
// (shm::SegmentReader::lookup_batch does the pipelining; this file converts).
#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::error_from_shm;
using client_detail::guarded;

Result<std::size_t> Registry::lookup_batch_views(std::span<const std::string_view> keys, BatchFn fn,
                                                 void* ctx) const noexcept {
  return guarded([&]() -> Result<std::size_t> {
    auto n = state_->client->reader.lookup_batch(
        state_->view, keys, [&](std::size_t i, std::span<const shm::EntryView> views) {
          // As lookup_views: one entry (every unique hit) on the stack, more
          // through a per-thread buffer reused from call to call.
          if (views.size() <= 1) {
            if (views.empty()) return fn(ctx, i, {});
            const EntryView one{views[0].key, views[0].value, views[0].pid, views[0].version};
            return fn(ctx, i, std::span<const EntryView>(&one, 1));
          }
          thread_local std::vector<EntryView> many;
          many.clear();
          for (const auto& v : views) many.push_back(EntryView{v.key, v.value, v.pid, v.version});
          fn(ctx, i, std::span<const EntryView>(many));
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
