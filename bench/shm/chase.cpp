// Pointer-chase buffers (see chase.hpp).
#include "chase.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "keys.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::bench {

namespace {

constexpr std::size_t kLine = 64;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

[[noreturn]] void die(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

ChaseBuffer::ChaseBuffer(std::size_t bytes, ChaseNodes nodes, ChaseBacking backing, std::uint64_t seed) {
  bytes_ = (std::max(bytes, kPage) + kPage - 1) / kPage * kPage;
  if (backing == ChaseBacking::small_pages) {
    const sys::UniqueFd fd(::memfd_create("shmreg-bench-chase", MFD_CLOEXEC));
    if (!fd) die("memfd_create");
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes_)) != 0) die("ftruncate");
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) die("mmap");
    map_ = static_cast<std::byte*>(p);
    map_len_ = bytes_;
    base_ = map_;
    ::madvise(base_, bytes_, MADV_NOHUGEPAGE);  // match the segment even where shmem THP is on
  } else {
    map_len_ = bytes_ + kHugePage;
    void* p = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    map_ = static_cast<std::byte*>(p);
    const auto addr = reinterpret_cast<std::uintptr_t>(map_);
    base_ = map_ + ((kHugePage - addr % kHugePage) % kHugePage);
    ::madvise(base_, bytes_, MADV_HUGEPAGE);
  }

  const std::size_t stride = nodes == ChaseNodes::lines      ? kLine
                             : nodes == ChaseNodes::records2 ? 2 * kLine
                             : nodes == ChaseNodes::records3 ? 3 * kLine
                                                             : kPage;
  nodes_ = bytes_ / stride;
  auto node = [&](std::size_t j) -> std::byte* {
    if (nodes != ChaseNodes::pages) return base_ + j * stride;
    // One line per page, at a random offset inside it, so that the chased
    // lines do not all map to the same few cache sets.
    return base_ + j * kPage + (mix64(j ^ seed) % (kPage / kLine)) * kLine;
  };
  std::vector<std::uint32_t> order(nodes_);
  std::iota(order.begin(), order.end(), 0U);
  Rng rng(seed);
  shuffle(order, rng);
  for (std::size_t i = 0; i < nodes_; ++i) {
    std::byte* from = node(order[i]);
    std::byte* to = node(order[(i + 1) % nodes_]);
    std::memcpy(from, &to, sizeof to);
  }
  start_ = reinterpret_cast<void* const*>(node(order[0]));
}

ChaseBuffer::~ChaseBuffer() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

double ChaseBuffer::huge_fraction() const {
  // Sum the huge-page lines of every mapping that overlaps [base_, base_+bytes_).
  std::ifstream in("/proc/self/smaps");
  const auto lo = reinterpret_cast<std::uintptr_t>(base_), hi = lo + bytes_;
  bool inside = false;
  double huge_kb = 0;
  for (std::string line; std::getline(in, line);) {
    unsigned long a = 0, b = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &a, &b) == 2 && line.find(':') > line.find(' ')) {
      inside = a < hi && b > lo;
      continue;
    }
    if (!inside) continue;
    double kb = 0;
    if (std::sscanf(line.c_str(), "AnonHugePages: %lf kB", &kb) == 1 ||
        std::sscanf(line.c_str(), "ShmemPmdMapped: %lf kB", &kb) == 1)
      huge_kb += kb;
  }
  return huge_kb * 1024.0 / double(bytes_);
}

}  // namespace shmreg::bench
