// A pointer-chase buffer: the memory-latency yardstick for the lookup figures.
//
// The buffer is cut into nodes (every 64-byte line; one line per 4 KiB page;
// or "records" of three lines, the size of a registry record with a 32-byte
// key and a 64-byte value today, or of two lines, what such a record would
// take with a 32-byte head) and each node holds the address of the next one
// along a single random cycle through all of them. A record hop is only done
// when all of its lines have arrived (see record_hop). Following the chain makes every load depend on the
// previous one, so the time per hop is the latency of one random access to a
// buffer of that size: cache misses and TLB misses included, no overlap.
//
// Backing, to separate the cost of the page walk from the cost of the miss:
//   small_pages  a memfd (shmem, the same kind of memory as a /dev/shm segment)
//                with MADV_NOHUGEPAGE: 4 KiB pages, like the segment here;
//   huge_pages   anonymous memory with MADV_HUGEPAGE: 2 MiB pages where the
//                kernel grants them (huge_fraction() says how much it did).
//
// Thread-safety: immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmreg::bench {

enum class ChaseNodes { lines, pages, records2, records3 };
enum class ChaseBacking { small_pages, huge_pages };

class ChaseBuffer {
 public:
  // Throws std::runtime_error if the memory cannot be mapped.
  ChaseBuffer(std::size_t bytes, ChaseNodes nodes, ChaseBacking backing, std::uint64_t seed);
  ~ChaseBuffer();
  ChaseBuffer(const ChaseBuffer&) = delete;
  ChaseBuffer& operator=(const ChaseBuffer&) = delete;

  void* const* start() const noexcept { return start_; }
  // One hop over a record node: the next address is made to depend on a
  // word of each of its lines (`zero` must be 0 at run time but opaque to the
  // compiler), so the hop waits for the slowest of them.
  static void* const* record2_hop(void* const* p, std::uint64_t zero) noexcept {
    const auto* w = reinterpret_cast<const std::uint64_t*>(p);
    return reinterpret_cast<void* const*>(w[0] + (w[8] & zero));
  }
  static void* const* record3_hop(void* const* p, std::uint64_t zero) noexcept {
    const auto* w = reinterpret_cast<const std::uint64_t*>(p);
    return reinterpret_cast<void* const*>(w[0] + ((w[8] | w[16]) & zero));
  }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t nodes() const noexcept { return nodes_; }
  // Share of the buffer that the kernel maps with 2 MiB pages, from /proc/self/smaps.
  double huge_fraction() const;

 private:
  std::byte* map_ = nullptr;  // what munmap gets
  std::size_t map_len_ = 0;
  std::byte* base_ = nullptr;  // first node, 2 MiB-aligned for huge_pages
  std::size_t bytes_ = 0;
  std::size_t nodes_ = 0;
  void* const* start_ = nullptr;
};

}  // namespace shmreg::bench
