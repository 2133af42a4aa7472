// The scalar syntaxes of the configuration file and of the broker's flags:
// sizes ("64M"), durations ("10ms", "2s") and the names of users and groups,
// resolved to ids through the system's user database.
//
// Thread-safety: free functions without shared state; look-ups use the
// reentrant getpwnam_r / getgrnam_r family.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shmreg::broker {

// "4096", "64K", "64M", "1G": bytes, with an optional K/M/G suffix (powers of
// 1024, either case). nullopt for anything else, a sign or an overflow.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

// "250ms", "10s", "2m": a whole number with its unit. nullopt for anything
// else (a bare number has no unit here; the file writes those as integers).
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

// A user's name or a decimal uid (taken as is: a uid needs no entry in the
// user database). nullopt: no such user.
[[nodiscard]] std::optional<uid_t> resolve_user(std::string_view name_or_uid);

// A group's name or a decimal gid. A gid is taken as is unless must_exist.
[[nodiscard]] std::optional<gid_t> resolve_group(std::string_view name_or_gid, bool must_exist);

}  // namespace shmreg::broker
