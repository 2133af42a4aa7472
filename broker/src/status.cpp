// shm::Errc -> proto::Status, and the error replies (see status.hpp).
#include "status.hpp"

namespace shmreg::broker {

namespace {

constexpr std::size_t kMaxMessage = 1024;

}  // namespace

proto::Status status_of(shm::Errc e) noexcept {
  using proto::Status;
  switch (e) {
    case shm::Errc::permission_denied: return Status::permission_denied;
    case shm::Errc::io_error: return Status::io_error;
    case shm::Errc::registry_not_found: return Status::registry_not_found;
    case shm::Errc::registry_exists: return Status::registry_exists;
    case shm::Errc::too_many_registries: return Status::too_many_registries;
    case shm::Errc::invalid_argument: return Status::invalid_argument;
    case shm::Errc::key_too_long: return Status::key_too_long;
    case shm::Errc::value_too_long: return Status::value_too_long;
    case shm::Errc::already_registered: return Status::already_registered;
    case shm::Errc::not_found: return Status::not_found;
    case shm::Errc::registry_full: return Status::registry_full;
    case shm::Errc::owner_table_full: return Status::owner_table_full;
    case shm::Errc::segment_full: return Status::segment_full;
    case shm::Errc::stale_owner: return Status::stale_owner;
    case shm::Errc::meta_too_large: return Status::meta_too_large;
    case shm::Errc::version_conflict: return Status::version_conflict;
    case shm::Errc::corrupt: return Status::segment_corrupt;
    case shm::Errc::retry_exhausted: return Status::busy;
    // Outcomes of opening and attaching a segment. The broker's writer and
    // reader are attached before it serves any op, so none of these can
    // answer an op; if one ever does, it is the broker's fault.
    case shm::Errc::segment_not_found: return Status::internal_error;
    case shm::Errc::segment_exists: return Status::internal_error;
    case shm::Errc::no_space: return Status::internal_error;
    case shm::Errc::bad_magic: return Status::internal_error;
    case shm::Errc::version_mismatch: return Status::internal_error;
    case shm::Errc::abi_mismatch: return Status::internal_error;
    case shm::Errc::segment_truncated: return Status::internal_error;
    // The broker replaces its own reader when it supersedes a file
    // (segment_guard.hpp), so its reads never meet the mark.
    case shm::Errc::superseded: return Status::internal_error;
  }
  return Status::internal_error;  // not a valid Errc: the value came from a cast
}

proto::OpResult error_result(shm::Errc e, std::string message) {
  if (message.empty()) message = std::string(shm::to_string(e));
  return refusal(status_of(e), std::move(message));
}

proto::OpResult refusal(proto::Status s, std::string message) {
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + "...";
  return proto::OpResult{s, 0, std::move(message), {}};
}

}  // namespace shmreg::broker
