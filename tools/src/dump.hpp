// `shmreg dump` and `shmreg fsck`: segment-level views that go beneath the
// client API, straight to the shm reader (and validate()).
//
// Thread-safety: command functions, run once per process.
#pragma once

#include <string>

namespace shmreg::tools {

// Prints header, registries, owners and entries; 0, or 2 on error.
int cmd_dump(const std::string& ns_flag, bool json);
// Runs validate(); 0 when clean, 1 when problems were found, 2 on error.
int cmd_fsck(const std::string& ns_flag, bool json);

}  // namespace shmreg::tools
