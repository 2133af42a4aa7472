// The C ABI's private half (shmreg/shmreg.h): what its opaque handles hold,
// the calling thread's last error, and c_call(), the one boundary every
// shmreg_* entry point goes through. The c_api_*.cpp files (one per op
// family) build on the public C++ API only, never on the client's internals.
//
// Thread-safety: a handle is as safe as the C++ object it holds (see
// shmreg.h); the last error is thread-local.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmreg/shmreg.h"
#include "shmreg/shmreg.hpp"

struct shmreg_client {
  shmreg::Client client;
};

struct shmreg_registry {
  shmreg::Registry registry;
};

struct shmreg_watcher {
  shmreg::Watcher watcher;
  std::deque<shmreg::Event> pending;  // read by the last next() but not handed out yet
  shmreg::Event current;              // the event last handed out: its key is lent to the caller
};

struct shmreg_mailbox {
  shmreg::Mailbox mailbox;
  shmreg::Message current;  // the message last handed out: its bytes are lent to the caller
};

namespace shmreg::c_api {

// Records e as the calling thread's last error and returns its code.
int fail(const Error& e) noexcept;
int fail(Errc code, std::string_view message) noexcept;
int fail_buffer_too_small(std::size_t needed, std::size_t given) noexcept;

// Runs f (returning an int code) and turns anything it throws into a code:
// std::bad_alloc into SHMREG_OUT_OF_MEMORY, anything else into
// SHMREG_INTERNAL_ERROR, so that no exception crosses the C boundary.
template <class F>
int c_call(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(Errc::out_of_memory, "out of memory");
  } catch (const std::exception& e) {
    return fail(Errc::internal_error, e.what());
  } catch (...) {
    return fail(Errc::internal_error, "an unknown exception reached the C API");
  }
}

// A NULL handle or out-parameter: SHMREG_INVALID_ARGUMENT naming it.
int null_argument(std::string_view name) noexcept;

// Bytes are (pointer, length); NULL is allowed with length 0 only.
[[nodiscard]] inline bool is_bytes(const char* data, std::size_t len) noexcept {
  return data != nullptr || len == 0;
}
[[nodiscard]] inline std::string_view view(const char* data, std::size_t len) noexcept {
  return data ? std::string_view(data, len) : std::string_view();
}
// SHMREG_INVALID_ARGUMENT: bytes `name` are NULL with a nonzero length.
int null_bytes(std::string_view name) noexcept;

// A library-allocated list, in one block so that one free releases it.
[[nodiscard]] shmreg_entry_list* make_entry_list(std::span<const Entry> entries);
[[nodiscard]] shmreg_key_list* make_key_list(std::span<const std::string> keys);

// The arguments of a copy into the caller's buffer: checked before the read.
int check_out(const char* buf, std::size_t buf_size, const std::size_t* value_len) noexcept;
// Copies value into (buf, buf_size) by the contract of shmreg_lookup_value.
// REQUIRES: check_out(buf, buf_size, value_len) passed.
int copy_out(std::string_view value, char* buf, std::size_t buf_size, std::size_t* value_len) noexcept;

// SHMREG_TIMEOUT: no `what` (an event, a message, ...) within timeout_ms.
int fail_timeout(std::string_view what, std::int64_t timeout_ms) noexcept;

// A C timeout in milliseconds; nullopt (after fail()) when negative.
[[nodiscard]] std::optional<std::chrono::milliseconds> timeout_of(std::int64_t timeout_ms) noexcept;

}  // namespace shmreg::c_api
