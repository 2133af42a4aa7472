// The wire encoding of the registry-semantics ops (6..11), create's meta, the
// reply's data field and the entries codec, including hostile input.
#include <gtest/gtest.h>

#include <random>

#include "shmreg/proto/wire.hpp"

namespace shmreg::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::span<const std::uint8_t> payload_of(const Bytes& frame) {
  return std::span<const std::uint8_t>(frame).subspan(kHeaderSize);
}

Bytes request(const std::vector<Op>& ops) { return encode_request(1, ops); }

std::vector<Op> every_new_op() {
  CreateRegistry c{"svc", 1, 2, 64, 128, 100, {{"owner", "team-a"}, {"url", std::string("a\0b", 3)}}};
  return {c,
          UpdateValue{"svc", "k", "new", 0, 42},
          UpdateValue{"svc", "k", "new", 3, std::nullopt},
          PutMeta{"svc", "mk", "mv"},
          DeleteMeta{"svc", "mk"},
          UnregisterMatch{"svc", "k", R"({"a":"$1"})", R"([[">","$1",1]])", 2},
          LookupConsistent{"svc", "k"},
          RegisterOnBehalf{"svc", "k", "v", kMaxFramePidfds}};
}

TEST(SemanticsWire, EveryNewOpSurvivesARoundTrip) {
  const auto ops = every_new_op();
  auto decoded = decode_request(payload_of(request(ops)));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  ASSERT_EQ(decoded->size(), ops.size());
  const auto& c = std::get<CreateRegistry>((*decoded)[0]);
  EXPECT_EQ(c.meta, std::get<CreateRegistry>(ops[0]).meta);
  EXPECT_EQ(c.capacity, 100u);
  const auto& u = std::get<UpdateValue>((*decoded)[1]);
  EXPECT_EQ(u.value, "new");
  EXPECT_EQ(u.expected_version, std::optional<std::uint64_t>(42));
  EXPECT_EQ(u.target, 0);
  const auto& u2 = std::get<UpdateValue>((*decoded)[2]);
  EXPECT_EQ(u2.expected_version, std::nullopt);
  EXPECT_EQ(u2.target, 3);
  EXPECT_EQ(std::get<PutMeta>((*decoded)[3]).value, "mv");
  EXPECT_EQ(std::get<DeleteMeta>((*decoded)[4]).key, "mk");
  const auto& m = std::get<UnregisterMatch>((*decoded)[5]);
  EXPECT_EQ(m.pattern, R"({"a":"$1"})");
  EXPECT_EQ(m.guards, R"([[">","$1",1]])");
  EXPECT_EQ(m.target, 2);
  EXPECT_EQ(std::get<LookupConsistent>((*decoded)[6]).key, "k");
  EXPECT_EQ(std::get<RegisterOnBehalf>((*decoded)[7]).target, kMaxFramePidfds);
}

TEST(SemanticsWire, EveryProperPrefixOfANewOpIsTruncated) {
  for (const Op& op : every_new_op()) {
    const Bytes frame = request({op});
    const auto payload = payload_of(frame);
    for (std::size_t n = 0; n < payload.size(); ++n)
      EXPECT_EQ(decode_request(payload.first(n)).error(), ParseError::truncated)
          << "op " << op.index() << ", prefix of " << n;
  }
}

// The last byte of each op below is the field under test.
TEST(SemanticsWire, ATargetBeyondThePidfdLimitIsABadField) {
  Bytes frame = request({UnregisterMatch{"r", "k", "_", "", 0}});
  frame.back() = kMaxFramePidfds + 1;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
  frame = request({RegisterOnBehalf{"r", "k", "v", 1}});
  frame.back() = kMaxFramePidfds + 1;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(SemanticsWire, RegisterOnBehalfWithoutATargetIsABadField) {
  Bytes frame = request({RegisterOnBehalf{"r", "k", "v", 1}});
  frame.back() = 0;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(SemanticsWire, AnExpectedVersionFlagOtherThanZeroOrOneIsABadField) {
  Bytes frame = request({UpdateValue{"r", "k", "v", 0, 7}});
  frame[frame.size() - 9] = 2;  // the flag sits before the u64 version
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(SemanticsWire, AMetaCountBeyondThePayloadIsRejectedBeforeAllocating) {
  Bytes frame = request({CreateRegistry{"r", 1, 1, 0, 0, 0, {}}});
  // The u16 meta count is the last field; claim the most pairs with no bytes.
  frame[frame.size() - 2] = 0xff;
  frame[frame.size() - 1] = 0xff;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::truncated);
}

TEST(SemanticsWire, ReplyDataSurvivesARoundTripAndIsEmptyByDefault) {
  const std::string data(100000, 'd');
  const std::vector<OpResult> results{OpResult{Status::ok, 2, "", data}, OpResult{Status::not_found, 0, "none"},
                                      OpResult{Status::version_conflict, 0, "stale"},
                                      OpResult{Status::reply_too_large, 0, "big"}};
  const Bytes frame = encode_reply(5, results);
  auto decoded = decode_reply(payload_of(frame));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  ASSERT_EQ(decoded->size(), results.size());
  EXPECT_EQ((*decoded)[0].data, data);
  EXPECT_EQ((*decoded)[1].data, "");
  EXPECT_EQ((*decoded)[2].status, Status::version_conflict);
  EXPECT_EQ((*decoded)[3].status, Status::reply_too_large);
}

TEST(SemanticsWire, ReplyResultIsStatusValueMessageThenData) {
  const Bytes frame = encode_reply(1, std::vector<OpResult>{OpResult{Status::ok, 0x0102, "hi", "xyz"}});
  const Bytes expected = {1, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 2, 0, 'h', 'i', 3, 0, 0, 0, 'x', 'y', 'z'};
  EXPECT_EQ(Bytes(frame.begin() + kHeaderSize, frame.end()), expected);
}

TEST(SemanticsWire, ADataLengthBeyondThePayloadIsTruncated) {
  Bytes frame = encode_reply(1, std::vector<OpResult>{OpResult{Status::ok, 0, "", "abc"}});
  frame[frame.size() - 4] = 0xff;  // the data length's low byte
  EXPECT_EQ(decode_reply(payload_of(frame)).error(), ParseError::truncated);
}

TEST(SemanticsWire, EntriesSurviveARoundTrip) {
  const std::vector<WireEntry> entries{{"k", "v", 42, 7}, {"", std::string(70000, 'x'), 1, ~0ULL}, {"k2", "", 0, 0}};
  auto decoded = decode_entries(encode_entries(entries));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_EQ(*decoded, entries);
  auto none = decode_entries(encode_entries({}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(SemanticsWire, EntriesThatAreCutShortOrFollowedByBytesAreRejected) {
  const std::string data = encode_entries(std::vector<WireEntry>{{"key", "value", 1, 2}, {"k", "v", 3, 4}});
  for (std::size_t n = 0; n < data.size(); ++n)
    EXPECT_EQ(decode_entries(std::string_view(data).substr(0, n)).error(), ParseError::truncated) << n;
  EXPECT_EQ(decode_entries(data + "x").error(), ParseError::trailing_bytes);
  std::string huge = data;
  huge[0] = huge[1] = huge[2] = huge[3] = '\xff';  // four billion entries in a few bytes
  EXPECT_EQ(decode_entries(huge).error(), ParseError::truncated);
}

TEST(SemanticsWire, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 rng(20240611);
  const std::vector<Op> seed_ops = every_new_op();
  const Bytes seed = request(seed_ops);
  const std::string seed_entries = encode_entries(std::vector<WireEntry>{{"a", "b", 1, 2}});
  for (int i = 0; i < 20000; ++i) {
    Bytes p(seed.begin() + kHeaderSize, seed.end());
    std::string e = seed_entries;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      p[rng() % p.size()] = static_cast<std::uint8_t>(rng());
      e[rng() % e.size()] = static_cast<char>(rng());
    }
    (void)decode_request(p);
    (void)decode_reply(p);
    (void)decode_entries(e);
  }
}

}  // namespace
}  // namespace shmreg::proto
