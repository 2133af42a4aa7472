// The constant geometry of a segment, copied out of its header once.
//
// Why a copy. The header's table geometry (segment size, owner table offset
// and capacity, arena offset and size) never changes after create, but the
// bytes that hold it are shared: a stray write, a bit flip or a hostile
// writer can change them under a reader that has already checked them. A
// reader therefore reads each field exactly once, checks the copy, and from
// then on uses only the copy; the live header fields are never read again for
// addressing. read_geometry() is that single read and check; check_header()
// is the same check for callers that only want a yes or no.
//
// Thread-safety: read_geometry() only reads the mapping; SegmentGeometry is a
// plain value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shmreg/shm/errc.hpp"

namespace shmreg::shm {

struct SegmentGeometry {
  std::uint64_t segment_size = 0;        // == the mapped size
  std::uint64_t owner_table_offset = 0;  // after the registry directory, 64-aligned
  std::uint32_t owner_capacity = 0;      // >= 1; the table ends inside the segment
  std::uint64_t host_table_offset = 0;   // after the owner table, 64-aligned
  std::uint32_t host_capacity = 0;       // == kMaxHosts
  std::uint64_t arena_offset = 0;        // after the host table
  std::uint64_t arena_size = 0;          // arena_offset + arena_size <= segment_size
  friend bool operator==(const SegmentGeometry&, const SegmentGeometry&) = default;
};

// Reads magic, layout version, ABI signature and the geometry above once each
// (magic with acquire), and checks the copy: magic, version and ABI match this
// build, the size matches the mapping, and every table lies inside it without
// overlapping the one before. Any failure is the Errc check_header() reports.
Result<SegmentGeometry> read_geometry(const std::byte* base, std::size_t mapped_size) noexcept;

}  // namespace shmreg::shm
