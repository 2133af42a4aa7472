// read_geometry(): one read of the header's constant fields, checked as a copy.
#include "shmreg/shm/geometry.hpp"

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::shm {

Result<SegmentGeometry> read_geometry(const std::byte* base, std::size_t mapped_size) noexcept {
  if (mapped_size < kHeaderSize) return fail(Errc::segment_truncated);
  const auto* h = reinterpret_cast<const SegmentHeader*>(base);
  if (load_acquire(h->magic) != kMagic) return fail(Errc::bad_magic);
  if (load_relaxed(h->layout_version) != kLayoutVersion) return fail(Errc::version_mismatch);
  if (load_relaxed(h->abi_signature) != abi_signature() || load_relaxed(h->header_size) != kHeaderSize)
    return fail(Errc::abi_mismatch);
  SegmentGeometry g;
  g.segment_size = load_relaxed(h->segment_size);
  const std::uint64_t dir = load_relaxed(h->registry_dir_offset);
  const std::uint32_t dir_capacity = load_relaxed(h->registry_capacity);
  g.owner_table_offset = load_relaxed(h->owner_table_offset);
  g.owner_capacity = load_relaxed(h->owner_capacity);
  g.host_table_offset = load_relaxed(h->host_table_offset);
  g.host_capacity = load_relaxed(h->host_capacity);
  g.arena_offset = load_relaxed(h->arena_offset);
  g.arena_size = load_relaxed(h->arena_size);
  // From here on only the copy is checked, so no field can change between
  // its check and its use.
  const std::uint64_t size = g.segment_size, owners = g.owner_table_offset, arena = g.arena_offset;
  const std::uint64_t owner_cap = g.owner_capacity;
  if (size != mapped_size) return fail(Errc::segment_truncated);
  if (dir != kHeaderSize || dir_capacity != kMaxRegistries) return fail(Errc::corrupt);
  if (owners < dir + std::uint64_t{kMaxRegistries} * sizeof(RegistryDesc) || owners % kCacheLine)
    return fail(Errc::corrupt);
  if (owner_cap == 0 || owner_cap > (size / sizeof(OwnerSlot))) return fail(Errc::corrupt);
  // Before the sum below, which a huge owners offset would wrap around.
  if (owners > size || owner_cap * sizeof(OwnerSlot) > size - owners) return fail(Errc::corrupt);
  const std::uint64_t hosts = g.host_table_offset;
  if (g.host_capacity != kMaxHosts || hosts < owners + owner_cap * sizeof(OwnerSlot) || hosts % kCacheLine ||
      hosts > size || std::uint64_t{kMaxHosts} * sizeof(HostSlot) > size - hosts)
    return fail(Errc::corrupt);
  if (arena < hosts + std::uint64_t{kMaxHosts} * sizeof(HostSlot) || arena > size || g.arena_size > size - arena)
    return fail(Errc::corrupt);
  return g;
}

}  // namespace shmreg::shm
