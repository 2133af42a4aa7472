// libshmreg, op family "registration": register_key (for the caller or, with
// a pidfd, for another process), owner queues (request_name, owner_queue),
// unregister, unregister_all, unregister_match, and write batches.
#include "acting_for.hpp"
#include "client_state.hpp"
#include "errors.hpp"
#include "shmreg/proto/pattern.hpp"

namespace shmreg {

using client_detail::ActingFor;
using client_detail::guarded;

std::string_view to_string(QueueReply r) noexcept {
  switch (r) {
    case QueueReply::primary_owner: return "primary_owner";
    case QueueReply::in_queue: return "in_queue";
    case QueueReply::exists: return "exists";
    case QueueReply::already_owner: return "already_owner";
  }
  return "unknown";
}

Result<std::uint64_t> Client::register_key(std::string_view registry, std::string_view key,
                                           std::string_view value) const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::RegisterKey{std::string(registry), std::string(key), std::string(value)});
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  });
}

Result<std::uint64_t> Client::register_key_for(const ProcessRef& owner, std::string_view registry,
                                               std::string_view key, std::string_view value) const noexcept {
  if (owner.is_self()) return register_key(registry, key, value);
  return guarded([&]() -> Result<std::uint64_t> {
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = state_->call(
        client_detail::Deadline::after(timeout_),
        proto::RegisterOnBehalf{std::string(registry), std::string(key), std::string(value), acting->target()},
        acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  });
}

Result<QueueResult> Client::request_name(std::string_view registry, std::string_view key, std::string_view value,
                                         std::uint8_t flags) const noexcept {
  return guarded([&]() -> Result<QueueResult> {
    if ((flags & ~(kAllowReplacement | kDoNotQueue | kReplaceExisting)) != 0)
      return std::unexpected(Error{Errc::invalid_argument, "unknown owner-queue flags"});
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::RegisterQueued{std::string(registry), std::string(key), std::string(value), flags});
    if (!r) return std::unexpected(std::move(r.error()));
    const auto reply = static_cast<std::uint32_t>(r->value & 0xff);
    if (reply < 1 || reply > 4) return std::unexpected(Error{Errc::protocol_error, "unknown owner-queue reply"});
    return QueueResult{static_cast<QueueReply>(reply), static_cast<std::uint32_t>(r->value >> 8)};
  });
}

Result<std::vector<Entry>> Registry::owner_queue(std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    auto r = state_->client->reader.owner_queue(state_->view, key);
    if (!r) return std::unexpected(client_detail::error_from_shm(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(client_detail::to_entry(std::move(e)));
    return out;
  });
}

Result<std::uint32_t> Client::unregister(std::string_view registry, std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::uint32_t> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::Unregister{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    return static_cast<std::uint32_t>(r->value);
  });
}

Result<std::uint32_t> Client::unregister_all() const noexcept {
  return guarded([&]() -> Result<std::uint32_t> {
    auto r = state_->call(client_detail::Deadline::after(timeout_), proto::UnregisterAll{});
    if (!r) return std::unexpected(std::move(r.error()));
    return static_cast<std::uint32_t>(r->value);
  });
}

Result<std::uint32_t> Client::unregister_match(std::string_view registry, std::string_view key,
                                               std::string_view pattern, std::string_view guards,
                                               const ProcessRef& owner) const noexcept {
  return guarded([&]() -> Result<std::uint32_t> {
    // The broker checks too; checking here saves a round trip and gives the
    // same message.
    if (auto m = proto::Matcher::compile(pattern, guards); !m)
      return std::unexpected(Error{Errc::invalid_argument, m.error()});
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::UnregisterMatch{std::string(registry), std::string(key), std::string(pattern),
                                                 std::string(guards), acting->target()},
                          acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return static_cast<std::uint32_t>(r->value);
  });
}

WriteBatch::WriteBatch() noexcept = default;
WriteBatch::WriteBatch(const WriteBatch& o) : state_(client_detail::clone(o.state_)) {}
WriteBatch& WriteBatch::operator=(const WriteBatch& o) {
  if (this != &o) state_ = client_detail::clone(o.state_);
  return *this;
}
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;
WriteBatch::~WriteBatch() = default;

std::size_t WriteBatch::size() const noexcept { return state_ ? state_->ops.size() : 0; }

WriteBatch& WriteBatch::register_key(std::string_view registry, std::string_view key, std::string_view value) {
  if (!state_) state_ = std::make_unique<client_detail::WriteBatchState>();
  state_->ops.push_back({true, std::string(registry), std::string(key), std::string(value)});
  return *this;
}

WriteBatch& WriteBatch::unregister(std::string_view registry, std::string_view key) {
  if (!state_) state_ = std::make_unique<client_detail::WriteBatchState>();
  state_->ops.push_back({false, std::string(registry), std::string(key), {}});
  return *this;
}

Result<std::vector<Result<std::uint64_t>>> Client::apply(const WriteBatch& batch) const noexcept {
  using Results = std::vector<Result<std::uint64_t>>;
  return guarded([&]() -> Result<Results> {
    if (batch.empty()) return Results{};
    if (batch.size() > proto::kMaxBatch)
      return std::unexpected(Error{Errc::invalid_argument,
                                   "a batch holds at most " + std::to_string(proto::kMaxBatch) + " ops"});
    std::vector<proto::Op> ops;
    ops.reserve(batch.size());
    for (const auto& op : batch.state_->ops) {
      if (op.is_register)
        ops.emplace_back(proto::RegisterKey{op.registry, op.key, op.value});
      else
        ops.emplace_back(proto::Unregister{op.registry, op.key});
    }
    auto r = state_->call_batch(client_detail::Deadline::after(timeout_), ops);
    if (!r) return std::unexpected(std::move(r.error()));
    Results out;
    out.reserve(r->size());
    for (const auto& res : *r) {
      if (res.status == proto::Status::ok)
        out.emplace_back(res.value);
      else
        out.emplace_back(std::unexpected(client_detail::error_from_reply(res)));
    }
    return out;
  });
}

}  // namespace shmreg
