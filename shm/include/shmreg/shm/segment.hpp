// Creating and mapping segment files.
//
// A segment is a plain file, normally on tmpfs (the namespace's runtime
// directory, see proto/paths.hpp), mapped shared. shm/ knows files, not
// namespaces: a file is named by a directory descriptor and a name in it
// (AT_FDCWD and a path for tests and tools), or handed over as an open
// descriptor that the caller has already checked (who owns it, its mode). It
// never follows a symbolic link. MappedSegment owns one mapping; the writer
// maps read-write, readers read-only (PROT_READ), so a reader that writes by
// mistake faults instead of corrupting the registry.
//
// Thread-safety: a MappedSegment is immutable after construction and may be
// shared by threads; the mapped bytes follow the rules in layout.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shmreg/shm/errc.hpp"

namespace shmreg::shm {

inline constexpr std::size_t kDefaultSegmentSize = std::size_t{64} << 20;
inline constexpr std::size_t kMinSegmentSize = std::size_t{1} << 20;

// A namespace is 1..64 characters of [A-Za-z0-9_.-], not starting with '.'.
Status validate_namespace(std::string_view ns) noexcept;

class MappedSegment {
 public:
  enum class Access { read_only, read_write };

  // Creates name in dir_fd exclusively (O_CREAT|O_EXCL|O_NOFOLLOW; fails
  // with segment_exists if anything is there, a symlink included), gives it
  // exactly `mode`, sizes it and reserves every page now (posix_fallocate), so
  // that a full tmpfs fails here with no_space instead of raising SIGBUS later.
  // On failure the file is removed again.
  static Result<MappedSegment> create(int dir_fd, std::string_view name, std::size_t size, unsigned mode) noexcept;
  // Maps an open descriptor (O_RDONLY for read_only, O_RDWR for read_write);
  // the mapping does not keep fd.
  static Result<MappedSegment> map(int fd, Access access) noexcept;
  // Opens path with O_NOFOLLOW and maps it; no owner check (tests, benchmarks).
  static Result<MappedSegment> open(std::string_view path, Access access) noexcept;
  // Removes the file; existing mappings stay valid until unmapped.
  static Status remove(std::string_view path) noexcept;

  MappedSegment(MappedSegment&&) noexcept;
  MappedSegment& operator=(MappedSegment&&) noexcept;
  ~MappedSegment();

  std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }

 private:
  MappedSegment(std::byte* base, std::size_t size) noexcept : base_(base), size_(size) {}
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
