// The client's error contract (see errors.hpp) and the text of every code.
#include "errors.hpp"

namespace shmreg {

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
    case Errc::owner_table_full: return "owner_table_full";
    case Errc::protocol_error: return "protocol_error";
    case Errc::not_found: return "not_found";
    case Errc::version_conflict: return "version_conflict";
    case Errc::reply_too_large: return "reply_too_large";
    case Errc::no_mailbox: return "no_mailbox";
    case Errc::mailbox_full: return "mailbox_full";
    case Errc::message_too_large: return "message_too_large";
    case Errc::mailbox_exists: return "mailbox_exists";
    case Errc::segment_full: return "segment_full";
    case Errc::too_many_registries: return "too_many_registries";
    case Errc::meta_too_large: return "meta_too_large";
    case Errc::stale_owner: return "stale_owner";
    case Errc::out_of_memory: return "out_of_memory";
    case Errc::internal_error: return "internal_error";
    case Errc::timeout: return "timeout";
    case Errc::untrusted: return "untrusted";
    case Errc::quota_exceeded: return "quota_exceeded";
    case Errc::reload_failed: return "reload_failed";
    case Errc::reload_forbidden: return "reload_forbidden";
    case Errc::segment_replaced: return "segment_replaced";
    case Errc::cluster_unavailable: return "cluster_unavailable";
  }
  return "unknown";
}

namespace client_detail {

Errc from_shm(shm::Errc e) noexcept {
  switch (e) {
    case shm::Errc::segment_not_found: return Errc::segment_not_found;
    case shm::Errc::permission_denied: return Errc::permission_denied;
    case shm::Errc::bad_magic:
    case shm::Errc::version_mismatch:
    case shm::Errc::abi_mismatch:
    case shm::Errc::segment_truncated: return Errc::incompatible_segment;
    case shm::Errc::no_space:  // /dev/shm refused the space: an OS failure
    case shm::Errc::io_error: return Errc::io_error;
    case shm::Errc::registry_not_found: return Errc::registry_not_found;
    case shm::Errc::registry_exists: return Errc::registry_exists;
    case shm::Errc::too_many_registries: return Errc::too_many_registries;
    case shm::Errc::invalid_argument: return Errc::invalid_argument;
    case shm::Errc::key_too_long: return Errc::key_too_long;
    case shm::Errc::value_too_long: return Errc::value_too_long;
    case shm::Errc::already_registered: return Errc::already_registered;
    case shm::Errc::not_found: return Errc::not_found;
    case shm::Errc::registry_full: return Errc::registry_full;
    case shm::Errc::owner_table_full: return Errc::owner_table_full;
    case shm::Errc::segment_full: return Errc::segment_full;
    case shm::Errc::stale_owner: return Errc::stale_owner;
    case shm::Errc::meta_too_large: return Errc::meta_too_large;
    case shm::Errc::version_conflict: return Errc::version_conflict;
    case shm::Errc::corrupt: return Errc::corrupt_segment;
    case shm::Errc::retry_exhausted: return Errc::busy;
    case shm::Errc::superseded: return Errc::segment_replaced;
    // Only the creator of a segment sees it; the client never creates one.
    case shm::Errc::segment_exists: return Errc::internal_error;
  }
  return Errc::internal_error;  // not an enumerator: shm/ never makes one
}

Errc from_status(proto::Status s) noexcept {
  switch (s) {
    case proto::Status::already_registered: return Errc::already_registered;
    case proto::Status::not_found: return Errc::not_found;
    case proto::Status::registry_not_found: return Errc::registry_not_found;
    case proto::Status::registry_exists: return Errc::registry_exists;
    case proto::Status::invalid_argument: return Errc::invalid_argument;
    case proto::Status::key_too_long: return Errc::key_too_long;
    case proto::Status::value_too_long: return Errc::value_too_long;
    case proto::Status::registry_full: return Errc::registry_full;
    case proto::Status::owner_table_full: return Errc::owner_table_full;
    case proto::Status::segment_full: return Errc::segment_full;
    case proto::Status::too_many_registries: return Errc::too_many_registries;
    case proto::Status::permission_denied: return Errc::permission_denied;
    case proto::Status::internal_error: return Errc::internal_error;
    case proto::Status::version_conflict: return Errc::version_conflict;
    case proto::Status::reply_too_large: return Errc::reply_too_large;
    case proto::Status::no_mailbox: return Errc::no_mailbox;
    case proto::Status::mailbox_full: return Errc::mailbox_full;
    case proto::Status::message_too_large: return Errc::message_too_large;
    case proto::Status::mailbox_exists: return Errc::mailbox_exists;
    case proto::Status::meta_too_large: return Errc::meta_too_large;
    case proto::Status::stale_owner: return Errc::stale_owner;
    case proto::Status::segment_corrupt: return Errc::corrupt_segment;
    case proto::Status::busy: return Errc::busy;
    case proto::Status::io_error: return Errc::io_error;
    case proto::Status::quota_exceeded: return Errc::quota_exceeded;
    case proto::Status::reload_failed: return Errc::reload_failed;
    case proto::Status::reload_forbidden: return Errc::reload_forbidden;
    case proto::Status::cluster_unavailable: return Errc::cluster_unavailable;
    // Not a failure; a caller that passes it has misread the reply.
    case proto::Status::ok: return Errc::protocol_error;
  }
  return Errc::protocol_error;  // not an enumerator: the wire parser refuses those
}

Error error_from_shm(shm::Errc e) { return Error{from_shm(e), std::string(shm::to_string(e))}; }

Error error_from_connection(ConnectionError&& c) {
  const Errc code = c.untrusted         ? Errc::untrusted
                   : c.timed_out       ? Errc::timeout
                   : c.malformed_reply ? Errc::protocol_error
                                       : Errc::broker_unavailable;
  Error e{code, std::move(c.message)};
  e.maybe_applied = c.maybe_applied;
  return e;
}

Error error_from_reply(const proto::OpResult& r) {
  Error e{from_status(r.status), r.message.empty() ? std::string(proto::to_string(r.status)) : r.message};
  if (r.status == proto::Status::already_registered) e.pid = static_cast<std::uint32_t>(r.value);
  return e;
}

}  // namespace client_detail

}  // namespace shmreg
