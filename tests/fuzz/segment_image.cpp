// The sparse segment image (see segment_image.hpp).
#include "segment_image.hpp"

#include <unistd.h>

#include <algorithm>

namespace shmreg::fuzz {

namespace {

// Runs of zeros shorter than a chunk's own head are cheaper kept in a chunk.
constexpr std::size_t kMergeGap = 8;
constexpr std::size_t kMaxChunk = 0xffff;

std::uint64_t read_le(std::span<const std::uint8_t> in, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n && at + i < in.size(); ++i) v |= std::uint64_t{in[at + i]} << (8 * i);
  return v;
}

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

bool load_image(int fd, std::span<const std::uint8_t> input) {
  const std::size_t size = std::min<std::size_t>(read_le(input, 0, 4), kMaxImageSize);
  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) return false;
  std::size_t at = 4;
  while (at + 6 <= input.size()) {
    const std::size_t offset = read_le(input, at, 4), length = read_le(input, at + 4, 2);
    at += 6;
    const std::size_t have = std::min(length, input.size() - at);
    if (offset < size) {
      const std::size_t n = std::min(have, size - offset);
      if (::pwrite(fd, input.data() + at, n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n)) return false;
    }
    at += have;
  }
  return true;
}

std::vector<std::uint8_t> encode_image(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out;
  put_le(out, bytes.size(), 4);
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (bytes[i] == 0) {
      ++i;
      continue;
    }
    // A chunk from i to the last non-zero byte before a gap of kMergeGap zeros.
    std::size_t end = i + 1, zeros = 0;
    while (end < bytes.size() && end - i < kMaxChunk && zeros < kMergeGap) {
      zeros = bytes[end] == 0 ? zeros + 1 : 0;
      ++end;
    }
    end -= zeros;
    put_le(out, i, 4);
    put_le(out, end - i, 2);
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(i), bytes.begin() + static_cast<std::ptrdiff_t>(end));
    i = end;
  }
  return out;
}

}  // namespace shmreg::fuzz
