// Copying out of the segment for the reader's copying calls (reader.cpp,
// reader_walk.cpp): word by word with atomic loads, since the writer may be
// changing the bytes; the caller validates the copy with a seq afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmreg/shm/atomics.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::shm::reader_detail {

// Copies n bytes that start 8-aligned in the segment.
inline void copy_out(std::string& dst, const std::uint64_t* src, std::size_t n) {
  std::uint64_t small[16];
  if (n <= sizeof small) {
    racy_copy_words(small, src, pad8(n) / 8);
    dst.assign(reinterpret_cast<const char*>(small), n);
    return;
  }
  std::vector<std::uint64_t> buf(pad8(n) / 8);
  racy_copy_words(buf.data(), src, buf.size());
  dst.assign(reinterpret_cast<const char*>(buf.data()), n);
}

}  // namespace shmreg::shm::reader_detail
