// The segment on huge pages ([broker] huge_pages, docs/broker-options.md,
// "Huge pages"): whether the runtime directory's file system can give them,
// asking the kernel for them on the broker's mapping, and reading back what
// it gave.
//
// The segment stays where clients open it, in the namespace's runtime
// directory; the operator puts that directory on a file system that backs
// files with 2 MiB pages:
//   - hugetlbfs: always huge pages, from the pool of /proc/sys/vm/nr_hugepages;
//     a file's size must be a multiple of the page size.
//   - tmpfs mounted with huge=always or huge=within_size: the pages that
//     posix_fallocate reserves are already huge.
//   - tmpfs mounted with huge=advise: the reservation gives small pages, so the
//     broker marks its mapping MADV_HUGEPAGE and collapses it (MADV_COLLAPSE,
//     Linux 6.1); the same collapse repairs a segment made before the mount
//     allowed huge pages, at an attach.
// A reader needs nothing: the kernel aligns its mapping of a file on a huge
// tmpfs or hugetlbfs to 2 MiB and maps the file's huge pages with one page
// table entry each (PMD-mapped), as it does the broker's.
//
// What the kernel gave is read from /proc/self/smaps: ShmemPmdMapped (tmpfs)
// or Shared_Hugetlb (hugetlbfs) of the mapping, once every page is mapped.
//
// Thread-safety: free functions; they read /proc and advise the caller's own
// mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>

namespace shmreg::broker {

inline constexpr std::size_t kPmdPageSize = std::size_t{2} << 20;

// The file system of the segment's directory, from fstatfs and
// /proc/self/mountinfo.
struct SegmentMount {
  enum class Kind : std::uint8_t { hugetlbfs, tmpfs, other };
  Kind kind = Kind::other;
  std::string fs_type;      // as mountinfo names it: "tmpfs", "hugetlbfs", "ext4"
  std::string mount_point;  // "" when mountinfo has no line for it
  std::string huge;         // a tmpfs's huge= ("never" when the mount has none)
  std::size_t page_size = kPmdPageSize;  // the huge page size it would give
  // Empty when the file system can give huge pages; else, for an operator,
  // what it lacks and what to mount ("which gives no huge pages: mount ...").
  std::string missing;

  [[nodiscard]] bool can_be_huge() const noexcept { return missing.empty(); }
  // "tmpfs (huge=always) mounted at /run/shmreg", for the log.
  [[nodiscard]] std::string text() const;
};

// The file system that holds dir_fd, or a message saying what could not be read.
[[nodiscard]] std::expected<SegmentMount, std::string> probe_segment_mount(int dir_fd);

// asked, rounded up to a whole number of the mount's huge pages (hugetlbfs
// refuses any other size; on tmpfs a last partial 2 MiB would be small pages).
[[nodiscard]] std::size_t huge_segment_size(std::size_t asked, const SegmentMount& mount) noexcept;

// How much of one mapping the kernel maps with huge pages.
struct HugePageUse {
  std::uint64_t size = 0;        // the mapping's length
  std::uint64_t huge_bytes = 0;  // of it, mapped with huge pages
  std::uint64_t page_size = 0;   // their size (2 MiB, or hugetlbfs's); 0 when none

  // Every whole huge page of the mapping is one (a tail shorter than a page
  // cannot be).
  [[nodiscard]] bool whole() const noexcept {
    const std::uint64_t unit = page_size != 0 ? page_size : kPmdPageSize;
    return huge_bytes >= size - size % unit && size >= unit;
  }
  // "64 MiB of 64 MiB on 2 MiB pages" or "0 of 64 MiB on huge pages".
  [[nodiscard]] std::string text() const;
};

// The mapping that starts at base, as /proc/self/smaps shows it now; nullopt
// when no mapping starts there or smaps cannot be read.
[[nodiscard]] std::optional<HugePageUse> huge_page_use(const void* base);

// Maps every page of the writer's mapping [base, base+size) into the broker
// (so that smaps counts them all), and where that shows small pages on a
// mount that can give huge ones, advises and collapses the mapping into huge
// pages. Returns what the mapping has afterwards and, in *how, what was done
// ("collapsed with MADV_COLLAPSE", or why that failed). The segment's bytes do
// not change: readers may map it meanwhile.
// REQUIRES: [base, base+size) is one whole mapping of the caller.
[[nodiscard]] HugePageUse back_with_huge_pages(const std::byte* base, std::size_t size, const SegmentMount& mount,
                                               std::string* how);

}  // namespace shmreg::broker
