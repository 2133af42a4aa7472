// libshmreg: opening a namespace (Client), handing out Registry handles, and
// the round trip to the broker that every write takes.
#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "client_state.hpp"
#include "errors.hpp"
#include "shmreg/proto/paths.hpp"
#include "trust.hpp"

namespace shmreg {

namespace client_detail {

Result<std::vector<proto::OpResult>> ClientState::call_batch(const Deadline& deadline,
                                                             const std::vector<proto::Op>& ops,
                                                             std::span<const int> pidfds) {
  // A write would land in the broker's new file, which this client cannot
  // see: it would succeed and stay invisible to every read it makes. Refused
  // before sending, so nothing is applied.
  if (reader.superseded()) return std::unexpected(error_from_shm(shm::Errc::superseded));
  std::lock_guard<std::mutex> guard(mu);
  auto r = conn.call(ops, pidfds, deadline);
  if (!r) return std::unexpected(error_from_connection(std::move(r.error())));
  return std::move(*r);
}

Result<proto::OpResult> ClientState::call(const Deadline& deadline, proto::Op op, std::span<const int> pidfds) {
  std::vector<proto::Op> ops;
  ops.push_back(std::move(op));
  auto r = call_batch(deadline, ops, pidfds);
  if (!r) return std::unexpected(std::move(r.error()));
  proto::OpResult res = std::move(r->front());
  if (res.status != proto::Status::ok) return std::unexpected(error_from_reply(res));
  return res;
}

Result<shm::RegistryView> ClientState::registry_view(std::string_view name) const {
  auto view = reader.registry(name);
  if (!view) {
    Error e = error_from_shm(view.error());
    e.message = "registry '" + std::string(name) + "': " + e.message;
    return std::unexpected(std::move(e));
  }
  return *view;
}

}  // namespace client_detail

using client_detail::guarded;

Client::Client(std::shared_ptr<client_detail::ClientState> state, std::chrono::nanoseconds timeout) noexcept
    : state_(std::move(state)), timeout_(timeout) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::open(const ClientOptions& options) noexcept {
  return guarded([&]() -> Result<Client> {
    std::string ns = options.ns;
    if (ns.empty()) {
      const char* env = std::getenv("SHMREG_NAMESPACE");
      ns = env != nullptr && *env != '\0' ? env : "default";
    }
    if (options.timeout < std::chrono::nanoseconds::zero())
      return std::unexpected(Error{Errc::invalid_argument, "a negative timeout"});
    if (!shm::validate_namespace(ns))
      return std::unexpected(Error{Errc::invalid_argument, "invalid namespace '" + ns + "'"});
    const proto::NamespacePaths paths = proto::client_paths(options.socket, ns);
    auto segment = client_detail::open_trusted_segment(paths.segment());
    if (!segment) {
      segment.error().message = "namespace '" + ns + "': " + segment.error().message;
      return std::unexpected(std::move(segment.error()));
    }
    auto reader = shm::SegmentReader::open_fd(segment->fd.get());
    if (!reader) {
      Error e = client_detail::error_from_shm(reader.error());
      e.message = "namespace '" + ns + "': " + e.message;
      return std::unexpected(std::move(e));
    }
    return Client(std::make_shared<client_detail::ClientState>(ns, paths.socket, std::move(*reader), segment->owner),
                  options.timeout == std::chrono::nanoseconds::zero() ? kDefaultTimeout : options.timeout);
  });
}

Client Client::with_timeout(std::chrono::nanoseconds timeout) const noexcept {
  return Client(state_, std::max<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds(1)));
}

const std::string& Client::ns() const noexcept { return state_->ns; }
const std::string& Client::socket_path() const noexcept { return state_->socket; }

Result<Registry> Client::registry(std::string_view name) const noexcept {
  return guarded([&]() -> Result<Registry> {
    auto view = state_->registry_view(name);
    if (!view) return std::unexpected(std::move(view.error()));
    return Registry(std::make_unique<client_detail::RegistryState>(client_detail::RegistryState{state_, *view}));
  });
}

Registry::Registry(std::unique_ptr<client_detail::RegistryState> state) noexcept : state_(std::move(state)) {}
Registry::Registry(const Registry& o) : state_(client_detail::clone(o.state_)) {}
Registry& Registry::operator=(const Registry& o) {
  if (this != &o) state_ = client_detail::clone(o.state_);
  return *this;
}
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;
Registry::~Registry() = default;

std::string_view Registry::name() const noexcept { return state_->view.name(); }
bool Registry::unique() const noexcept { return state_->view.kind() == shm::RegistryKind::unique; }
std::uint32_t Registry::partitions() const noexcept { return state_->view.partitions(); }

}  // namespace shmreg
