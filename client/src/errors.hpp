// The client's half of shmreg's one error contract: how every outcome of the
// segment reader (shm::Errc) and of the broker (proto::Status) becomes the
// public shmreg::Errc, and the one place where running out of memory becomes
// Errc::out_of_memory. Every client source file reports errors through these.
//
// from_shm and from_status are exhaustive switches without a default, so a
// code added to shm/ or proto/ fails the build (-Wswitch) until it is mapped.
//
// Thread-safety: pure functions.
#pragma once

#include <new>
#include <string>
#include <utility>

#include "connection.hpp"
#include "shmreg/error.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/errc.hpp"

namespace shmreg::client_detail {

[[nodiscard]] Errc from_shm(shm::Errc e) noexcept;
// REQUIRES: s != proto::Status::ok.
[[nodiscard]] Errc from_status(proto::Status s) noexcept;

// The public error for a reader outcome, its text as the message.
[[nodiscard]] Error error_from_shm(shm::Errc e);
// The public error for a failed exchange with the broker: timeout when its
// deadline passed, protocol_error when its reply did not parse, else
// broker_unavailable; each time maybe_applied says whether the request had
// been sent whole.
[[nodiscard]] Error error_from_connection(ConnectionError&& e);
// The public error for a broker result whose status is not ok: the broker's
// message, and the owner's pid for already_registered.
[[nodiscard]] Error error_from_reply(const proto::OpResult& r);

// A reader result as a public one.
template <class T>
[[nodiscard]] Result<T> lift(shm::Result<T>&& r) {
  if (!r) return std::unexpected(error_from_shm(r.error()));
  return std::move(*r);
}

// Runs f, a callable returning a Result, and turns a std::bad_alloc it throws
// into Errc::out_of_memory: the one place where the client's noexcept calls
// meet allocation failure. The error's message fits the small-string buffer,
// so building it cannot throw in turn.
template <class F>
[[nodiscard]] auto guarded(F&& f) noexcept -> decltype(std::forward<F>(f)()) {
  try {
    return std::forward<F>(f)();
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::out_of_memory, "out of memory"});
  }
}

}  // namespace shmreg::client_detail
