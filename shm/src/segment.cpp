// Segment objects through Boost.Interprocess; exceptions end here.
#include "shmreg/shm/segment.hpp"

#include <fcntl.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>

#include "shmreg/shm/geometry.hpp"
#include "shmreg/shm/layout.hpp"

namespace bip = boost::interprocess;

namespace shmreg::shm {

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::segment_not_found: return "segment not found (is the broker running for this namespace?)";
    case Errc::segment_exists: return "segment already exists";
    case Errc::permission_denied: return "permission denied";
    case Errc::no_space: return "not enough space in /dev/shm for the segment";
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

std::string segment_object_name(std::string_view ns) { return "shmreg." + std::string(ns); }

struct MappedSegment::Impl {
  std::string name;
  bip::shared_memory_object object;
  bip::mapped_region region;
};

MappedSegment::MappedSegment(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {
  base_ = static_cast<std::byte*>(impl_->region.get_address());
  size_ = impl_->region.get_size();
}
MappedSegment::MappedSegment(MappedSegment&&) noexcept = default;
MappedSegment& MappedSegment::operator=(MappedSegment&&) noexcept = default;
MappedSegment::~MappedSegment() = default;

const std::string& MappedSegment::object_name() const noexcept { return impl_->name; }

namespace {

Errc map_error(const bip::interprocess_exception& e) noexcept {
  switch (e.get_error_code()) {
    case bip::not_found_error:
    case bip::not_such_file_or_directory: return Errc::segment_not_found;
    case bip::already_exists_error: return Errc::segment_exists;
    case bip::security_error:
    case bip::read_only_error: return Errc::permission_denied;
    case bip::out_of_space_error:
    case bip::out_of_memory_error: return Errc::no_space;
    case bip::invalid_argument: return Errc::invalid_argument;
    default: break;
  }
  switch (e.get_native_error()) {
    case ENOENT: return Errc::segment_not_found;
    case EEXIST: return Errc::segment_exists;
    case EACCES:
    case EPERM: return Errc::permission_denied;
    case ENOSPC:
    case ENOMEM: return Errc::no_space;
    default: return Errc::io_error;
  }
}

}  // namespace

Result<MappedSegment> MappedSegment::create(std::string_view object_name, std::size_t size,
                                            unsigned mode) noexcept {
  if (size < kMinSegmentSize) return fail(Errc::invalid_argument);
  std::string name(object_name);
  bool created = false;
  try {
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    bip::permissions perm(mode);
    impl->object = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, perm);
    created = true;
    impl->object.truncate(static_cast<bip::offset_t>(size));
    // Reserve every page now: a full /dev/shm must fail here, not SIGBUS a reader later.
    const int fd = impl->object.get_mapping_handle().handle;
    if (int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); rc != 0) {
      bip::shared_memory_object::remove(name.c_str());
      return fail(rc == ENOSPC || rc == EFBIG ? Errc::no_space : Errc::io_error);
    }
    impl->region = bip::mapped_region(impl->object, bip::read_write);
    return MappedSegment(std::move(impl));
  } catch (const bip::interprocess_exception& e) {
    if (created) bip::shared_memory_object::remove(name.c_str());
    return fail(map_error(e));
  } catch (...) {
    if (created) bip::shared_memory_object::remove(name.c_str());
    return fail(Errc::io_error);
  }
}

Result<MappedSegment> MappedSegment::open(std::string_view object_name, Access access) noexcept {
  try {
    auto impl = std::make_unique<Impl>();
    impl->name = std::string(object_name);
    const auto mode = access == Access::read_write ? bip::read_write : bip::read_only;
    impl->object = bip::shared_memory_object(bip::open_only, impl->name.c_str(), mode);
    bip::offset_t size = 0;
    if (!impl->object.get_size(size) || size < static_cast<bip::offset_t>(kHeaderSize))
      return fail(Errc::segment_truncated);
    impl->region = bip::mapped_region(impl->object, mode);
    return MappedSegment(std::move(impl));
  } catch (const bip::interprocess_exception& e) {
    return fail(map_error(e));
  } catch (...) {
    return fail(Errc::io_error);
  }
}

Status MappedSegment::remove(std::string_view object_name) noexcept {
  try {
    if (!bip::shared_memory_object::remove(std::string(object_name).c_str()))
      return fail(errno == ENOENT ? Errc::segment_not_found : Errc::permission_denied);
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
