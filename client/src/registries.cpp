// libshmreg, op family "registries": ping and create_registry (with its
// initial meta), through the broker.
#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::guarded;

Result<std::uint32_t> Client::ping() const noexcept {
  return guarded([&]() -> Result<std::uint32_t> {
    auto r = state_->call(client_detail::Deadline::after(timeout_), proto::Ping{});
    if (!r) return std::unexpected(std::move(r.error()));
    return static_cast<std::uint32_t>(r->value);
  });
}

Result<void> Client::create_registry(std::string_view name, const RegistryOptions& o) const noexcept {
  return guarded([&]() -> Result<void> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::CreateRegistry{std::string(name), static_cast<std::uint8_t>(o.unique ? 1 : 2),
                                                o.partitions, o.max_key, o.max_value, o.capacity, o.meta, o.events});
    if (!r) return std::unexpected(std::move(r.error()));
    return {};
  });
}

}  // namespace shmreg
