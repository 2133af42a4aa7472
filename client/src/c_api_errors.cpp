// The C ABI's error contract: every C code equals its shmreg::Errc (checked
// here, so the two cannot drift), shmreg_strerror, and the calling thread's
// last error.
#include <cstring>

#include "c_api_state.hpp"

namespace shmreg::c_api {
namespace {

constexpr bool same(int c, Errc e) { return c == static_cast<int>(e); }

static_assert(SHMREG_OK == 0);
static_assert(same(SHMREG_SEGMENT_NOT_FOUND, Errc::segment_not_found));
static_assert(same(SHMREG_PERMISSION_DENIED, Errc::permission_denied));
static_assert(same(SHMREG_INCOMPATIBLE_SEGMENT, Errc::incompatible_segment));
static_assert(same(SHMREG_CORRUPT_SEGMENT, Errc::corrupt_segment));
static_assert(same(SHMREG_REGISTRY_NOT_FOUND, Errc::registry_not_found));
static_assert(same(SHMREG_INVALID_ARGUMENT, Errc::invalid_argument));
static_assert(same(SHMREG_BUSY, Errc::busy));
static_assert(same(SHMREG_IO_ERROR, Errc::io_error));
static_assert(same(SHMREG_BROKER_UNAVAILABLE, Errc::broker_unavailable));
static_assert(same(SHMREG_ALREADY_REGISTERED, Errc::already_registered));
static_assert(same(SHMREG_REGISTRY_EXISTS, Errc::registry_exists));
static_assert(same(SHMREG_KEY_TOO_LONG, Errc::key_too_long));
static_assert(same(SHMREG_VALUE_TOO_LONG, Errc::value_too_long));
static_assert(same(SHMREG_REGISTRY_FULL, Errc::registry_full));
static_assert(same(SHMREG_OWNER_TABLE_FULL, Errc::owner_table_full));
static_assert(same(SHMREG_PROTOCOL_ERROR, Errc::protocol_error));
static_assert(same(SHMREG_NOT_FOUND, Errc::not_found));
static_assert(same(SHMREG_VERSION_CONFLICT, Errc::version_conflict));
static_assert(same(SHMREG_REPLY_TOO_LARGE, Errc::reply_too_large));
static_assert(same(SHMREG_NO_MAILBOX, Errc::no_mailbox));
static_assert(same(SHMREG_MAILBOX_FULL, Errc::mailbox_full));
static_assert(same(SHMREG_MESSAGE_TOO_LARGE, Errc::message_too_large));
static_assert(same(SHMREG_MAILBOX_EXISTS, Errc::mailbox_exists));
static_assert(same(SHMREG_SEGMENT_FULL, Errc::segment_full));
static_assert(same(SHMREG_TOO_MANY_REGISTRIES, Errc::too_many_registries));
static_assert(same(SHMREG_META_TOO_LARGE, Errc::meta_too_large));
static_assert(same(SHMREG_STALE_OWNER, Errc::stale_owner));
static_assert(same(SHMREG_OUT_OF_MEMORY, Errc::out_of_memory));
static_assert(same(SHMREG_INTERNAL_ERROR, Errc::internal_error));
static_assert(same(SHMREG_TIMEOUT, Errc::timeout));
static_assert(same(SHMREG_UNTRUSTED, Errc::untrusted));
static_assert(same(SHMREG_QUOTA_EXCEEDED, Errc::quota_exceeded));
static_assert(same(SHMREG_RELOAD_FAILED, Errc::reload_failed));
static_assert(same(SHMREG_RELOAD_FORBIDDEN, Errc::reload_forbidden));
static_assert(same(SHMREG_SEGMENT_REPLACED, Errc::segment_replaced));
static_assert(same(SHMREG_CLUSTER_UNAVAILABLE, Errc::cluster_unavailable));
// The C-only codes stay clear of every code the C++ API may append.
static_assert(SHMREG_BUFFER_TOO_SMALL > static_cast<int>(Errc::cluster_unavailable) + 100);

static_assert(SHMREG_EVENT_REGISTERED == static_cast<int>(EventType::registered));
static_assert(SHMREG_EVENT_UNREGISTERED == static_cast<int>(EventType::unregistered));
static_assert(SHMREG_EVENT_UPDATED == static_cast<int>(EventType::updated));
static_assert(SHMREG_EVENT_OWNER_DIED == static_cast<int>(EventType::owner_died));
static_assert(SHMREG_EVENT_OWNER_CHANGED == static_cast<int>(EventType::owner_changed));
static_assert(SHMREG_EVENT_RESYNC == static_cast<int>(EventType::resync));
static_assert(SHMREG_EVENT_LAGGED == static_cast<int>(EventType::lagged));

// The last failure of this thread. Its message is a std::string; when even
// that cannot be allocated, the fixed text below stands in for it.
struct LastError {
  int code = SHMREG_OK;
  std::string message;
  const char* fallback = nullptr;  // set when message could not be stored
  std::uint32_t pid = 0;
  bool maybe_applied = false;
};
thread_local LastError last_error;

int record(int code, std::string_view message, std::uint32_t pid, bool maybe_applied) noexcept {
  last_error.code = code;
  last_error.pid = pid;
  last_error.maybe_applied = maybe_applied;
  try {
    last_error.message.assign(message);
    last_error.fallback = nullptr;
  } catch (...) {
    last_error.fallback = "out of memory while recording the error";
  }
  return code;
}

}  // namespace

int fail(const Error& e) noexcept {
  return record(static_cast<int>(e.code), e.message, e.pid, e.maybe_applied);
}

int fail(Errc code, std::string_view message) noexcept { return record(static_cast<int>(code), message, 0, false); }

int fail_buffer_too_small(std::size_t needed, std::size_t given) noexcept {
  try {
    return record(SHMREG_BUFFER_TOO_SMALL,
                  "buffer too small: the value needs " + std::to_string(needed) + " bytes, the buffer holds " +
                      std::to_string(given),
                  0, false);
  } catch (...) {
    return record(SHMREG_BUFFER_TOO_SMALL, "buffer too small", 0, false);
  }
}

int fail_timeout(std::string_view what, std::int64_t timeout_ms) noexcept {
  try {
    return fail(Errc::timeout, std::string(what) + " within " + std::to_string(timeout_ms) + " ms");
  } catch (...) {
    return fail(Errc::timeout, "timed out");
  }
}

int null_argument(std::string_view name) noexcept {
  try {
    return fail(Errc::invalid_argument, std::string(name) + " is NULL");
  } catch (...) {
    return fail(Errc::invalid_argument, "a required argument is NULL");
  }
}

int null_bytes(std::string_view name) noexcept {
  try {
    return fail(Errc::invalid_argument, std::string(name) + " is NULL with a nonzero length");
  } catch (...) {
    return fail(Errc::invalid_argument, "bytes are NULL with a nonzero length");
  }
}

}  // namespace shmreg::c_api

extern "C" {

const char* shmreg_strerror(int code) {
  if (code == SHMREG_OK) return "ok";
  if (code == SHMREG_BUFFER_TOO_SMALL) return "buffer_too_small";
  if (code < 1 || code > static_cast<int>(shmreg::Errc::cluster_unavailable)) return "unknown";
  // to_string's views are of string literals: NUL-terminated.
  return shmreg::to_string(static_cast<shmreg::Errc>(code)).data();
}

const char* shmreg_last_error(void) {
  const auto& e = shmreg::c_api::last_error;
  return e.fallback ? e.fallback : e.message.c_str();
}

int shmreg_last_error_code(void) { return shmreg::c_api::last_error.code; }
uint32_t shmreg_last_error_pid(void) { return shmreg::c_api::last_error.pid; }
int shmreg_last_error_maybe_applied(void) { return shmreg::c_api::last_error.maybe_applied ? 1 : 0; }

}  // extern "C"
