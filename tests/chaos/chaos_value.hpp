// The crash loop's self-checking values: every value names its key, its
// owner (the owner's serial in the run and its pid) and a counter, and ends
// in a checksum over all of that, so that a reader who was handed a torn
// entry (bytes of two records, a key of one and a value of another, a pid
// that is not the owner's) sees it from the entry alone, with no model.
//
// Format: "<serial>:<pid>:<n>:<padding>:<checksum>", where the padding's
// length and letter follow n (so that records of several sizes take turns in
// the same slots) and the checksum is FNV-1a 64 over the key, a newline and
// everything before the last ':', as 16 hex digits.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace shmreg::chaos {

struct ValueFields {
  std::uint64_t serial = 0;
  std::uint32_t pid = 0;
  std::uint64_t n = 0;
};

// The value owner (serial, pid) stores under key at its n-th write.
std::string make_value(std::string_view key, std::uint64_t serial, std::uint32_t pid, std::uint64_t n);

// The fields of a value read under key from an entry of pid, or why it is
// not one that make_value(key, ..., pid, ...) wrote.
std::expected<ValueFields, std::string> check_value(std::string_view key, std::uint32_t pid, std::string_view value);

// The unique key of an owner's i-th registration ("s<serial>-<i>"); the
// churn key is key_of(serial, kChurnKey).
std::string key_of(std::uint64_t serial, unsigned i);
inline constexpr unsigned kChurnKey = 99;
// The serial in a key made by key_of, or nullopt.
std::optional<std::uint64_t> serial_of_key(std::string_view key);

// The registries of the loop: unique keys of each owner, and one duplicate
// key that every library owner joins.
inline constexpr std::string_view kUniqueRegistry = "svc";
inline constexpr std::string_view kPoolRegistry = "pool";
inline constexpr std::string_view kPoolKey = "members";

}  // namespace shmreg::chaos
