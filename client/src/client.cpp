// libshmreg: the read side of the client, over shm::SegmentReader.
#include <cstdlib>
#include <mutex>

#include "connection.hpp"
#include "client_access.hpp"
#include "registry_access.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg {

namespace {

Error error_from(shm::Errc e) {
  Errc code = Errc::io_error;
  switch (e) {
    case shm::Errc::segment_not_found: code = Errc::segment_not_found; break;
    case shm::Errc::permission_denied: code = Errc::permission_denied; break;
    case shm::Errc::bad_magic:
    case shm::Errc::version_mismatch:
    case shm::Errc::abi_mismatch:
    case shm::Errc::segment_truncated: code = Errc::incompatible_segment; break;
    case shm::Errc::corrupt: code = Errc::corrupt_segment; break;
    case shm::Errc::registry_not_found: code = Errc::registry_not_found; break;
    case shm::Errc::invalid_argument: code = Errc::invalid_argument; break;
    case shm::Errc::retry_exhausted: code = Errc::busy; break;
    default: break;
  }
  return Error{code, std::string(shm::to_string(e))};
}

template <class T>
Result<T> lift(shm::Result<T>&& r) {
  if (!r) return std::unexpected(error_from(r.error()));
  return std::move(*r);
}

Entry to_entry(shm::Entry&& e) { return Entry{std::move(e.key), std::move(e.value), e.pid, e.version}; }

}  // namespace

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::segment_not_found: return "segment_not_found";
    case Errc::permission_denied: return "permission_denied";
    case Errc::incompatible_segment: return "incompatible_segment";
    case Errc::corrupt_segment: return "corrupt_segment";
    case Errc::registry_not_found: return "registry_not_found";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::busy: return "busy";
    case Errc::io_error: return "io_error";
    case Errc::broker_unavailable: return "broker_unavailable";
    case Errc::already_registered: return "already_registered";
    case Errc::registry_exists: return "registry_exists";
    case Errc::key_too_long: return "key_too_long";
    case Errc::value_too_long: return "value_too_long";
    case Errc::registry_full: return "registry_full";
    case Errc::capacity_exhausted: return "capacity_exhausted";
    case Errc::protocol_error: return "protocol_error";
    case Errc::not_found: return "not_found";
    case Errc::version_conflict: return "version_conflict";
    case Errc::reply_too_large: return "reply_too_large";
    case Errc::no_mailbox: return "no_mailbox";
    case Errc::mailbox_full: return "mailbox_full";
    case Errc::message_too_large: return "message_too_large";
    case Errc::mailbox_exists: return "mailbox_exists";
  }
  return "unknown";
}

struct Client::Impl {
  Impl(std::string n, std::string sock, shm::SegmentReader r)
      : ns(std::move(n)), socket(std::move(sock)), reader(std::move(r)), conn(socket) {}
  const std::string ns;
  const std::string socket;
  const shm::SegmentReader reader;
  std::mutex mu;  // guards conn; lookups never take it
  client_detail::Connection conn;

  Result<proto::OpResult> call(proto::Op op);
  // pidfds go with the frame (SCM_RIGHTS), for ops that act for another process.
  Result<std::vector<proto::OpResult>> call_batch(const std::vector<proto::Op>& ops,
                                                  std::span<const int> pidfds = {});
};

struct Registry::Impl {
  std::shared_ptr<const Client::Impl> client;
  shm::RegistryView view;
};

namespace {

Error error_from(const proto::OpResult& r) {
  Errc code = Errc::protocol_error;
  switch (r.status) {
    case proto::Status::ok: break;
    case proto::Status::already_registered: code = Errc::already_registered; break;
    case proto::Status::not_found: code = Errc::not_found; break;
    case proto::Status::registry_not_found: code = Errc::registry_not_found; break;
    case proto::Status::registry_exists: code = Errc::registry_exists; break;
    case proto::Status::invalid_argument: code = Errc::invalid_argument; break;
    case proto::Status::key_too_long: code = Errc::key_too_long; break;
    case proto::Status::value_too_long: code = Errc::value_too_long; break;
    case proto::Status::registry_full: code = Errc::registry_full; break;
    case proto::Status::owner_table_full:
    case proto::Status::segment_full:
    case proto::Status::too_many_registries: code = Errc::capacity_exhausted; break;
    case proto::Status::permission_denied: code = Errc::permission_denied; break;
    case proto::Status::internal_error: code = Errc::io_error; break;
    case proto::Status::version_conflict: code = Errc::version_conflict; break;
    case proto::Status::reply_too_large: code = Errc::reply_too_large; break;
    case proto::Status::no_mailbox: code = Errc::no_mailbox; break;
    case proto::Status::mailbox_full: code = Errc::mailbox_full; break;
    case proto::Status::message_too_large: code = Errc::message_too_large; break;
    case proto::Status::mailbox_exists: code = Errc::mailbox_exists; break;
    // The broker does not send these yet; the client's error contract gives
    // each its own code in the architecture change that follows.
    case proto::Status::meta_too_large:
    case proto::Status::stale_owner:
    case proto::Status::io_error: code = Errc::io_error; break;
    case proto::Status::segment_corrupt: code = Errc::corrupt_segment; break;
    case proto::Status::busy: code = Errc::busy; break;
  }
  Error e{code, r.message.empty() ? std::string(proto::to_string(r.status)) : r.message};
  if (r.status == proto::Status::already_registered) e.pid = static_cast<std::uint32_t>(r.value);
  return e;
}

}  // namespace

Result<std::vector<proto::OpResult>> Client::Impl::call_batch(const std::vector<proto::Op>& ops,
                                                              std::span<const int> pidfds) {
  try {
    std::lock_guard<std::mutex> guard(mu);
    auto r = conn.call(ops, pidfds);
    if (!r) {
      Error e{Errc::broker_unavailable, r.error().message};
      e.maybe_applied = r.error().maybe_applied;
      return std::unexpected(std::move(e));
    }
    return std::move(*r);
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<proto::OpResult> Client::Impl::call(proto::Op op) {
  try {
    auto r = call_batch({std::move(op)});
    if (!r) return std::unexpected(std::move(r.error()));
    proto::OpResult res = std::move(r->front());
    if (res.status != proto::Status::ok) return std::unexpected(error_from(res));
    return res;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

WriteBatch& WriteBatch::register_key(std::string_view registry, std::string_view key, std::string_view value) {
  ops_.push_back(Op{true, std::string(registry), std::string(key), std::string(value)});
  return *this;
}

WriteBatch& WriteBatch::unregister(std::string_view registry, std::string_view key) {
  ops_.push_back(Op{false, std::string(registry), std::string(key), {}});
  return *this;
}

Result<std::vector<Result<std::uint64_t>>> Client::apply(const WriteBatch& batch) const noexcept {
  try {
    if (batch.empty()) return std::vector<Result<std::uint64_t>>{};
    if (batch.size() > proto::kMaxBatch)
      return std::unexpected(Error{Errc::invalid_argument,
                                   "a batch holds at most " + std::to_string(proto::kMaxBatch) + " ops"});
    std::vector<proto::Op> ops;
    ops.reserve(batch.size());
    for (const auto& op : batch.ops_) {
      if (op.is_register)
        ops.emplace_back(proto::RegisterKey{op.registry, op.key, op.value});
      else
        ops.emplace_back(proto::Unregister{op.registry, op.key});
    }
    auto r = impl_->call_batch(ops);
    if (!r) return std::unexpected(std::move(r.error()));
    std::vector<Result<std::uint64_t>> out;
    out.reserve(r->size());
    for (const auto& res : *r) {
      if (res.status == proto::Status::ok)
        out.emplace_back(res.value);
      else
        out.emplace_back(std::unexpected(error_from(res)));
    }
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Client::Client(std::shared_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::open(const ClientOptions& options) noexcept {
  try {
    std::string ns = options.ns;
    if (ns.empty()) {
      const char* env = std::getenv("SHMREG_NAMESPACE");
      ns = env != nullptr && *env != '\0' ? env : "default";
    }
    if (!shm::validate_namespace(ns))
      return std::unexpected(Error{Errc::invalid_argument, "invalid namespace '" + ns + "'"});
    auto reader = shm::SegmentReader::open(ns);
    if (!reader) {
      Error e = error_from(reader.error());
      e.message = "namespace '" + ns + "': " + e.message;
      return std::unexpected(std::move(e));
    }
    return Client(std::make_shared<Impl>(ns, proto::client_socket_path(options.socket, ns), std::move(*reader)));
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

const std::string& Client::ns() const noexcept { return impl_->ns; }
const std::string& Client::socket_path() const noexcept { return impl_->socket; }

Result<std::uint32_t> Client::ping() const noexcept {
  auto r = impl_->call(proto::Ping{});
  if (!r) return std::unexpected(r.error());
  return static_cast<std::uint32_t>(r->value);
}

Result<void> Client::create_registry(std::string_view name, const RegistryOptions& o) const noexcept {
  try {
    auto r = impl_->call(proto::CreateRegistry{std::string(name), static_cast<std::uint8_t>(o.unique ? 1 : 2),
                                               o.partitions, o.max_key, o.max_value, o.capacity, o.meta});
    if (!r) return std::unexpected(r.error());
    return {};
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::uint64_t> Client::register_key(std::string_view registry, std::string_view key,
                                           std::string_view value) const noexcept {
  try {
    auto r = impl_->call(proto::RegisterKey{std::string(registry), std::string(key), std::string(value)});
    if (!r) return std::unexpected(r.error());
    return r->value;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::uint32_t> Client::unregister(std::string_view registry, std::string_view key) const noexcept {
  try {
    auto r = impl_->call(proto::Unregister{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(r.error());
    return static_cast<std::uint32_t>(r->value);
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::uint32_t> Client::unregister_all() const noexcept {
  auto r = impl_->call(proto::UnregisterAll{});
  if (!r) return std::unexpected(r.error());
  return static_cast<std::uint32_t>(r->value);
}

Result<Registry> Client::registry(std::string_view name) const noexcept {
  auto view = impl_->reader.registry(name);
  if (!view) {
    Error e = error_from(view.error());
    e.message = "registry '" + std::string(name) + "': " + e.message;
    return std::unexpected(std::move(e));
  }
  return Registry(std::make_unique<Registry::Impl>(Registry::Impl{impl_, *view}));
}

Result<std::vector<std::string>> Client::registry_names() const noexcept {
  try {
    auto all = impl_->reader.registries();
    if (!all) return std::unexpected(error_from(all.error()));
    std::vector<std::string> out;
    for (const auto& v : *all) out.emplace_back(v.name());
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Registry::Registry(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Registry::Registry(const Registry& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Registry& Registry::operator=(const Registry& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;
Registry::~Registry() = default;

std::string_view Registry::name() const noexcept { return impl_->view.name(); }
bool Registry::unique() const noexcept { return impl_->view.kind() == shm::RegistryKind::unique; }
std::uint32_t Registry::partitions() const noexcept { return impl_->view.partitions(); }

Result<std::size_t> Registry::lookup_views(std::string_view key, ViewFn fn, void* ctx) const noexcept {
  auto n = impl_->client->reader.lookup(impl_->view, key, [&](std::span<const shm::EntryView> views) {
    // shm::EntryView and shmreg::EntryView have the same members. One entry
    // (every unique hit) converts on the stack; more go through a reused
    // per-thread buffer, so fn sees all entries in one call, allocation-free
    // once warm.
    if (views.size() == 1) {
      const EntryView one{views[0].key, views[0].value, views[0].pid, views[0].version};
      fn(ctx, std::span<const EntryView>(&one, 1));
      return;
    }
    thread_local std::vector<EntryView> many;
    many.clear();
    try {
      many.reserve(views.size());
    } catch (const std::bad_alloc&) {
      // No memory for the batch: hand the entries over one at a time.
      for (const auto& v : views) {
        const EntryView one{v.key, v.value, v.pid, v.version};
        fn(ctx, std::span<const EntryView>(&one, 1));
      }
      return;
    }
    for (const auto& v : views) many.push_back(EntryView{v.key, v.value, v.pid, v.version});
    fn(ctx, std::span<const EntryView>(many));
  });
  if (!n) return std::unexpected(error_from(n.error()));
  return *n;
}

Result<std::vector<Entry>> Registry::lookup(std::string_view key) const noexcept {
  try {
    auto r = impl_->client->reader.lookup_copy(impl_->view, key);
    if (!r) return std::unexpected(error_from(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(to_entry(std::move(e)));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::optional<std::string>> Registry::lookup_value(std::string_view key) const noexcept {
  try {
    std::string value;
    auto r = impl_->client->reader.lookup_value(impl_->view, key, value);
    if (!r) return std::unexpected(error_from(r.error()));
    if (!*r) return std::optional<std::string>();
    return std::optional<std::string>(std::move(value));
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::vector<std::string>> Registry::keys(std::uint32_t pid) const noexcept {
  try {
    return lift(impl_->client->reader.keys(impl_->view, pid));
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::vector<Entry>> Registry::values(std::string_view key, std::uint32_t pid) const noexcept {
  try {
    auto r = impl_->client->reader.values(impl_->view, key, pid);
    if (!r) return std::unexpected(error_from(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(to_entry(std::move(e)));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

Result<std::uint64_t> Registry::count() const noexcept {
  return lift(impl_->client->reader.count(impl_->view));
}

Result<std::vector<Entry>> Registry::list() const noexcept {
  try {
    std::vector<Entry> out;
    auto n = impl_->client->reader.for_each(impl_->view, [&](const shm::Entry& e) {
      out.push_back(Entry{e.key, e.value, e.pid, e.version});
    });
    if (!n) return std::unexpected(error_from(n.error()));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::io_error, "out of memory"});
  }
}

// For query.cpp (registry_access.hpp).
const shm::SegmentReader& client_detail::reader_of(const Registry::Impl* impl) noexcept {
  return impl->client->reader;
}
const shm::RegistryView& client_detail::view_of(const Registry::Impl* impl) noexcept { return impl->view; }
Error client_detail::error_from_reader(shm::Errc e) { return error_from(e); }

// For semantics.cpp (client_access.hpp).
Result<std::vector<proto::OpResult>> client_detail::exchange(Client::Impl* impl, const std::vector<proto::Op>& ops,
                                                             std::span<const int> pidfds) {
  return impl->call_batch(ops, pidfds);
}
const shm::SegmentReader& client_detail::reader_of(const Client::Impl* impl) noexcept { return impl->reader; }
Error client_detail::error_from_reply(const proto::OpResult& r) { return error_from(r); }

}  // namespace shmreg
