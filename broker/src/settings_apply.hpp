// What Settings ask of the live segment, checked and then done: the declared
// registries, the declared static entries, and the segment file's group.
//
// validate_settings() finds every reason the new Settings cannot be applied
// (a live registry's geometry changed, new registries that do not fit the
// free arena together, a static entry out of its registry's limits or on a
// unique key a live process holds, a segment group the broker is not in)
// without changing anything. apply_settings() then creates the missing
// registries (owned by the namespace, with their meta), sets every declared
// static, unsets the declared statics no longer listed (runtime statics
// stay) and sets the file's group and mode. It stops at the first step that
// fails, which validation makes rare (another writer cannot exist); what was
// done before it stays done, since registries cannot be removed.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "log.hpp"
#include "settings.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

// The segment file: its name in the runtime directory dir_fd.
struct SegmentFile {
  int dir_fd = -1;
  std::string name;
};

// The segment file's group and mode under settings: segment_group and 0640
// when set, else the broker's group and 0644; never set-id bits, never
// writable by group or other.
struct SegmentAccess {
  gid_t gid = 0;
  mode_t mode = 0644;
};
[[nodiscard]] SegmentAccess segment_access(const Settings& settings);

// Every reason next cannot be applied to the segment; empty: it can.
[[nodiscard]] std::vector<std::string> validate_settings(const Settings& next, const shm::SegmentWriter& writer,
                                                         const SegmentFile& file);

// Applies next to the segment; empty when every step succeeded, else the
// step that failed and what stays applied.
// strict (a reload): stop at the first step that fails. best_effort (the
// broker's start on a file the live segment contradicts): do every step that
// can be done and return a reason for each that cannot, so that a conflict a
// local user can cause (a key taken, a name created first, a registry
// filled) never keeps the broker from starting with the file's policy.
enum class ApplyMode { strict, best_effort };
[[nodiscard]] std::vector<std::string> apply_settings(const Settings& next, shm::SegmentWriter& writer,
                                                      const SegmentFile& file, const BrokerLog& log,
                                                      ApplyMode mode = ApplyMode::strict);

}  // namespace shmreg::broker
