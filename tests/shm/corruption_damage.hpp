// Damage to a segment, and a pass through every reader API, shared by the
// corruption suites: corruption_test damages a copy before a reader opens it,
// live_corruption_test damages the segment while readers that opened it run.
//
// - build_original(): a segment with content (unique and duplicate registries,
//   tombstones, freed and replaced records, owner queues, meta, wrapped event
//   rings) in the segment file at path, its bytes and where its structures lie.
// - apply_damage(): one kind of damage chosen by a seed (sprinkled bytes,
//   smashed fields, rewired links, index words, large blocks); returns what it
//   did, for failure messages.
// - exercise(): every reader API and validate() over a reader; returns a sum of
//   what it read (so nothing is optimised away) and, when asked, the error of
//   every call that failed.
//
// Thread-safety: for one thread; the damage writes the mapping with plain stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmreg/shm/reader.hpp"

namespace shmreg::shm::test {

struct Region {
  std::uint64_t offset, size;
};

// The pristine segment and where its structures are.
struct Original {
  std::vector<std::byte> bytes;
  std::vector<std::string> keys;
  std::vector<std::uint32_t> pids;
  Region header, owners, used;
  std::vector<Region> descriptors, records, partitions, index, meta, events;
  std::vector<std::uint32_t> record_sizes;  // per entry of `records`
};

Original build_original(const std::string& path);

std::string apply_damage(std::byte* base, const Original& o, std::uint64_t seed);

// Touches every byte a view points at, so that a view past the mapping faults here.
std::uint64_t touch(std::string_view s);

std::uint64_t exercise(const SegmentReader& r, const Original& o, std::uint64_t salt,
                       std::vector<Errc>* errors = nullptr);
// Opens the segment at path first; a segment that does not open reads as 0.
std::uint64_t exercise(const std::string& path, const Original& o, std::uint64_t salt);

}  // namespace shmreg::shm::test
