// Error codes of the shm module and the Result<T> type every shm API returns.
//
// The shm API never throws across its boundary: every failed system call and
// every failed check is mapped to one of these codes. Each code is an outcome a caller
// must be ready to handle; to_string() gives the text for logs and the CLI.
#pragma once

#include <cstdint>
#include <expected>
#include <string_view>

namespace shmreg::shm {

enum class Errc : std::uint8_t {
  // Opening and attaching.
  segment_not_found = 1,  // no segment for this namespace (broker never ran)
  segment_exists,         // create: a segment with this name already exists
  permission_denied,      // the OS refused to open or map the segment
  no_space,               // create: the segment's file system (tmpfs) cannot hold the requested size
  bad_magic,              // the object is not a shmreg segment
  version_mismatch,       // written by a different layout version
  abi_mismatch,           // same version, different struct sizes or Boost
  segment_truncated,      // file smaller than the header says, or too small
  io_error,               // any other OS error while creating or mapping
  // Registries.
  registry_not_found,
  registry_exists,        // create with options that differ from the existing one
  too_many_registries,
  invalid_argument,       // bad name, limits, partitions, or empty key
  // Entries.
  key_too_long,
  value_too_long,
  already_registered,     // unique key taken (the writer reports the owner)
  not_found,              // no such entry (writer remove)
  registry_full,          // no record slot left in the registry
  owner_table_full,
  segment_full,           // no room left in the segment's arena
  stale_owner,            // the pid has entries under a different identity (pid reused)
  meta_too_large,         // registry meta would not fit its block
  version_conflict,       // update_value: the entry's version is not the expected one
  // Reading.
  corrupt,                // an offset, length or count failed its bounds check
  retry_exhausted,        // torn reads kept failing validation; try again
  superseded,             // the broker left this file for a new one at the name: open it again
};

std::string_view to_string(Errc e) noexcept;

template <class T>
using Result = std::expected<T, Errc>;

using Status = std::expected<void, Errc>;

inline std::unexpected<Errc> fail(Errc e) noexcept { return std::unexpected<Errc>(e); }

}  // namespace shmreg::shm
