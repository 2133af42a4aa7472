// The file names of a namespace that are not the segment (shm/ names that)
// nor the socket (proto/paths.hpp resolves that).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace shmreg::sys {

// The namespace lock: an exclusive flock held by the broker serving ns,
// beside the segment in /dev/shm. REQUIRES: ns is a valid namespace name.
[[nodiscard]] std::string namespace_lock_path(std::string_view ns);

}  // namespace shmreg::sys
