// The wire codec, byte by byte: every op and every reply survives a round
// trip field by field, the frame layout is the one wire.hpp documents, and
// every ParseError comes out of the input that should produce it. The
// registry-semantics ops (update_value, meta, unregister_match, consistent
// lookups, register on behalf), the reply's data field and the entries codec
// also meet random bytes.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <tuple>

#include "shmreg/proto/wire.hpp"

namespace shmreg::proto {

// Printers, so that failures show names rather than bytes.
void PrintTo(ParseError e, std::ostream* os) { *os << to_string(e); }
void PrintTo(Status s, std::ostream* os) { *os << to_string(s); }

namespace {

using Bytes = std::vector<std::uint8_t>;

// Every field of every op, for field-by-field comparison: a field that both
// the encoder and the decoder forgot would survive a bytes-only round trip.
auto fields(const Ping&) { return std::tuple<>(); }
auto fields(const CreateRegistry& o) {
  return std::tie(o.name, o.kind, o.partitions, o.max_key, o.max_value, o.capacity, o.meta, o.events);
}
auto fields(const RegisterKey& o) { return std::tie(o.registry, o.key, o.value); }
auto fields(const Unregister& o) { return std::tie(o.registry, o.key); }
auto fields(const UnregisterAll&) { return std::tuple<>(); }
auto fields(const UpdateValue& o) { return std::tie(o.registry, o.key, o.value, o.target, o.expected_version); }
auto fields(const PutMeta& o) { return std::tie(o.registry, o.key, o.value); }
auto fields(const DeleteMeta& o) { return std::tie(o.registry, o.key); }
auto fields(const UnregisterMatch& o) { return std::tie(o.registry, o.key, o.pattern, o.guards, o.target); }
auto fields(const LookupConsistent& o) { return std::tie(o.registry, o.key); }
auto fields(const RegisterOnBehalf& o) { return std::tie(o.registry, o.key, o.value, o.target); }
auto fields(const RegisterQueued& o) { return std::tie(o.registry, o.key, o.value, o.flags); }
auto fields(const OpenMailbox&) { return std::tuple<>(); }
auto fields(const SendMessage& o) { return std::tie(o.registry, o.key, o.body); }
auto fields(const SetStatic& o) { return std::tie(o.registry, o.key, o.value); }
auto fields(const UnsetStatic& o) { return std::tie(o.registry, o.key); }
auto fields(const Reload& o) { return std::tie(o.action); }
auto fields(const GetStatus&) { return std::tuple<>(); }
auto fields(const GetClusterStatus&) { return std::tuple<>(); }

static_assert(std::variant_size_v<Op> == 19,
              "a new op: give it a fields() overload and a place in every_op() and in the corpus of "
              "wire_property_test.cpp");

bool same_op(const Op& a, const Op& b) {
  if (a.index() != b.index()) return false;
  return std::visit([&](const auto& x) { return fields(x) == fields(std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

::testing::AssertionResult same_ops(const std::vector<Op>& a, const std::vector<Op>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " ops vs " << b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_op(a[i], b[i]))
      return ::testing::AssertionFailure() << "op " << i << " (variant index " << a[i].index() << ") differs";
  return ::testing::AssertionSuccess();
}

std::span<const std::uint8_t> payload_of(const Bytes& frame) {
  return std::span<const std::uint8_t>(frame).subspan(kHeaderSize);
}

Bytes request(const std::vector<Op>& ops, std::uint32_t id = 7) { return encode_request(id, ops); }
Bytes reply(const std::vector<OpResult>& results, std::uint32_t id = 7) { return encode_reply(id, results); }

std::uint32_t u32_at(const Bytes& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{b[at + static_cast<std::size_t>(i)]} << (8 * i);
  return v;
}
void set_u16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v);
  b[at + 1] = static_cast<std::uint8_t>(v >> 8);
}
void set_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::string binary_string() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// One or more of every op, with awkward contents.
std::vector<Op> every_op() {
  return {
      Ping{},
      CreateRegistry{.name = "services", .kind = 1},
      CreateRegistry{.name = "pool",
                     .kind = 2,
                     .partitions = 64,
                     .max_key = 1024,
                     .max_value = 1u << 20,
                     .capacity = 0xffffffffu,
                     .meta = {{"owner", "team-a"}, {"", ""}, {"bin", binary_string()}}},
      RegisterKey{.registry = "services", .key = "db", .value = "host=a:5432"},
      RegisterKey{.registry = "r", .key = std::string("k\0ey", 4), .value = binary_string()},
      RegisterKey{},
      Unregister{.registry = "services", .key = "db"},
      Unregister{.registry = "", .key = std::string(1000, 'k')},
      UnregisterAll{},
      UpdateValue{.registry = "services", .key = "db", .value = "v2"},
      UpdateValue{.registry = "s", .key = "k", .value = "", .target = kMaxFramePidfds, .expected_version = 0},
      UpdateValue{.registry = "s", .key = "k", .value = "x", .target = 1, .expected_version = ~0ULL},
      PutMeta{.registry = "services", .key = "owner", .value = binary_string()},
      DeleteMeta{.registry = "services", .key = "owner"},
      UnregisterMatch{.registry = "pool", .key = "w", .pattern = R"({"zone":"$1"})", .guards = R"([[">","$1",1]])"},
      UnregisterMatch{.registry = "pool", .key = "w", .pattern = "_", .target = kMaxFramePidfds},
      LookupConsistent{.registry = "services", .key = "db"},
      RegisterOnBehalf{.registry = "services", .key = "child", .value = "v", .target = 1},
      RegisterOnBehalf{.registry = "services", .key = "child", .value = "v", .target = kMaxFramePidfds},
      RegisterQueued{.registry = "names", .key = "org.example.Svc", .value = "v"},
      RegisterQueued{.registry = "names", .key = "org.example.Svc", .value = "", .flags = 7},
      OpenMailbox{},
      SendMessage{.registry = "names", .key = "org.example.Svc", .body = binary_string()},
      SendMessage{},
      SetStatic{.registry = "services", .key = "gateway", .value = binary_string()},
      SetStatic{},
      UnsetStatic{.registry = "services", .key = "gateway"},
      Reload{},
      Reload{.action = ReloadAction::forbid},
      Reload{.action = ReloadAction::allow},
      GetStatus{},
      GetClusterStatus{},
  };
}

// The op code each op of every_op() starts with.
std::set<std::uint8_t> known_op_codes() {
  std::set<std::uint8_t> codes;
  for (const Op& op : every_op()) codes.insert(request({op})[kHeaderSize + 2]);
  return codes;
}

// -- round trips ---------------------------------------------------------------------------------

TEST(WireRoundTrip, EveryOpAloneSurvivesEncodeAndDecodeFieldByField) {
  for (const Op& op : every_op()) {
    const Bytes frame = request({op}, 42);
    auto h = parse_header(frame);
    ASSERT_TRUE(h) << "variant " << op.index() << ": " << to_string(h.error());
    EXPECT_EQ(h->kind, FrameKind::request);
    EXPECT_EQ(h->request_id, 42u);
    EXPECT_EQ(h->payload_len, frame.size() - kHeaderSize);
    auto ops = decode_request(payload_of(frame));
    ASSERT_TRUE(ops) << "variant " << op.index() << ": " << to_string(ops.error());
    EXPECT_TRUE(same_ops(*ops, {op}));
  }
  EXPECT_EQ(known_op_codes().size(), std::variant_size_v<Op>) << "every_op() misses an op";
}

TEST(WireRoundTrip, BatchOfEveryOpSurvivesInOrder) {
  const std::vector<Op> ops = every_op();
  auto decoded = decode_request(payload_of(request(ops)));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_TRUE(same_ops(*decoded, ops));
}

TEST(WireRoundTrip, LargestBatchAndLargestValueDecode) {
  std::vector<Op> many(kMaxBatch, Op{Ping{}});
  auto decoded = decode_request(payload_of(request(many)));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_EQ(decoded->size(), kMaxBatch);

  const std::string big(1u << 20, 'v');
  auto one = decode_request(payload_of(request({RegisterKey{.registry = "r", .key = "k", .value = big}})));
  ASSERT_TRUE(one) << to_string(one.error());
  EXPECT_EQ(std::get<RegisterKey>(one->front()).value, big);
}

// Statuses are the values to_string() knows.
std::vector<Status> known_statuses() {
  std::vector<Status> out;
  for (int s = 0; s <= 0xffff; ++s)
    if (to_string(static_cast<Status>(s)) != "unknown status") out.push_back(static_cast<Status>(s));
  return out;
}

TEST(WireRoundTrip, EveryReplyStatusSurvivesWithValueMessageAndData) {
  std::vector<OpResult> results;
  for (Status s : known_statuses())
    results.push_back(OpResult{.status = s,
                               .value = 0x0123456789abcdefULL + static_cast<std::uint64_t>(s),
                               .message = "message " + std::to_string(static_cast<int>(s)),
                               .data = "data " + std::to_string(static_cast<int>(s))});
  results.push_back(OpResult{});
  results.push_back(OpResult{.status = Status::already_registered, .value = 4242, .message = binary_string()});
  results.push_back(OpResult{.value = ~0ULL, .message = std::string(0xffff, 'm'), .data = std::string(100000, 'd')});

  const Bytes frame = reply(results, 99);
  auto h = parse_header(frame);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, FrameKind::reply);
  EXPECT_EQ(h->request_id, 99u);
  auto decoded = decode_reply(payload_of(frame));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  ASSERT_EQ(decoded->size(), results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ((*decoded)[i].status, results[i].status) << i;
    EXPECT_EQ((*decoded)[i].value, results[i].value) << i;
    EXPECT_EQ((*decoded)[i].message, results[i].message) << i;
    EXPECT_EQ((*decoded)[i].data, results[i].data) << i;
  }
}

TEST(WireRoundTrip, ReplyMessageLongerThanItsLengthFieldIsCutNotCorrupted) {
  const std::string long_message(70000, 'x');
  auto decoded = decode_reply(payload_of(reply({OpResult{.status = Status::internal_error, .message = long_message}})));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_EQ(decoded->front().message, long_message.substr(0, 0xffff));
}

TEST(WireRoundTrip, EmptyReplyDecodes) {
  auto decoded = decode_reply(payload_of(reply({})));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_TRUE(decoded->empty());
}

TEST(WireRoundTrip, EntriesSurviveEncodeAndDecode) {
  const std::vector<WireEntry> entries = {
      {.key = "db", .value = "host=a", .pid = 1, .version = 2},
      {.key = "", .value = "", .pid = 0, .version = 0},
      {.key = std::string("k\0", 2), .value = binary_string(), .pid = ~0u, .version = ~0ULL},
  };
  const std::string data = encode_entries(entries);
  std::size_t expected_size = 4;
  for (const auto& e : entries) expected_size += encoded_entry_size(e.key.size(), e.value.size());
  EXPECT_EQ(data.size(), expected_size);
  auto decoded = decode_entries(data);
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_EQ(*decoded, entries);
  auto none = decode_entries(encode_entries({}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// -- the layout wire.hpp documents ---------------------------------------------------------------

TEST(WireLayout, HeaderFieldsSitWhereTheDocumentationSays) {
  const Bytes frame = request({Ping{}}, 0x11223344);
  ASSERT_EQ(frame.size(), kHeaderSize + 3);  // u16 count + u8 op
  EXPECT_EQ(frame[0], 0x52);                 // magic 0x5352, little-endian
  EXPECT_EQ(frame[1], 0x53);
  EXPECT_EQ(frame[2], kVersion);
  EXPECT_EQ(frame[3], static_cast<std::uint8_t>(FrameKind::request));
  EXPECT_EQ(u32_at(frame, 4), 0x11223344u);
  EXPECT_EQ(u32_at(frame, 8), 3u);
  EXPECT_EQ(u32_at(frame, 12), 0u);
  EXPECT_EQ(frame[16], 1);  // count
  EXPECT_EQ(frame[17], 0);
  EXPECT_EQ(frame[18], static_cast<std::uint8_t>(OpCode::ping));
}

TEST(WireLayout, RegisterKeyIsOpCodeThenThreeLengthPrefixedStrings) {
  const Bytes frame = request({RegisterKey{.registry = "ab", .key = "c", .value = "def"}});
  const Bytes expected_payload = {1, 0, static_cast<std::uint8_t>(OpCode::register_key),
                                  2, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c', 3, 0, 0, 0, 'd', 'e', 'f'};
  EXPECT_EQ(Bytes(frame.begin() + kHeaderSize, frame.end()), expected_payload);
}

TEST(WireLayout, ReplyResultIsStatusValueShortMessageAndData) {
  const Bytes frame = reply({OpResult{.status = Status::already_registered, .value = 0x0102, .message = "hi", .data = "d"}});
  const Bytes expected_payload = {1, 0, 1, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 2, 0, 'h', 'i', 1, 0, 0, 0, 'd'};
  EXPECT_EQ(Bytes(frame.begin() + kHeaderSize, frame.end()), expected_payload);
}

// -- parse_header errors -------------------------------------------------------------------------

TEST(WireHeaderErrors, BadMagicIsRejected) {
  for (std::size_t byte : {0u, 1u}) {
    Bytes frame = request({Ping{}});
    frame[byte] ^= 0x01;
    EXPECT_EQ(parse_header(frame).error(), ParseError::bad_magic) << "byte " << byte;
  }
}

TEST(WireHeaderErrors, OtherProtocolVersionsAreRejected) {
  for (int v : {0, kVersion + 1, 255}) {
    Bytes frame = request({Ping{}});
    frame[2] = static_cast<std::uint8_t>(v);
    EXPECT_EQ(parse_header(frame).error(), ParseError::bad_version) << "version " << v;
  }
}

TEST(WireHeaderErrors, UnknownFrameKindsAreRejected) {
  for (int k : {0, 4, 255}) {
    Bytes frame = request({Ping{}});
    frame[3] = static_cast<std::uint8_t>(k);
    EXPECT_EQ(parse_header(frame).error(), ParseError::bad_kind) << "kind " << k;
  }
}

TEST(WireHeaderErrors, PayloadLengthAboveTheMaximumIsRejected) {
  Bytes frame = request({Ping{}});
  set_u32(frame, 8, kMaxPayload);
  ASSERT_TRUE(parse_header(frame));
  EXPECT_EQ(parse_header(frame)->payload_len, kMaxPayload);
  for (std::uint32_t len : {kMaxPayload + 1, 0x80000000u, 0xffffffffu}) {
    set_u32(frame, 8, len);
    EXPECT_EQ(parse_header(frame).error(), ParseError::too_large) << "payload_len " << len;
  }
}

TEST(WireHeaderErrors, HeaderShorterThanSixteenBytesIsTruncated) {
  const Bytes frame = request({Ping{}});
  for (std::size_t n = 0; n < kHeaderSize; ++n)
    EXPECT_EQ(parse_header(std::span<const std::uint8_t>(frame.data(), n)).error(), ParseError::truncated) << n;
}

// -- decode_request errors -----------------------------------------------------------------------

TEST(WireRequestErrors, EveryProperPrefixOfAValidPayloadIsTruncated) {
  const Bytes frame = request(every_op());
  const auto payload = payload_of(frame);
  for (std::size_t n = 0; n < payload.size(); ++n) {
    auto r = decode_request(payload.first(n));
    ASSERT_FALSE(r) << "a prefix of " << n << " of " << payload.size() << " bytes decoded";
    EXPECT_EQ(r.error(), ParseError::truncated) << "prefix of " << n << " bytes";
  }
}

TEST(WireRequestErrors, EveryProperPrefixOfEachOpAloneIsTruncated) {
  for (const Op& op : every_op()) {
    const Bytes frame = request({op});
    for (std::size_t n = 0; n < frame.size() - kHeaderSize; ++n)
      EXPECT_EQ(decode_request(payload_of(frame).first(n)).error(), ParseError::truncated)
          << "variant " << op.index() << ", prefix of " << n;
  }
}

TEST(WireRequestErrors, BytesAfterTheLastOpAreRejected) {
  for (const Op& op : every_op()) {
    const Bytes frame = request({op});
    Bytes payload(frame.begin() + kHeaderSize, frame.end());
    payload.push_back(0);
    EXPECT_EQ(decode_request(payload).error(), ParseError::trailing_bytes) << "variant " << op.index();
  }
}

TEST(WireRequestErrors, EveryUnknownOpCodeIsRejected) {
  const auto known = known_op_codes();
  for (int code = 0; code < 256; ++code) {
    if (known.count(static_cast<std::uint8_t>(code)) != 0) continue;
    Bytes frame = request({Ping{}});
    frame[kHeaderSize + 2] = static_cast<std::uint8_t>(code);
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_op) << "op " << code;
  }
  // An unknown op after a valid one.
  Bytes two = request({Ping{}, Ping{}});
  two[kHeaderSize + 3] = 0xee;
  EXPECT_EQ(decode_request(payload_of(two)).error(), ParseError::bad_op);
}

TEST(WireRequestErrors, ZeroOpsOrMoreThanTheBatchMaximumAreABadCount) {
  for (std::uint32_t count : {0u, kMaxBatch + 1u, 0xffffu}) {
    Bytes frame = request({Ping{}});
    set_u16(frame, kHeaderSize, static_cast<std::uint16_t>(count));
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_count) << "count " << count;
  }
}

TEST(WireRequestErrors, RegistryKindOtherThanUniqueOrDuplicateIsABadField) {
  for (int kind : {0, 3, 255}) {
    Bytes frame = request({CreateRegistry{.name = "r"}});
    frame[kHeaderSize + 2 + 1 + 4 + 1] = static_cast<std::uint8_t>(kind);  // count, op, name length, name
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field) << "kind " << kind;
  }
}

TEST(WireRequestErrors, MetaPairCountBeyondThePayloadIsTruncated) {
  Bytes frame = request({CreateRegistry{.name = "r", .meta = {{"k", "v"}}}});
  const std::size_t pairs_at = kHeaderSize + 2 + 1 + 4 + 1 + 1 + 16;
  ASSERT_EQ(frame[pairs_at], 1);
  for (std::uint16_t pairs : {2, 1000, 0xffff}) {
    set_u16(frame, pairs_at, pairs);
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::truncated) << pairs << " pairs";
  }
}

// The offset of the first byte after an op's strings, in a one-op request.
std::size_t after_strings(const Op& op, std::size_t strings) {
  const Bytes frame = request({op});
  std::size_t at = kHeaderSize + 3;
  for (std::size_t i = 0; i < strings; ++i) at += 4 + u32_at(frame, at);
  return at;
}

TEST(WireRequestErrors, TargetsBeyondTheFramesPidfdsAreABadField) {
  const Op update = UpdateValue{.registry = "r", .key = "k", .value = "v"};
  const Op match = UnregisterMatch{.registry = "r", .key = "k", .pattern = "_"};
  const Op behalf = RegisterOnBehalf{.registry = "r", .key = "k", .value = "v", .target = 1};
  for (const auto& [op, strings, bad_targets] :
       {std::tuple{update, 3u, std::vector<int>{kMaxFramePidfds + 1, 255}},
        std::tuple{match, 4u, std::vector<int>{kMaxFramePidfds + 1, 255}},
        std::tuple{behalf, 3u, std::vector<int>{0, kMaxFramePidfds + 1, 255}}}) {
    for (int target : bad_targets) {
      Bytes frame = request({op});
      frame[after_strings(op, strings)] = static_cast<std::uint8_t>(target);
      EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field)
          << "variant " << op.index() << ", target " << target;
    }
  }
}

TEST(WireRequestErrors, QueueFlagsOutsideTheThreeKnownBitsAreABadField) {
  const Op queued = RegisterQueued{.registry = "r", .key = "k", .value = "v", .flags = 1};
  for (int flags : {8, 0x10, 0x80, 0xff}) {
    Bytes frame = request({queued});
    frame[after_strings(queued, 3)] = static_cast<std::uint8_t>(flags);
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field) << "flags " << flags;
  }
}

TEST(WireRequestErrors, ExpectedVersionFlagOtherThanZeroOrOneIsABadField) {
  const Op update = UpdateValue{.registry = "r", .key = "k", .value = "v", .expected_version = 5};
  for (int flag : {2, 255}) {
    Bytes frame = request({update});
    frame[after_strings(update, 3) + 1] = static_cast<std::uint8_t>(flag);
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field) << "flag " << flag;
  }
}

// Without an expected version the u64 after the flag carries nothing; a
// decoder that ignores it accepts many encodings of one request, and then no
// fuzzer can check that what decodes encodes back to the same bytes.
TEST(WireRequestErrors, ExpectedVersionBytesWithoutTheFlagAreABadField) {
  const Op update = UpdateValue{.registry = "r", .key = "k", .value = "v"};
  Bytes frame = request({update});
  const std::size_t version_at = after_strings(update, 3) + 2;
  ASSERT_EQ(frame.size(), version_at + 8);
  frame[version_at] = 0x2a;
  auto r = decode_request(payload_of(frame));
  ASSERT_FALSE(r) << "decoded, with expected_version "
                  << (std::get<UpdateValue>(r->front()).expected_version ? "set" : "unset");
  EXPECT_EQ(r.error(), ParseError::bad_field);
}

TEST(WireRequestErrors, StringLengthPastTheEndIsTruncatedWithoutAllocatingIt) {
  Bytes frame = request({RegisterKey{.registry = "r", .key = "k", .value = "v"}});
  for (std::uint32_t len : {2u, 1000u, 0x7fffffffu, 0xffffffffu}) {
    set_u32(frame, kHeaderSize + 3, len);
    EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::truncated) << "length " << len;
  }
}

TEST(WireRequestErrors, PayloadLargerThanTheMaximumIsTooLarge) {
  Bytes payload(kMaxPayload + 1, 0);
  set_u16(payload, 0, 1);
  payload[2] = static_cast<std::uint8_t>(OpCode::ping);
  EXPECT_EQ(decode_request(payload).error(), ParseError::too_large);
  EXPECT_EQ(decode_reply(payload).error(), ParseError::too_large);
  EXPECT_EQ(decode_entries(std::string(kMaxPayload + 1, '\0')).error(), ParseError::too_large);
}

// -- decode_reply and decode_entries errors ------------------------------------------------------

TEST(WireReplyErrors, EveryProperPrefixOfAValidReplyIsTruncated) {
  const Bytes frame = reply({OpResult{.value = 1, .message = "one", .data = "x"},
                             OpResult{.status = Status::not_found, .value = 2}});
  const auto payload = payload_of(frame);
  for (std::size_t n = 0; n < payload.size(); ++n)
    EXPECT_EQ(decode_reply(payload.first(n)).error(), ParseError::truncated) << "prefix of " << n;
}

TEST(WireReplyErrors, BytesAfterTheLastResultAreRejected) {
  Bytes frame = reply({OpResult{.value = 1, .message = "one"}});
  frame.push_back(9);
  EXPECT_EQ(decode_reply(payload_of(frame)).error(), ParseError::trailing_bytes);
}

TEST(WireReplyErrors, MoreResultsThanTheBatchMaximumIsABadCount) {
  Bytes frame = reply({OpResult{}});
  set_u16(frame, kHeaderSize, static_cast<std::uint16_t>(kMaxBatch + 1));
  EXPECT_EQ(decode_reply(payload_of(frame)).error(), ParseError::bad_count);
}

TEST(WireReplyErrors, EveryUnknownStatusIsABadField) {
  const auto known = known_statuses();
  const std::set<Status> known_set(known.begin(), known.end());
  int unknown = 0;
  for (int s = 0; s <= 0xffff; ++s) {
    if (known_set.count(static_cast<Status>(s)) != 0) continue;
    ++unknown;
    Bytes frame = reply({OpResult{}});
    set_u16(frame, kHeaderSize + 2, static_cast<std::uint16_t>(s));
    ASSERT_EQ(decode_reply(payload_of(frame)).error(), ParseError::bad_field) << "status " << s;
  }
  EXPECT_GT(unknown, 60000);
}

TEST(WireEntriesErrors, PrefixesTrailingBytesAndOverlongCountsAreRejected) {
  const std::string data = encode_entries(std::vector<WireEntry>{{.key = "k", .value = "v", .pid = 1, .version = 1},
                                                                 {.key = "kk", .value = "", .pid = 2, .version = 3}});
  for (std::size_t n = 0; n < data.size(); ++n)
    EXPECT_EQ(decode_entries(data.substr(0, n)).error(), ParseError::truncated) << "prefix of " << n;
  EXPECT_EQ(decode_entries(data + "x").error(), ParseError::trailing_bytes);
  std::string overlong = data;
  overlong[0] = '\xff';
  overlong[1] = '\xff';
  overlong[2] = '\xff';
  overlong[3] = '\x7f';
  EXPECT_EQ(decode_entries(overlong).error(), ParseError::truncated);
}

// -- messages and send reports -----------------------------------------------------------------

TEST(WireMessages, AMessageFrameRoundTripsFieldByField) {
  const Message m{.sender_pid = 4242,
                  .sender_uid = 1000,
                  .dropped = 7,
                  .registry = "names",
                  .key = std::string("k\0ey", 4),
                  .body = binary_string()};
  const Bytes frame = encode_message(m);
  auto h = parse_header(frame);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, FrameKind::message);
  EXPECT_EQ(h->request_id, 0u);
  EXPECT_EQ(h->payload_len, frame.size() - kHeaderSize);
  auto back = decode_message(payload_of(frame));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, m);
  // Fixed fields first, little-endian, as wire.hpp documents.
  EXPECT_EQ(u32_at(frame, kHeaderSize), 4242u);
  EXPECT_EQ(u32_at(frame, kHeaderSize + 4), 1000u);
  EXPECT_EQ(u32_at(frame, kHeaderSize + 8), 7u);
}

TEST(WireMessages, PrefixesAndTrailingBytesAreRejected) {
  const Bytes frame = encode_message(Message{.sender_pid = 1, .registry = "r", .key = "k", .body = "hello"});
  const auto payload = payload_of(frame);
  for (std::size_t n = 0; n < payload.size(); ++n)
    EXPECT_EQ(decode_message(payload.first(n)).error(), ParseError::truncated) << "prefix of " << n;
  Bytes longer(payload.begin(), payload.end());
  longer.push_back(0);
  EXPECT_EQ(decode_message(longer).error(), ParseError::trailing_bytes);
}

TEST(WireMessages, SendReportsRoundTripAndRejectBadCounts) {
  const SendReport r{.delivered_to = {10, 20, 0xffffffffu}, .no_mailbox = 2, .mailbox_full = 1};
  const std::string data = encode_send_report(r);
  ASSERT_EQ(data.size(), 12u + 3 * 4);
  auto back = decode_send_report(data);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  auto empty = decode_send_report(encode_send_report({}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->delivered_to.empty());
  for (std::size_t n = 0; n < data.size(); ++n)
    EXPECT_EQ(decode_send_report(data.substr(0, n)).error(), ParseError::truncated) << "prefix of " << n;
  EXPECT_EQ(decode_send_report(data + "x").error(), ParseError::truncated);
  std::string overlong = data;
  overlong[8] = '\xff';
  EXPECT_EQ(decode_send_report(overlong).error(), ParseError::truncated);
}

// -- names ---------------------------------------------------------------------------------------

TEST(WireNames, EveryParseErrorAndStatusHasItsOwnName) {
  std::set<std::string_view> names;
  for (int e = static_cast<int>(ParseError::bad_magic); e <= static_cast<int>(ParseError::bad_field); ++e) {
    const auto n = to_string(static_cast<ParseError>(e));
    EXPECT_NE(n, "unknown parse error") << e;
    EXPECT_TRUE(names.insert(n).second) << "duplicate name " << n;
  }
  names.clear();
  for (Status s : known_statuses()) EXPECT_TRUE(names.insert(to_string(s)).second) << "duplicate " << to_string(s);
  EXPECT_GE(names.size(), 14u);
}

// -- the registry-semantics ops, replies with data, entries -------------------------------------

std::vector<Op> every_registry_op() {
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

TEST(WireRegistryOps, EveryNewOpSurvivesARoundTrip) {
  const auto ops = every_registry_op();
  auto decoded = decode_request(payload_of(request(ops, 1)));
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

TEST(WireRegistryOps, EveryProperPrefixOfANewOpIsTruncated) {
  for (const Op& op : every_registry_op()) {
    const Bytes frame = request({op}, 1);
    const auto payload = payload_of(frame);
    for (std::size_t n = 0; n < payload.size(); ++n)
      EXPECT_EQ(decode_request(payload.first(n)).error(), ParseError::truncated)
          << "op " << op.index() << ", prefix of " << n;
  }
}

// The last byte of each op below is the field under test.
TEST(WireRegistryOps, ATargetBeyondThePidfdLimitIsABadField) {
  Bytes frame = request({UnregisterMatch{"r", "k", "_", "", 0}}, 1);
  frame.back() = kMaxFramePidfds + 1;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
  frame = request({RegisterOnBehalf{"r", "k", "v", 1}}, 1);
  frame.back() = kMaxFramePidfds + 1;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(WireRegistryOps, RegisterOnBehalfWithoutATargetIsABadField) {
  Bytes frame = request({RegisterOnBehalf{"r", "k", "v", 1}}, 1);
  frame.back() = 0;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(WireRegistryOps, AnExpectedVersionFlagOtherThanZeroOrOneIsABadField) {
  Bytes frame = request({UpdateValue{"r", "k", "v", 0, 7}}, 1);
  frame[frame.size() - 9] = 2;  // the flag sits before the u64 version
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::bad_field);
}

TEST(WireRegistryOps, AMetaCountBeyondThePayloadIsRejectedBeforeAllocating) {
  Bytes frame = request({CreateRegistry{"r", 1, 1, 0, 0, 0, {}}}, 1);
  // The u16 meta count is the last field but the u32 events; claim the most
  // pairs with only those 4 bytes after it.
  frame[frame.size() - 6] = 0xff;
  frame[frame.size() - 5] = 0xff;
  EXPECT_EQ(decode_request(payload_of(frame)).error(), ParseError::truncated);
}

TEST(WireRegistryOps, ReplyDataSurvivesARoundTripAndIsEmptyByDefault) {
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

TEST(WireRegistryOps, ReplyResultIsStatusValueMessageThenData) {
  const Bytes frame = encode_reply(1, std::vector<OpResult>{OpResult{Status::ok, 0x0102, "hi", "xyz"}});
  const Bytes expected = {1, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 2, 0, 'h', 'i', 3, 0, 0, 0, 'x', 'y', 'z'};
  EXPECT_EQ(Bytes(frame.begin() + kHeaderSize, frame.end()), expected);
}

TEST(WireRegistryOps, ADataLengthBeyondThePayloadIsTruncated) {
  Bytes frame = encode_reply(1, std::vector<OpResult>{OpResult{Status::ok, 0, "", "abc"}});
  frame[frame.size() - 4] = 0xff;  // the data length's low byte
  EXPECT_EQ(decode_reply(payload_of(frame)).error(), ParseError::truncated);
}

TEST(WireRegistryOps, EntriesSurviveARoundTrip) {
  const std::vector<WireEntry> entries{{"k", "v", 42, 7}, {"", std::string(70000, 'x'), 1, ~0ULL}, {"k2", "", 0, 0}};
  auto decoded = decode_entries(encode_entries(entries));
  ASSERT_TRUE(decoded) << to_string(decoded.error());
  EXPECT_EQ(*decoded, entries);
  auto none = decode_entries(encode_entries({}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(WireRegistryOps, EntriesThatAreCutShortOrFollowedByBytesAreRejected) {
  const std::string data = encode_entries(std::vector<WireEntry>{{"key", "value", 1, 2}, {"k", "v", 3, 4}});
  for (std::size_t n = 0; n < data.size(); ++n)
    EXPECT_EQ(decode_entries(std::string_view(data).substr(0, n)).error(), ParseError::truncated) << n;
  EXPECT_EQ(decode_entries(data + "x").error(), ParseError::trailing_bytes);
  std::string huge = data;
  huge[0] = huge[1] = huge[2] = huge[3] = '\xff';  // four billion entries in a few bytes
  EXPECT_EQ(decode_entries(huge).error(), ParseError::truncated);
}

TEST(WireRegistryOps, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 rng(20240611);
  const std::vector<Op> seed_ops = every_registry_op();
  const Bytes seed = request(seed_ops, 1);
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
