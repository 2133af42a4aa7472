// A small segment made by the real writer, with a little of everything a
// segment holds: a unique and a duplicate registry with several partitions,
// entries of three owners, meta, an owner queue, a static entry, a removal
// and an update (so that records are reused and events recorded). The config
// fuzz target checks settings against it, and the segment target's seeds
// are images of it (make_segment_seed.cpp).
//
// Thread-safety: none; for one thread of a test or tool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "shmreg/shm/writer.hpp"

namespace shmreg::fuzz {

// The smallest segment the writer makes, and few owner slots, so that an
// image of it is mostly the part that holds data.
inline constexpr std::size_t kSampleSegmentSize = shm::kMinSegmentSize;
inline constexpr std::uint32_t kSampleOwnerCapacity = 16;

// The pid that holds "db" in "services" (a unique key a declared static
// cannot take).
inline constexpr std::uint32_t kSampleHolderPid = 4242;

// Creates name in dir_fd (exclusively, mode 0600) and fills it as above.
[[nodiscard]] shm::Result<shm::SegmentWriter> make_sample_segment(int dir_fd, const std::string& name);

}  // namespace shmreg::fuzz
