// Removal of what a benchmark run creates outside its own memory (segment
// files, LMDB files and directories), even when the run is interrupted.
//
// Each item is registered as soon as it exists. Normal teardown removes each
// item itself; cleanup_all() also runs from a SIGINT, SIGTERM or SIGHUP
// handler. It calls only unlink and rmdir, so it is safe there.
//
// Thread-safety: cleanup_register may be called from any thread.
#pragma once

#include <string>

namespace shmreg::bench {

enum class CleanupKind { file, dir };
void cleanup_register(CleanupKind kind, const std::string& name);
void cleanup_all() noexcept;
void install_cleanup_handlers();

}  // namespace shmreg::bench
