// The broker's half of the error contract: every shm::Errc becomes exactly one
// proto::Status, and every error reply is built here.
//
// status_of() is a switch over every shm::Errc with no default, so that a new
// code fails the build (-Wswitch) until it is given its status. Each code
// reaches the client as itself where the wire has a status of that meaning;
// `corrupt` becomes segment_corrupt, which the op table (op_table.hpp) also
// treats as a broken invariant, and `retry_exhausted` becomes busy.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/errc.hpp"

namespace shmreg::broker {

[[nodiscard]] proto::Status status_of(shm::Errc e) noexcept;

// The reply of an op that failed with e; the message defaults to e's text.
[[nodiscard]] proto::OpResult error_result(shm::Errc e, std::string message = {});

// The reply of an op the broker refuses on its own account (a bad argument it
// checked itself, a limit of the wire). Long messages are cut, since
// matcher errors quote the pattern.
[[nodiscard]] proto::OpResult refusal(proto::Status s, std::string message);

// The reply of an op that succeeded.
[[nodiscard]] inline proto::OpResult success(std::uint64_t value = 0, std::string data = {}) {
  return proto::OpResult{proto::Status::ok, value, {}, std::move(data)};
}

}  // namespace shmreg::broker
