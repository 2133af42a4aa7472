// The meta-block codec: the one definition of how a registry's meta (a list of
// key/value pairs) is laid out in its meta block (docs/segment-format.md,
// "Meta blocks"), shared by the writer, the reader and the broker.
//
// A block is zero or more items, each
//   [u32 key_len][u32 value_len][key, zero-padded to 8][value, zero-padded to 8]
// packed from offset 0, kMetaBlockSize bytes at most. Keys are 1 to
// kMaxMetaKey bytes and appear once.
//
// Strict both ways: encode refuses a list that breaks a rule (invalid_argument
// for a key, meta_too_large for the size) and decode refuses any block that
// encode could not have produced (corrupt): a length that runs past the end,
// a partial item, a key out of bounds or given twice. No caller ever works on
// half a block.
//
// Thread-safety: pure functions over caller-owned memory.
//
// Usage:
//   std::array<std::byte, kMetaBlockSize> block;
//   auto len = encode_meta({{"owner", "team-a"}}, block);          // W: private copy
//   auto pairs = decode_meta(std::span(block).first(*len));         // R: private copy
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shmreg/shm/errc.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::shm {

using MetaPairs = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::size_t kMaxMetaKey = 255;

// The bytes one pair takes in a block.
[[nodiscard]] constexpr std::uint64_t meta_pair_size(std::uint64_t key_len, std::uint64_t value_len) noexcept {
  return 8 + pad8(key_len) + pad8(value_len);
}

// The bytes the whole list takes (which may exceed kMetaBlockSize).
[[nodiscard]] std::uint64_t meta_size(const MetaPairs& meta) noexcept;

// invalid_argument if a key is empty, longer than kMaxMetaKey or given twice;
// meta_too_large if the list does not fit a block.
[[nodiscard]] Status check_meta(const MetaPairs& meta) noexcept;

// Writes meta's block image (its padding zeroed) at the start of out; returns
// its length. Fails as check_meta does, leaving out unspecified.
[[nodiscard]] Result<std::uint32_t> encode_meta(const MetaPairs& meta,
                                                std::span<std::byte, kMetaBlockSize> out) noexcept;

// The pairs of a block whose content is block (its length is the block's
// meta_len); corrupt for anything encode_meta cannot have written.
[[nodiscard]] Result<MetaPairs> decode_meta(std::span<const std::byte> block);

}  // namespace shmreg::shm
