// The wire protocol between libshmreg and shmreg-broker.
//
// A connection carries frames. Each frame is a 16-byte header followed by
// payload_len bytes of payload; all integers are little-endian.
//
//   offset size field
//   0      2    magic        0x5352 ("SR")
//   2      1    version      kVersion
//   3      1    kind         FrameKind: request, reply or message
//   4      4    request_id   chosen by the client, echoed in the reply (0 in a message)
//   8      4    payload_len  <= kMaxPayload
//   12     4    reserved     0
//
// A request payload is a batch: u16 op count (1..kMaxBatch), then each op as
// u8 OpCode and its fields. A reply payload is u16 result count, then per
// result: u16 Status, u64 value (a version, a count or a pid, per op), a
// u16-length message and a u32-length data field (bytes an op returns, e.g.
// the entries of lookup_consistent; empty for most ops). Strings are u32
// length + bytes. Requests may be pipelined: the broker answers frames in the
// order it received them.
//
// Messages (send by name): a connection that opened a mailbox (OpenMailbox)
// also receives frames of kind message, unsolicited, between its replies. A
// message payload is: u32 sender pid, u32 sender uid, u32 dropped (messages
// for this mailbox the broker discarded since the previous one it delivered,
// because the mailbox was full), then registry, key and body strings. Only
// the broker sends messages; a client that sends one is disconnected.
//
// Acting for another process: a request frame may carry up to
// kMaxFramePidfds pidfds as SCM_RIGHTS ancillary data, sent with the frame's
// first byte. An op's `target` field names one of them (1-based, in the order
// sent); 0 means the calling process itself. Descriptors that no op names are
// closed by the broker once the frame has been answered.
//
// The decoders treat every byte as hostile: any malformed input yields a
// ParseError, never a crash, an over-read or an unbounded allocation.
//
// Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace shmreg::proto {

inline constexpr std::uint16_t kMagic = 0x5352;
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint32_t kMaxPayload = (1u << 21);  // 2 MiB: one max value plus room
inline constexpr std::uint16_t kMaxBatch = 4096;
// Pidfds one request frame may carry (see "Acting for another process").
inline constexpr std::uint8_t kMaxFramePidfds = 16;
// The data fields of one reply together stay within this, which leaves room
// in kMaxPayload for a full batch of results with their messages.
inline constexpr std::uint32_t kMaxReplyData = kMaxPayload - (1u << 19);

enum class FrameKind : std::uint8_t { request = 1, reply = 2, message = 3 };

// The largest body of one message (SendMessage).
inline constexpr std::uint32_t kMaxMessageBody = 64 * 1024;

enum class OpCode : std::uint8_t {
  ping = 1,
  create_registry = 2,
  register_key = 3,
  unregister = 4,
  unregister_all = 5,
  update_value = 6,
  put_meta = 7,
  delete_meta = 8,
  unregister_match = 9,
  lookup_consistent = 10,
  register_on_behalf = 11,
  register_queued = 12,
  open_mailbox = 13,
  send_message = 14,
  set_static = 15,
  unset_static = 16,
  reload = 17,
  get_status = 18,
  get_cluster_status = 19,
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
  version_conflict = 14,   // update_value: the entry's version is not the expected one
  reply_too_large = 15,    // the op's answer would not fit in one reply (kMaxReplyData)
  no_mailbox = 16,         // send_message: the key has owners, none with an open mailbox
  mailbox_full = 17,       // send_message: every owner's mailbox is full; nothing was delivered
  message_too_large = 18,  // send_message: body larger than kMaxMessageBody
  mailbox_exists = 19,     // open_mailbox: the process has a mailbox open on another connection
  // Outcomes of the segment writer that reach the client as themselves (the
  // broker maps every shm::Errc to exactly one Status, broker/src/status.cpp).
  meta_too_large = 20,     // put_meta / create's meta: the registry's meta block cannot hold it
  stale_owner = 21,        // the pid is recorded under another identity (pid reuse not yet reaped)
  segment_corrupt = 22,    // the broker found its own segment corrupt; it exits and repairs at restart
  busy = 23,               // the broker's reads kept racing; try again
  io_error = 24,           // the OS failed the broker while it served the op
  // The broker's configuration (docs/config.md).
  quota_exceeded = 25,     // a per-uid limit; the message names the limit, its value and the use
  reload_failed = 26,      // reload: the new configuration was refused; the old one stays in force
  reload_forbidden = 27,   // reload: reloads are forbidden (`shmreg reload --forbid`)
  // Cluster registries (docs/cluster.md).
  cluster_unavailable = 28,  // etcd did not take a cluster write within [cluster] write_deadline; nothing changed
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
  // Initial meta, applied only when this op creates the registry, and then
  // together with it (wire: u16 count, then key and value strings).
  std::vector<std::pair<std::string, std::string>> meta;
  // Events the registry's ring keeps, a power of two; 0: the default (1024).
  // Last, after the meta on the wire too, so that it was added without
  // moving any field before it.
  std::uint32_t events = 0;
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
// Compare-and-set of the target's value under a unique key; value of the
// result: the new version.
struct UpdateValue {
  std::string registry;
  std::string key;
  std::string value;
  std::uint8_t target = 0;  // 0: the caller; n: the frame's n-th pidfd
  std::optional<std::uint64_t> expected_version;  // wire: u8 0|1, then u64
};
struct PutMeta {
  std::string registry;
  std::string key;
  std::string value;
};
// Value of the result: 1 if the key was removed, 0 if there was none.
struct DeleteMeta {
  std::string registry;
  std::string key;
};
// Removes the target's entries under key whose value matches pattern and
// guards (pattern.hpp); value of the result: how many.
struct UnregisterMatch {
  std::string registry;
  std::string key;
  std::string pattern;
  std::string guards;  // empty: no guards
  std::uint8_t target = 0;
};
// The entries under key whose owners the broker has just checked alive; the
// result's data holds them (encode_entries).
struct LookupConsistent {
  std::string registry;
  std::string key;
};
// RegisterKey for the process of the frame's target-th pidfd (1-based).
struct RegisterOnBehalf {
  std::string registry;
  std::string key;
  std::string value;
  std::uint8_t target = 1;
};

// D-Bus-style registration with an owner queue, on a unique registry. flags:
// 1 allow_replacement, 2 do_not_queue, 4 replace_existing (shm kQueue*).
// Result value: the reply (1 primary_owner, 2 in_queue, 3 exists,
// 4 already_owner) in bits 0-7 and the primary owner's pid in bits 8-39.
struct RegisterQueued {
  std::string registry;
  std::string key;
  std::string value;
  std::uint8_t flags = 0;
};
inline constexpr std::uint64_t pack_queue_reply(std::uint32_t reply, std::uint32_t owner_pid) noexcept {
  return (std::uint64_t{owner_pid} << 8) | (reply & 0xffu);
}

// Makes this connection the calling process's mailbox: messages sent to any
// key the process owns arrive on it as message frames, until it closes.
struct OpenMailbox {};

// Routes body to the owners of key (send by name). Unique registry: its one
// owner; duplicate registry: every distinct owner process. Best-effort: the
// broker queues the message on each owner's mailbox connection and does not
// wait for it to be read. The result's data is a SendReport (encode_send_report).
struct SendMessage {
  std::string registry;
  std::string key;
  std::string body;
};

// A static entry: owned by the namespace, not by a process (pid 0 to
// readers), never reaped; set or replaced by a registry's admins. Value of
// the result: the entry's version.
struct SetStatic {
  std::string registry;
  std::string key;
  std::string value;
};
// Value of the result: 1 if a static entry was removed, 0 if there was none.
struct UnsetStatic {
  std::string registry;
  std::string key;
};

// Reload the broker's configuration file, or forbid or allow reloads. Value of
// the result: the configuration generation in force after the op. The data
// holds a JSON object: {"state", "generation", "reasons": [..], "notes": [..]}
// (reasons: why a reload was refused; notes: settings that wait for a restart).
enum class ReloadAction : std::uint8_t { reload = 0, forbid = 1, allow = 2 };
struct Reload {
  ReloadAction action = ReloadAction::reload;
};

// The broker's status; the result's data holds it as a JSON object
// (docs/config.md, "shmreg status").
struct GetStatus {};

// The broker's view of its etcd cluster (docs/cluster.md, "shmreg cluster");
// the result's data holds it as a JSON object. invalid_argument from a
// broker without [cluster].
struct GetClusterStatus {};

using Op = std::variant<Ping, CreateRegistry, RegisterKey, Unregister, UnregisterAll, UpdateValue, PutMeta,
                        DeleteMeta, UnregisterMatch, LookupConsistent, RegisterOnBehalf, RegisterQueued,
                        OpenMailbox, SendMessage, SetStatic, UnsetStatic, Reload, GetStatus,
                        GetClusterStatus>;

struct OpResult {
  Status status = Status::ok;
  std::uint64_t value = 0;
  std::string message;
  // Has an initializer so that {status, value, message} stays complete.
  std::string data{};
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

// Entries in a result's data field: u32 count, then per entry u32 pid, u64
// version, key and value strings.
struct WireEntry {
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
  friend bool operator==(const WireEntry&, const WireEntry&) = default;
};
std::string encode_entries(std::span<const WireEntry> entries);
std::expected<std::vector<WireEntry>, ParseError> decode_entries(std::string_view data);
// The bytes encode_entries adds for one entry.
std::size_t encoded_entry_size(std::size_t key_len, std::size_t value_len) noexcept;

// Where a SendMessage went (the result's data): u32 processes without a
// mailbox, u32 processes whose mailbox was full, u32 count, then the pids the
// message was queued for.
struct SendReport {
  std::vector<std::uint32_t> delivered_to;
  std::uint32_t no_mailbox = 0;
  std::uint32_t mailbox_full = 0;
  friend bool operator==(const SendReport&, const SendReport&) = default;
};
std::string encode_send_report(const SendReport& report);
std::expected<SendReport, ParseError> decode_send_report(std::string_view data);

// One message as a mailbox receives it (a frame of kind message).
struct Message {
  std::uint32_t sender_pid = 0;
  std::uint32_t sender_uid = 0;
  std::uint32_t dropped = 0;  // discarded for this mailbox since the previous message
  std::string registry;
  std::string key;
  std::string body;
  friend bool operator==(const Message&, const Message&) = default;
};
std::vector<std::uint8_t> encode_message(const Message& m);  // a whole frame
std::expected<Message, ParseError> decode_message(std::span<const std::uint8_t> payload);

}  // namespace shmreg::proto
