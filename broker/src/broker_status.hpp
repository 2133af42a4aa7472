// The broker's status as the JSON object a GetStatus reply carries, and the
// data of a Reload reply (the shapes are docs/config.md's).
//
// Status shows the configuration lifecycle (state, generation, last reload,
// whether reloads are allowed), what the segment holds, and per uid what its
// processes hold against the limits that apply to it. A root caller sees
// every uid; any other caller sees its own row only.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <string>

#include "reload.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"
#include "uid_tally.hpp"

namespace shmreg::broker {

// What status is made of. REQUIRES: every reference valid for the call.
struct StatusSources {
  const ConfigLifecycle& lifecycle;
  const shm::SegmentWriter& writer;
  const shm::SegmentReader& reader;
  const UidTally& tally;
};

// The status JSON for a caller of uid `caller`.
[[nodiscard]] std::string status_json(const StatusSources& from, uid_t caller);

// {"state", "generation", "reasons", "notes"}: the data of a Reload reply.
[[nodiscard]] std::string reload_json(const ConfigLifecycle& lifecycle, const ReloadOutcome& outcome);

}  // namespace shmreg::broker
