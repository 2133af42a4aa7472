// Naming, creating and mapping segment objects (Boost.Interprocess inside).
//
// A namespace `ns` lives in the POSIX shared-memory object "shmreg.<ns>",
// i.e. /dev/shm/shmreg.<ns>. MappedSegment owns one mapping of it; the
// writer maps it read-write, readers read-only (PROT_READ), so a reader that
// writes by mistake faults instead of corrupting the registry.
//
// Thread-safety: a MappedSegment is immutable after construction and may be
// shared by threads; the mapped bytes follow the rules in layout.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shmreg/shm/errc.hpp"

namespace shmreg::shm {

inline constexpr std::size_t kDefaultSegmentSize = std::size_t{64} << 20;
inline constexpr std::size_t kMinSegmentSize = std::size_t{1} << 20;

// A namespace is 1..64 characters of [A-Za-z0-9_.-], not starting with '.'.
Status validate_namespace(std::string_view ns) noexcept;

// "shmreg.<ns>"; REQUIRES: validate_namespace(ns) succeeded.
std::string segment_object_name(std::string_view ns);

class MappedSegment {
 public:
  enum class Access { read_only, read_write };

  // Creates the object exclusively (fails with segment_exists if present),
  // sizes it and reserves every page now (posix_fallocate), so that a full
  // /dev/shm fails here with no_space instead of raising SIGBUS later.
  static Result<MappedSegment> create(std::string_view object_name, std::size_t size,
                                      unsigned mode) noexcept;
  static Result<MappedSegment> open(std::string_view object_name, Access access) noexcept;
  // Removes the name; existing mappings stay valid until unmapped.
  static Status remove(std::string_view object_name) noexcept;

  MappedSegment(MappedSegment&&) noexcept;
  MappedSegment& operator=(MappedSegment&&) noexcept;
  ~MappedSegment();

  std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& object_name() const noexcept;

 private:
  struct Impl;
  explicit MappedSegment(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

// Checks magic, layout version, ABI signature and sizes of a mapped segment.
Status check_header(const std::byte* base, std::size_t mapped_size) noexcept;

struct SegmentHeader;
struct RegistryDesc;
// True when the constant fields of a registry descriptor (a private copy) are
// in range and all its areas lie inside [arena_offset, arena_offset+arena_used).
bool check_registry_geometry(std::uint64_t arena_offset, std::uint64_t arena_used,
                             const RegistryDesc& d) noexcept;

}  // namespace shmreg::shm
