// A segment image as the segment fuzz target reads it: sparse, so that a
// seed made from a real 1 MiB segment stays a few kilobytes and the
// fuzzer's mutations land on bytes that mean something.
//
//   u32 size                      the image's size in bytes (at most kMaxImageSize)
//   then chunks, to the end:
//     u32 offset, u16 length, then length bytes, copied to offset
//
// Little-endian. Bytes no chunk covers are zero. A chunk that reaches past
// the image is cut at its end; one cut short by the end of the input keeps
// the bytes it has. Any input at all is some image: the format has no
// errors, so the fuzzer never wastes an input on it.
//
// Thread-safety: pure functions, except load_image, which writes the given
// descriptor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace shmreg::fuzz {

inline constexpr std::size_t kMaxImageSize = std::size_t{4} << 20;

// Makes the file fd (a memfd, say) the image of input: truncated to zero,
// sized, and each chunk written. False when a system call failed.
[[nodiscard]] bool load_image(int fd, std::span<const std::uint8_t> input);

// The sparse encoding of a whole file's bytes: one chunk per run of bytes
// that are not zero, runs closer than a few bytes merged.
[[nodiscard]] std::vector<std::uint8_t> encode_image(std::span<const std::uint8_t> bytes);

}  // namespace shmreg::fuzz
