// The crash loop's settle point: the segment held against the model, read
// through a fresh shm::SegmentReader once the broker is up, every live owner
// has finished registering, and the churning owners are held still.
//
//   lost:       a live owner's confirmed registration is not in the segment
//               (under its key, with its pid).
//   stale:      an entry of a dead owner is still there once the broker has
//               been up, and the owner dead, for the reap window. The check
//               polls: each such entry must go by its own deadline.
//   validation: validate() reports a problem on the quiet segment, or an
//               entry fails its value's self-check (chaos_value.hpp).
//   foreign:    an entry names no owner of the run, or another pid than its
//               owner's (a recycled pid that inherited an entry).
//
// Dead owners whose entries are all gone are retired from the model.
//
// Thread-safety: the driver's thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model.hpp"
#include "owners.hpp"

namespace shmreg::chaos {

struct SettleOutcome {
  std::uint64_t lost = 0, stale = 0, validation_failures = 0, foreign = 0;
  std::vector<std::string> problems;
};

class SettleCheck {
 public:
  SettleCheck(std::string segment_path, Clock::duration reap_window)
      : segment_path_(std::move(segment_path)), reap_window_(reap_window) {}

  SettleOutcome run(Model& model, Owners& owners) const;

 private:
  std::string segment_path_;
  Clock::duration reap_window_;
};

}  // namespace shmreg::chaos
