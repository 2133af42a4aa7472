// libshmreg, op family "events": a registry's event ring (event_head, events),
// await and Watcher, read from the segment and its futex words without the
// broker (shm/events.hpp).
#include "client_state.hpp"
#include "errors.hpp"
#include "shmreg/shm/events.hpp"

namespace shmreg {

using client_detail::guarded;

namespace {

Event to_event(shm::Event&& e) {
  return Event{e.seq, static_cast<EventType>(e.type), std::move(e.key), e.pid, e.old_pid, e.version, e.time_ns};
}

Result<std::vector<Event>> read_events(const client_detail::RegistryState& reg, std::uint64_t from, std::size_t max,
                                       std::uint64_t& next) {
  auto r = shm::read_events(reg.client->reader, reg.view, from, max, next);
  if (!r) return std::unexpected(client_detail::error_from_shm(r.error()));
  std::vector<Event> out;
  out.reserve(r->size());
  for (auto& e : *r) out.push_back(to_event(std::move(e)));
  return out;
}

}  // namespace

std::string_view to_string(EventType t) noexcept { return shm::to_string(static_cast<shm::EventType>(t)); }

Result<std::uint64_t> Registry::event_head() const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    if (state_->client->reader.superseded()) return std::unexpected(client_detail::error_from_shm(shm::Errc::superseded));
    return shm::event_head(state_->client->reader, state_->view);
  });
}

Result<std::vector<Event>> Registry::events(std::uint64_t from, std::size_t max, std::uint64_t& next) const noexcept {
  return guarded([&] { return read_events(*state_, from, max, next); });
}

Result<bool> Registry::await(std::string_view key, std::chrono::nanoseconds timeout) const noexcept {
  return guarded(
      [&] { return client_detail::lift(shm::await_key(state_->client->reader, state_->view, key, timeout)); });
}

Watcher Registry::watch(std::optional<std::string> key, std::optional<std::uint64_t> from) const noexcept {
  // Without memory for its state the watcher is empty, and its next() says so.
  auto state = guarded([&]() -> Result<std::unique_ptr<client_detail::WatcherState>> {
    const std::uint64_t start = from ? *from : shm::event_head(state_->client->reader, state_->view) + 1;
    return std::make_unique<client_detail::WatcherState>(client_detail::WatcherState{*state_, std::move(key), start});
  });
  return Watcher(state ? std::move(*state) : nullptr);
}

Watcher::Watcher(std::unique_ptr<client_detail::WatcherState> state) noexcept : state_(std::move(state)) {}
Watcher::Watcher(const Watcher& o) : state_(client_detail::clone(o.state_)) {}
Watcher& Watcher::operator=(const Watcher& o) {
  if (this != &o) state_ = client_detail::clone(o.state_);
  return *this;
}
Watcher::Watcher(Watcher&&) noexcept = default;
Watcher& Watcher::operator=(Watcher&&) noexcept = default;
Watcher::~Watcher() = default;

std::uint64_t Watcher::position() const noexcept { return state_ ? state_->next : 0; }

Result<std::vector<Event>> Watcher::next(std::chrono::nanoseconds timeout) {
  if (!state_)
    return std::unexpected(
        Error{Errc::out_of_memory, "this watcher has no state: moved from, or watch() ran out of memory"});
  return guarded([&]() -> Result<std::vector<Event>> {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto& reader = state_->registry.client->reader;
    const auto& view = state_->registry.view;
    for (;;) {
      // Counter before reading, as in await: an event that lands after the read
      // changes the counter, so the wait below returns at once.
      const std::uint32_t seen = shm::change_counter(reader, view);
      std::uint64_t next = state_->next;
      auto batch = read_events(state_->registry, state_->next, 1024, next);
      if (!batch) return std::unexpected(std::move(batch.error()));
      state_->next = next;
      std::vector<Event> out;
      for (auto& e : *batch)
        if (!state_->key || e.type == EventType::lagged || e.type == EventType::resync || e.key == *state_->key)
          out.push_back(std::move(e));
      if (!out.empty()) return out;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return out;
      shm::wait_for_change(reader, view, seen, deadline - now);
    }
  });
}

}  // namespace shmreg
