// libshmreg, op family "values": update_value and set_value (a compare-and-set
// on the entry's version), and a registry's meta (put_meta, delete_meta, and
// reading it from the segment).
#include "acting_for.hpp"
#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::ActingFor;
using client_detail::guarded;

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

Result<std::uint64_t> Client::set_value(std::string_view registry, std::string_view key, std::string_view value,
                                        std::optional<std::uint64_t> expected_version,
                                        const ProcessRef& owner) const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::UpdateValue{std::string(registry), std::string(key), std::string(value),
                                             acting->target(), expected_version},
                          acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  });
}

Result<ValueUpdate> Client::update_value(std::string_view registry, std::string_view key,
                                         const std::function<std::string(std::string_view)>& fn,
                                         const ProcessRef& owner) const noexcept {
  return guarded([&]() -> Result<ValueUpdate> {
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    // One deadline for every attempt: the caller waits at most timeout() in all.
    const auto deadline = client_detail::Deadline::after(timeout_);
    auto view = state_->registry_view(registry);
    if (!view) return std::unexpected(std::move(view.error()));
    if (view->kind() != shm::RegistryKind::unique)
      return std::unexpected(Error{Errc::invalid_argument, "update_value needs a unique registry; " +
                                                               quoted(registry) + " has duplicate keys"});
    for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
      auto mine = state_->reader.values(*view, key, acting->pid());
      if (!mine) return std::unexpected(client_detail::error_from_shm(mine.error()));
      if (mine->empty())
        return std::unexpected(Error{Errc::not_found, "pid " + std::to_string(acting->pid()) +
                                                          " has no entry under this key in " + quoted(registry)});
      shm::Entry& old = mine->front();
      std::string next;
      try {
        next = fn(old.value);
      } catch (...) {
        return std::unexpected(Error{Errc::invalid_argument, "the update function threw; nothing was changed"});
      }
      auto r = state_->call(
          deadline, proto::UpdateValue{std::string(registry), std::string(key), next, acting->target(), old.version},
          acting->pidfds());
      if (r) return ValueUpdate{std::move(next), std::move(old.value), r->value};
      // Another write (another thread, or a writer acting for this process)
      // got in between: read the entry again.
      if (r.error().code != Errc::version_conflict) return std::unexpected(std::move(r.error()));
    }
    return std::unexpected(Error{Errc::version_conflict, "update_value: the entry changed under each of " +
                                                             std::to_string(kMaxUpdateAttempts) + " attempts"});
  });
}

Result<void> Client::put_meta(std::string_view registry, std::string_view key, std::string_view value) const noexcept {
  return guarded([&]() -> Result<void> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::PutMeta{std::string(registry), std::string(key), std::string(value)});
    if (!r) return std::unexpected(std::move(r.error()));
    return {};
  });
}

Result<bool> Client::delete_meta(std::string_view registry, std::string_view key) const noexcept {
  return guarded([&]() -> Result<bool> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::DeleteMeta{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value != 0;
  });
}

Result<std::vector<std::pair<std::string, std::string>>> Registry::meta() const noexcept {
  return guarded([&] { return client_detail::lift(state_->client->reader.meta(state_->view)); });
}

Result<std::optional<std::string>> Registry::meta(std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::optional<std::string>> {
    auto all = meta();
    if (!all) return std::unexpected(std::move(all.error()));
    for (auto& [k, v] : *all)
      if (k == key) return std::optional<std::string>(std::move(v));
    return std::optional<std::string>();
  });
}

}  // namespace shmreg
