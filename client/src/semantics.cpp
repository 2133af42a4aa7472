// libshmreg: update_value, meta, unregister_match, consistent lookups and
// writes on behalf of another process (declared in shmreg.hpp).
//
// Reads come from the mapped segment, as for every lookup; writes are one op
// each through the broker. A write for another process sends that process's
// pidfd with the request (fd_passing.hpp), and the op names it as target 1.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "client_access.hpp"
#include "fd_passing.hpp"
#include "registry_access.hpp"
#include "shmreg/proto/pattern.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg {

namespace {

Error out_of_memory() { return Error{Errc::io_error, "out of memory"}; }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// The process a call acts for: the caller, or one named by a pidfd that is
// either borrowed from the caller or opened here for a pid (and closed after).
class ActingFor {
 public:
  static Result<ActingFor> resolve(const ProcessRef& ref) {
    ActingFor a;
    if (ref.is_self()) {
      a.pid_ = static_cast<std::uint32_t>(::getpid());
      return a;
    }
    if (ref.pidfd_value() >= 0) {
      a.fd_ = ref.pidfd_value();
    } else {
      a.fd_ = client_detail::open_pidfd(ref.pid_value());
      if (a.fd_ < 0)
        return std::unexpected(Error{Errc::invalid_argument,
                                     errno == ESRCH ? "no process with pid " + std::to_string(ref.pid_value())
                                                    : std::string("pidfd_open: ") + std::strerror(errno)});
      a.owned_ = true;
    }
    a.pid_ = client_detail::pid_of_pidfd(a.fd_);
    if (a.pid_ == 0)
      return std::unexpected(Error{Errc::invalid_argument, "the descriptor is not a pidfd of a live process"});
    return a;
  }

  ActingFor() = default;
  ActingFor(ActingFor&& o) noexcept : fd_(o.fd_), pid_(o.pid_), owned_(o.owned_) { o.owned_ = false; }
  ActingFor& operator=(ActingFor&&) = delete;
  ~ActingFor() {
    if (owned_) ::close(fd_);
  }

  std::uint32_t pid() const noexcept { return pid_; }
  // The op's target field, and what goes with the frame.
  std::uint8_t target() const noexcept { return fd_ >= 0 ? 1 : 0; }
  std::span<const int> pidfds() const noexcept { return fd_ >= 0 ? std::span<const int>(&fd_, 1) : std::span<const int>(); }

 private:
  int fd_ = -1;
  std::uint32_t pid_ = 0;
  bool owned_ = false;
};

// One op through the broker; a status other than ok becomes the Error.
Result<proto::OpResult> call_one(Client::Impl* impl, proto::Op op, std::span<const int> pidfds = {}) {
  std::vector<proto::Op> ops;
  ops.push_back(std::move(op));
  auto r = client_detail::exchange(impl, ops, pidfds);
  if (!r) return std::unexpected(std::move(r.error()));
  proto::OpResult res = std::move(r->front());
  if (res.status != proto::Status::ok) return std::unexpected(client_detail::error_from_reply(res));
  return res;
}

Result<shm::RegistryView> registry_view(const Client::Impl* impl, std::string_view name) {
  auto view = client_detail::reader_of(impl).registry(name);
  if (!view) {
    Error e = client_detail::error_from_reader(view.error());
    e.message = "registry " + quoted(name) + ": " + e.message;
    return std::unexpected(std::move(e));
  }
  return *view;
}

}  // namespace

Result<std::uint64_t> Client::register_key_for(const ProcessRef& owner, std::string_view registry,
                                               std::string_view key, std::string_view value) const noexcept {
  try {
    if (owner.is_self()) return register_key(registry, key, value);
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = call_one(impl_.get(),
                      proto::RegisterOnBehalf{std::string(registry), std::string(key), std::string(value), 1},
                      acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::uint64_t> Client::set_value(std::string_view registry, std::string_view key, std::string_view value,
                                        std::optional<std::uint64_t> expected_version,
                                        const ProcessRef& owner) const noexcept {
  try {
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = call_one(impl_.get(),
                      proto::UpdateValue{std::string(registry), std::string(key), std::string(value), acting->target(),
                                         expected_version},
                      acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<ValueUpdate> Client::update_value(std::string_view registry, std::string_view key,
                                         const std::function<std::string(std::string_view)>& fn,
                                         const ProcessRef& owner) const noexcept {
  try {
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto view = registry_view(impl_.get(), registry);
    if (!view) return std::unexpected(std::move(view.error()));
    if (view->kind() != shm::RegistryKind::unique)
      return std::unexpected(Error{Errc::invalid_argument, "update_value needs a unique registry; " +
                                                               quoted(registry) + " has duplicate keys"});
    const auto& reader = client_detail::reader_of(impl_.get());
    for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
      auto mine = reader.values(*view, key, acting->pid());
      if (!mine) return std::unexpected(client_detail::error_from_reader(mine.error()));
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
      auto r = call_one(impl_.get(),
                        proto::UpdateValue{std::string(registry), std::string(key), next, acting->target(), old.version},
                        acting->pidfds());
      if (r) return ValueUpdate{std::move(next), std::move(old.value), r->value};
      // Another write (another thread, or a writer acting for this process)
      // got in between: read the entry again.
      if (r.error().code != Errc::version_conflict) return std::unexpected(std::move(r.error()));
    }
    return std::unexpected(Error{Errc::version_conflict, "update_value: the entry changed under each of " +
                                                             std::to_string(kMaxUpdateAttempts) + " attempts"});
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::uint32_t> Client::unregister_match(std::string_view registry, std::string_view key,
                                               std::string_view pattern, std::string_view guards,
                                               const ProcessRef& owner) const noexcept {
  try {
    // The broker checks too; checking here saves a round trip and gives the
    // same message.
    if (auto m = proto::Matcher::compile(pattern, guards); !m)
      return std::unexpected(Error{Errc::invalid_argument, m.error()});
    auto acting = ActingFor::resolve(owner);
    if (!acting) return std::unexpected(std::move(acting.error()));
    auto r = call_one(impl_.get(),
                      proto::UnregisterMatch{std::string(registry), std::string(key), std::string(pattern),
                                             std::string(guards), acting->target()},
                      acting->pidfds());
    if (!r) return std::unexpected(std::move(r.error()));
    return static_cast<std::uint32_t>(r->value);
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<void> Client::put_meta(std::string_view registry, std::string_view key, std::string_view value) const noexcept {
  try {
    auto r = call_one(impl_.get(), proto::PutMeta{std::string(registry), std::string(key), std::string(value)});
    if (!r) return std::unexpected(std::move(r.error()));
    return {};
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<bool> Client::delete_meta(std::string_view registry, std::string_view key) const noexcept {
  try {
    auto r = call_one(impl_.get(), proto::DeleteMeta{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value != 0;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::vector<Entry>> Client::lookup_consistent(std::string_view registry, std::string_view key) const noexcept {
  try {
    auto r = call_one(impl_.get(), proto::LookupConsistent{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    auto entries = proto::decode_entries(r->data);
    if (!entries)
      return std::unexpected(Error{Errc::protocol_error, "malformed entries from the broker: " +
                                                             std::string(proto::to_string(entries.error()))});
    std::vector<Entry> out;
    out.reserve(entries->size());
    for (auto& e : *entries) out.push_back(Entry{std::move(e.key), std::move(e.value), e.pid, e.version});
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::vector<std::pair<std::string, std::string>>> Registry::meta() const noexcept {
  try {
    auto m = client_detail::reader_of(impl_.get()).meta(client_detail::view_of(impl_.get()));
    if (!m) return std::unexpected(client_detail::error_from_reader(m.error()));
    return std::move(*m);
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::optional<std::string>> Registry::meta(std::string_view key) const noexcept {
  auto all = meta();
  if (!all) return std::unexpected(std::move(all.error()));
  for (auto& [k, v] : *all)
    if (k == key) return std::optional<std::string>(std::move(v));
  return std::optional<std::string>();
}

}  // namespace shmreg
