// libshmreg: owner queues (request_name, owner_queue) and event streams
// (events, await, Watcher), over shm/events.hpp and the broker.
#include "client_access.hpp"
#include "registry_access.hpp"
#include "shmreg/shm/events.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg {

namespace {

using client_detail::error_from_reader;
using client_detail::reader_of;
using client_detail::view_of;

Event to_event(shm::Event&& e) {
  return Event{e.seq, static_cast<EventType>(e.type), std::move(e.key), e.pid, e.old_pid, e.version, e.time_ns};
}

Error out_of_memory() { return Error{Errc::io_error, "out of memory"}; }

}  // namespace

std::string_view to_string(EventType t) noexcept { return shm::to_string(static_cast<shm::EventType>(t)); }

std::string_view to_string(QueueReply r) noexcept {
  switch (r) {
    case QueueReply::primary_owner: return "primary_owner";
    case QueueReply::in_queue: return "in_queue";
    case QueueReply::exists: return "exists";
    case QueueReply::already_owner: return "already_owner";
  }
  return "unknown";
}

Result<QueueResult> Client::request_name(std::string_view registry, std::string_view key, std::string_view value,
                                         std::uint8_t flags) const noexcept {
  try {
    if ((flags & ~(kAllowReplacement | kDoNotQueue | kReplaceExisting)) != 0)
      return std::unexpected(Error{Errc::invalid_argument, "unknown owner-queue flags"});
    std::vector<proto::Op> ops;
    ops.emplace_back(proto::RegisterQueued{std::string(registry), std::string(key), std::string(value), flags});
    auto r = client_detail::exchange(impl_.get(), ops);
    if (!r) return std::unexpected(std::move(r.error()));
    const proto::OpResult& res = r->front();
    if (res.status != proto::Status::ok) return std::unexpected(client_detail::error_from_reply(res));
    const auto reply = static_cast<std::uint32_t>(res.value & 0xff);
    if (reply < 1 || reply > 4) return std::unexpected(Error{Errc::protocol_error, "unknown owner-queue reply"});
    return QueueResult{static_cast<QueueReply>(reply), static_cast<std::uint32_t>(res.value >> 8)};
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::vector<Entry>> Registry::owner_queue(std::string_view key) const noexcept {
  try {
    auto r = reader_of(impl_.get()).owner_queue(view_of(impl_.get()), key);
    if (!r) return std::unexpected(error_from_reader(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(Entry{std::move(e.key), std::move(e.value), e.pid, e.version});
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::uint64_t> Registry::event_head() const noexcept {
  return shm::event_head(reader_of(impl_.get()), view_of(impl_.get()));
}

Result<std::vector<Event>> Registry::events(std::uint64_t from, std::size_t max, std::uint64_t& next) const noexcept {
  try {
    auto r = shm::read_events(reader_of(impl_.get()), view_of(impl_.get()), from, max, next);
    if (!r) return std::unexpected(error_from_reader(r.error()));
    std::vector<Event> out;
    out.reserve(r->size());
    for (auto& e : *r) out.push_back(to_event(std::move(e)));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<bool> Registry::await(std::string_view key, std::chrono::nanoseconds timeout) const noexcept {
  try {
    auto r = shm::await_key(reader_of(impl_.get()), view_of(impl_.get()), key, timeout);
    if (!r) return std::unexpected(error_from_reader(r.error()));
    return *r;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Watcher Registry::watch(std::optional<std::string> key, std::optional<std::uint64_t> from) const noexcept {
  Watcher w;
  w.registry_ = std::make_shared<const Registry>(*this);
  w.key_ = std::move(key);
  w.next_ = from ? *from : shm::event_head(reader_of(impl_.get()), view_of(impl_.get())) + 1;
  return w;
}

Result<std::vector<Event>> Watcher::next(std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto& reader = client_detail::reader_of(registry_->impl_.get());
  const auto& view = client_detail::view_of(registry_->impl_.get());
  for (;;) {
    // Counter before reading, as in await: an event that lands after the read
    // changes the counter, so the wait below returns at once.
    const std::uint32_t seen = shm::change_counter(reader, view);
    std::uint64_t next = next_;
    auto batch = registry_->events(next_, 1024, next);
    if (!batch) return std::unexpected(batch.error());
    next_ = next;
    std::vector<Event> out;
    for (auto& e : *batch)
      if (!key_ || e.type == EventType::lagged || e.type == EventType::resync || e.key == *key_)
        out.push_back(std::move(e));
    if (!out.empty()) return out;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return out;
    shm::wait_for_change(reader, view, seen, deadline - now);
  }
}

}  // namespace shmreg
