// validate(): a full consistency check of a segment (the engine of `shmreg fsck`).
//
// It walks the header, every registry (records, index, duplicate chains,
// counters, meta) and the owner table, and reports every broken invariant it
// finds, up to kMaxProblems. It only reads, through the same bounds checks as
// SegmentReader, so it is safe on any bytes at all.
//
// Thread- and process-safety: safe to run while the broker writes, but then a
// write in flight may show up as a problem; run it on a quiet segment (or
// run it twice) before acting on the result.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "shmreg/shm/reader.hpp"

namespace shmreg::shm {

inline constexpr std::size_t kMaxProblems = 1000;

struct Problem {
  std::string where;  // "header", "registry 'name'", "owner slot 12", ...
  std::string what;
};

std::vector<Problem> validate(const SegmentReader& reader);

}  // namespace shmreg::shm
