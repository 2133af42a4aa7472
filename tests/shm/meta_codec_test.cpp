// The meta-block codec: what encode writes decodes to the same list, and any
// block encode could not have written is corrupt.
#include "shmreg/shm/meta_codec.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

using Block = std::array<std::byte, kMetaBlockSize>;

struct Encoded {
  Block block{};
  std::uint32_t len = 0;
  std::span<const std::byte> bytes() const { return std::span<const std::byte>(block).first(len); }
};

Encoded encode(const MetaPairs& meta) {
  Encoded e;
  e.len = ok(encode_meta(meta, e.block));
  return e;
}

void put_u32(Encoded& e, std::size_t at, std::uint32_t v) { std::memcpy(e.block.data() + at, &v, 4); }

const MetaPairs kSample = {{"owner", "team-a"}, {"bin", std::string("\0\xff", 2)}, {"empty", ""}};

TEST(MetaCodec, DecodeGivesBackWhatEncodeWrote) {
  const Encoded e = encode(kSample);
  EXPECT_EQ(e.len, meta_size(kSample));
  EXPECT_EQ(ok(decode_meta(e.bytes())), kSample);
}

TEST(MetaCodec, AnEmptyListIsAnEmptyBlock) {
  EXPECT_EQ(encode({}).len, 0u);
  EXPECT_TRUE(ok(decode_meta({})).empty());
}

TEST(MetaCodec, EachPairTakesTwoLengthsAndItsKeyAndValuePaddedToEight) {
  EXPECT_EQ(meta_pair_size(1, 0), 16u);
  EXPECT_EQ(meta_pair_size(8, 9), 32u);
  EXPECT_EQ(meta_size({{"k", "v"}, {"key", std::string(9, 'x')}}), 24u + 32u);
}

TEST(MetaCodec, EveryCutInsideAPairIsCorruptAndEveryCutBetweenPairsIsAShorterList) {
  const Encoded e = encode(kSample);
  std::set<std::uint64_t> boundaries{0};
  std::uint64_t off = 0;
  for (const auto& [k, v] : kSample) boundaries.insert(off += meta_pair_size(k.size(), v.size()));
  for (std::uint32_t len = 0; len < e.len; ++len) {
    auto r = decode_meta(e.bytes().first(len));
    if (boundaries.count(len) != 0) {
      ASSERT_TRUE(r) << "cut at " << len;
      EXPECT_EQ(*r, MetaPairs(kSample.begin(), kSample.begin() + static_cast<long>(r->size())));
    } else {
      EXPECT_EQ(error_of(r), Errc::corrupt) << "cut at " << len;
    }
  }
}

TEST(MetaCodec, LengthsThatRunPastTheBlockAreCorrupt) {
  Encoded key_too_long = encode({{"k", "v"}});
  put_u32(key_too_long, 0, 9);
  EXPECT_EQ(error_of(decode_meta(key_too_long.bytes())), Errc::corrupt);
  Encoded value_too_long = encode({{"k", "v"}});
  put_u32(value_too_long, 4, 0xffffffffu);
  EXPECT_EQ(error_of(decode_meta(value_too_long.bytes())), Errc::corrupt);
}

TEST(MetaCodec, ABlockWithAnEmptyOrOverlongOrRepeatedKeyIsCorrupt) {
  Encoded empty_key = encode({{"k", "v"}});
  put_u32(empty_key, 0, 0);
  EXPECT_EQ(error_of(decode_meta(empty_key.bytes())), Errc::corrupt);

  const std::string long_key(kMaxMetaKey, 'k');
  Encoded overlong = encode({{long_key, ""}});
  put_u32(overlong, 0, kMaxMetaKey + 1);
  EXPECT_EQ(error_of(decode_meta(overlong.bytes())), Errc::corrupt);

  Encoded twice = encode({{"a", "1"}, {"b", "2"}});
  std::memcpy(twice.block.data() + 16 + 8, "a", 1);
  EXPECT_EQ(error_of(decode_meta(twice.bytes())), Errc::corrupt);
}

TEST(MetaCodec, ABlockLongerThanItsBufferIsCorrupt) {
  std::vector<std::byte> big(kMetaBlockSize + 8);
  EXPECT_EQ(error_of(decode_meta(big)), Errc::corrupt);
}

TEST(MetaCodec, AListThatFillsTheBlockExactlyFitsAndOneByteMoreIsMetaTooLarge) {
  // One pair of 8 + 8 + 4080 bytes fills the 4096-byte block.
  const MetaPairs full = {{"k", std::string(kMetaBlockSize - 16, 'v')}};
  EXPECT_EQ(encode(full).len, kMetaBlockSize);
  EXPECT_EQ(ok(decode_meta(encode(full).bytes())), full);
  Block b{};
  EXPECT_EQ(error_of(encode_meta({{"k", std::string(kMetaBlockSize - 15, 'v')}}, b)), Errc::meta_too_large);
  EXPECT_EQ(error_of(check_meta({{"k", std::string(kMetaBlockSize, 'v')}})), Errc::meta_too_large);
}

TEST(MetaCodec, KeysAreOneToMaxMetaKeyBytesAndGivenOnce) {
  Block b{};
  EXPECT_TRUE(encode_meta({{std::string(kMaxMetaKey, 'k'), "v"}}, b));
  EXPECT_EQ(error_of(encode_meta({{std::string(kMaxMetaKey + 1, 'k'), "v"}}, b)), Errc::invalid_argument);
  EXPECT_EQ(error_of(encode_meta({{"", "v"}}, b)), Errc::invalid_argument);
  EXPECT_EQ(error_of(encode_meta({{"k", "1"}, {"k", "2"}}, b)), Errc::invalid_argument);
}

TEST(MetaCodec, EncodeZeroesThePaddingWhateverTheBufferHeld) {
  Encoded e;
  e.block.fill(std::byte{0xab});
  e.len = ok(encode_meta({{"k", "v"}}, e.block));
  // key "k" at 8, its padding to 16; value "v" at 16, its padding to 24.
  for (std::size_t i = 9; i < 16; ++i) EXPECT_EQ(e.block[i], std::byte{0}) << i;
  for (std::size_t i = 17; i < 24; ++i) EXPECT_EQ(e.block[i], std::byte{0}) << i;
}

}  // namespace
}  // namespace shmreg::shm::test
