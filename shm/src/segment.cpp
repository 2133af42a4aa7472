// Segment files: open, create, map (see segment.hpp).
#include "shmreg/shm/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "shmreg/shm/geometry.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::shm {

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::segment_not_found: return "segment not found (is the broker running for this namespace?)";
    case Errc::segment_exists: return "segment already exists";
    case Errc::permission_denied: return "permission denied";
    case Errc::no_space: return "not enough space on the segment's file system (tmpfs) for the segment";
    case Errc::bad_magic: return "not a shmreg segment (bad magic)";
    case Errc::version_mismatch: return "segment layout version differs from this build";
    case Errc::abi_mismatch: return "segment ABI signature differs from this build";
    case Errc::segment_truncated: return "segment is smaller than its header says";
    case Errc::io_error: return "I/O error on the segment";
    case Errc::registry_not_found: return "registry not found";
    case Errc::registry_exists: return "registry exists with different options";
    case Errc::too_many_registries: return "too many registries";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::key_too_long: return "key too long for this registry";
    case Errc::value_too_long: return "value too long for this registry";
    case Errc::already_registered: return "already registered";
    case Errc::not_found: return "not found";
    case Errc::registry_full: return "registry is full";
    case Errc::owner_table_full: return "owner table is full";
    case Errc::segment_full: return "segment is full";
    case Errc::stale_owner: return "a different process with this pid still owns entries";
    case Errc::meta_too_large: return "registry meta does not fit its block";
    case Errc::version_conflict: return "entry version changed (compare-and-set failed)";
    case Errc::corrupt: return "segment data failed a bounds check";
    case Errc::retry_exhausted: return "reads kept racing with writes; try again";
    case Errc::superseded:
      return "segment superseded: its file was removed while the broker ran and the broker serves a new one; "
             "open the namespace again";
  }
  return "unknown error";
}

Status validate_namespace(std::string_view ns) noexcept {
  if (ns.empty() || ns.size() > 64 || ns.front() == '.') return fail(Errc::invalid_argument);
  for (char c : ns) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return fail(Errc::invalid_argument);
  }
  return {};
}

namespace {

Errc errno_to_errc(int e) noexcept {
  switch (e) {
    case ENOENT: return Errc::segment_not_found;
    case EEXIST: return Errc::segment_exists;
    case EACCES:
    case EPERM:
    case ELOOP: return Errc::permission_denied;  // ELOOP: O_NOFOLLOW met a symbolic link
    case ENOSPC:
    case EFBIG:
    case ENOMEM: return Errc::no_space;
    default: return Errc::io_error;
  }
}

}  // namespace

MappedSegment::MappedSegment(MappedSegment&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}
MappedSegment& MappedSegment::operator=(MappedSegment&& o) noexcept {
  if (this != &o) {
    if (base_ != nullptr) ::munmap(base_, size_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}
MappedSegment::~MappedSegment() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

Result<MappedSegment> MappedSegment::create(int dir_fd, std::string_view name, std::size_t size,
                                            unsigned mode) noexcept {
  if (size < kMinSegmentSize || name.empty()) return fail(Errc::invalid_argument);
  std::string n;
  try {
    n = std::string(name);
  } catch (...) {
    return fail(Errc::io_error);
  }
  const int fd = ::openat(dir_fd, n.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
  if (fd < 0) return fail(errno_to_errc(errno));
  // fchmod: the umask must not narrow what readers are given. Then reserve
  // every page: a full tmpfs must fail here, not SIGBUS a reader later.
  int rc = ::fchmod(fd, mode & 0777) == 0 ? 0 : errno;
  if (rc == 0) rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  Result<MappedSegment> seg = fail(errno_to_errc(rc));
  if (rc == 0) seg = map(fd, Access::read_write);
  ::close(fd);
  if (!seg) ::unlinkat(dir_fd, n.c_str(), 0);
  return seg;
}

Result<MappedSegment> MappedSegment::map(int fd, Access access) noexcept {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail(errno_to_errc(errno));
  if (!S_ISREG(st.st_mode)) return fail(Errc::permission_denied);
  if (st.st_size < static_cast<off_t>(kHeaderSize)) return fail(Errc::segment_truncated);
  const int prot = access == Access::read_write ? PROT_READ | PROT_WRITE : PROT_READ;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail(errno_to_errc(errno));
  return MappedSegment(static_cast<std::byte*>(p), size);
}

Result<MappedSegment> MappedSegment::open(std::string_view path, Access access) noexcept {
  std::string p;
  try {
    p = std::string(path);
  } catch (...) {
    return fail(Errc::io_error);
  }
  const int flags = (access == Access::read_write ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC;
  const int fd = ::open(p.c_str(), flags);
  if (fd < 0) return fail(errno_to_errc(errno));
  auto seg = map(fd, access);
  ::close(fd);
  return seg;
}

Status MappedSegment::remove(std::string_view path) noexcept {
  try {
    if (::unlink(std::string(path).c_str()) != 0) return fail(errno_to_errc(errno));
    return {};
  } catch (...) {
    return fail(Errc::io_error);
  }
}

Status check_header(const std::byte* base, std::size_t mapped_size) noexcept {
  if (auto g = read_geometry(base, mapped_size); !g) return fail(g.error());
  return {};
}

bool check_registry_geometry(std::uint64_t arena_offset, std::uint64_t arena_used,
                             const RegistryDesc& d) noexcept {
  const std::uint64_t lo = arena_offset, hi = arena_offset + arena_used;
  auto inside = [&](std::uint64_t off, std::uint64_t len) {
    return off >= lo && off <= hi && len <= hi - off && off % kCacheLine == 0;
  };
  if (d.kind != static_cast<std::uint32_t>(RegistryKind::unique) &&
      d.kind != static_cast<std::uint32_t>(RegistryKind::duplicate))
    return false;
  if (d.partitions < 1 || d.partitions > kMaxPartitions || d.name_len < 1 || d.name_len > kMaxNameLen)
    return false;
  if (d.max_key < 1 || d.max_key > kMaxKeyLen || d.max_value > kMaxValueLen) return false;
  if (d.record_size < sizeof(RecordHeader) + pad8(d.max_key) + pad8(d.max_value) ||
      d.record_size % kCacheLine != 0)
    return false;
  if (d.record_capacity > kMaxRecordsPerRegistry || d.records_high_water > d.record_capacity) return false;
  if (d.index_buckets < 2 || d.index_buckets > (1u << 26) || (d.index_buckets & (d.index_buckets - 1)) != 0)
    return false;
  return inside(d.records_offset, std::uint64_t{d.record_capacity} * d.record_size) &&
         inside(d.partitions_offset, std::uint64_t{d.partitions} * sizeof(PartitionData)) &&
         inside(d.index_offset, std::uint64_t{d.partitions} * 2 * d.index_buckets * sizeof(IndexBucket)) &&
         inside(d.meta_offset, 2 * std::uint64_t{kMetaBlockSize}) &&
         d.event_capacity >= 2 && d.event_capacity <= kMaxEventCapacity &&
         (d.event_capacity & (d.event_capacity - 1)) == 0 &&
         d.event_size >= sizeof(EventHeader) + pad8(d.max_key) && d.event_size % kCacheLine == 0 &&
         inside(d.events_offset, std::uint64_t{d.event_capacity} * d.event_size);
}

}  // namespace shmreg::shm
