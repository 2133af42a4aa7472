// The meta-block codec (see meta_codec.hpp).
#include "shmreg/shm/meta_codec.hpp"

#include <cstring>
#include <string_view>

namespace shmreg::shm {

namespace {

bool key_ok(std::size_t len) noexcept { return len >= 1 && len <= kMaxMetaKey; }

// Quadratic, but a block holds at most kMetaBlockSize / 16 pairs.
bool has_duplicate_key(const MetaPairs& meta) noexcept {
  for (std::size_t i = 0; i < meta.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (meta[i].first == meta[j].first) return true;
  return false;
}

std::uint32_t load_u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::uint64_t meta_size(const MetaPairs& meta) noexcept {
  std::uint64_t n = 0;
  for (const auto& [k, v] : meta) n += meta_pair_size(k.size(), v.size());
  return n;
}

Status check_meta(const MetaPairs& meta) noexcept {
  for (const auto& kv : meta)
    if (!key_ok(kv.first.size())) return fail(Errc::invalid_argument);
  if (has_duplicate_key(meta)) return fail(Errc::invalid_argument);
  if (meta_size(meta) > kMetaBlockSize) return fail(Errc::meta_too_large);
  return {};
}

Result<std::uint32_t> encode_meta(const MetaPairs& meta, std::span<std::byte, kMetaBlockSize> out) noexcept {
  if (auto ok = check_meta(meta); !ok) return fail(ok.error());
  std::byte* p = out.data();
  std::uint64_t off = 0;
  for (const auto& [k, v] : meta) {
    const auto kl = static_cast<std::uint32_t>(k.size()), vl = static_cast<std::uint32_t>(v.size());
    std::memset(p + off, 0, meta_pair_size(kl, vl));
    std::memcpy(p + off, &kl, 4);
    std::memcpy(p + off + 4, &vl, 4);
    std::memcpy(p + off + 8, k.data(), kl);
    std::memcpy(p + off + 8 + pad8(kl), v.data(), vl);
    off += meta_pair_size(kl, vl);
  }
  return static_cast<std::uint32_t>(off);
}

Result<MetaPairs> decode_meta(std::span<const std::byte> block) {
  if (block.size() > kMetaBlockSize) return fail(Errc::corrupt);
  const std::byte* p = block.data();
  const std::uint64_t len = block.size();
  MetaPairs out;
  std::uint64_t off = 0;
  while (off < len) {
    if (len - off < 8) return fail(Errc::corrupt);
    const std::uint32_t kl = load_u32(p + off), vl = load_u32(p + off + 4);
    // Each bound is checked before the sum that uses it, so nothing overflows.
    if (!key_ok(kl) || vl > kMetaBlockSize || meta_pair_size(kl, vl) > len - off) return fail(Errc::corrupt);
    const auto* text = reinterpret_cast<const char*>(p + off + 8);
    const std::string_view key(text, kl);
    for (const auto& kv : out)
      if (kv.first == key) return fail(Errc::corrupt);
    out.emplace_back(std::string(key), std::string(text + pad8(kl), vl));
    off += meta_pair_size(kl, vl);
  }
  return out;
}

}  // namespace shmreg::shm
