// The wire protocol between libshmreg and shmreg-broker.
//
// A connection carries frames. Each frame is a 16-byte header followed by
// payload_len bytes of payload; all integers are little-endian.
//
//   offset size field
//   0      2    magic        0x5352 ("SR")
//   2      1    version      kVersion
//   3      1    kind         FrameKind: request or reply
//   4      4    request_id   chosen by the client, echoed in the reply
//   8      4    payload_len  <= kMaxPayload
//   12     4    reserved     0
//
// A request payload is a batch: u16 op count (1..kMaxBatch), then each op as
// u8 OpCode and its fields. A reply payload is u16 result count, then per
// result: u16 Status, u64 value (a version, a count or a pid, per op) and a
// u16-length message. Strings are u32 length + bytes. Requests may be
// pipelined: the broker answers frames in the order it received them.
//
// The decoders treat every byte as hostile: any malformed input yields a
// ParseError, never a crash, an over-read or an unbounded allocation.
//
// Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace shmreg::proto {

inline constexpr std::uint16_t kMagic = 0x5352;
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint32_t kMaxPayload = (1u << 21);  // 2 MiB: one max value plus room
inline constexpr std::uint16_t kMaxBatch = 4096;

enum class FrameKind : std::uint8_t { request = 1, reply = 2 };

enum class OpCode : std::uint8_t {
  ping = 1,
  create_registry = 2,
  register_key = 3,
  unregister = 4,
  unregister_all = 5,
};

enum class Status : std::uint16_t {
  ok = 0,
  already_registered = 1,  // value: the owner's pid
  not_found = 2,
  registry_not_found = 3,
  registry_exists = 4,     // same name, different options
  invalid_argument = 5,
  key_too_long = 6,
  value_too_long = 7,
  registry_full = 8,
  owner_table_full = 9,
  segment_full = 10,
  too_many_registries = 11,
  permission_denied = 12,
  internal_error = 13,
};

std::string_view to_string(Status s) noexcept;

struct Ping {};
struct CreateRegistry {
  std::string name;
  std::uint8_t kind = 1;  // 1 unique, 2 duplicate
  std::uint32_t partitions = 1;
  std::uint32_t max_key = 0;    // 0: the broker's default
  std::uint32_t max_value = 0;  // 0: the broker's default
  std::uint32_t capacity = 0;   // 0: the broker's default
};
struct RegisterKey {
  std::string registry;
  std::string key;
  std::string value;
};
struct Unregister {
  std::string registry;
  std::string key;
};
struct UnregisterAll {};

using Op = std::variant<Ping, CreateRegistry, RegisterKey, Unregister, UnregisterAll>;

struct OpResult {
  Status status = Status::ok;
  std::uint64_t value = 0;
  std::string message;
};

struct FrameHeader {
  FrameKind kind = FrameKind::request;
  std::uint32_t request_id = 0;
  std::uint32_t payload_len = 0;
};

enum class ParseError : std::uint8_t {
  bad_magic = 1,
  bad_version,
  bad_kind,
  too_large,
  truncated,        // the payload ends inside a field
  trailing_bytes,   // bytes left after the last op
  bad_op,
  bad_count,        // zero ops, or more than kMaxBatch
  bad_field,        // a field value out of range
};

std::string_view to_string(ParseError e) noexcept;

// Parses and checks a frame header. REQUIRES: bytes.size() >= kHeaderSize.
std::expected<FrameHeader, ParseError> parse_header(std::span<const std::uint8_t> bytes) noexcept;

std::expected<std::vector<Op>, ParseError> decode_request(std::span<const std::uint8_t> payload);
std::expected<std::vector<OpResult>, ParseError> decode_reply(std::span<const std::uint8_t> payload);

// Whole frames, header included.
std::vector<std::uint8_t> encode_request(std::uint32_t request_id, std::span<const Op> ops);
std::vector<std::uint8_t> encode_reply(std::uint32_t request_id, std::span<const OpResult> results);

}  // namespace shmreg::proto
