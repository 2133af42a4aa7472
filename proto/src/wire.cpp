// Encoder and hostile-input parser of the wire protocol (see wire.hpp).
#include "shmreg/proto/wire.hpp"

#include <cstring>

namespace shmreg::proto {

namespace {

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void str16(std::string_view s) {
    const std::size_t n = std::min<std::size_t>(s.size(), 0xffff);
    u16(static_cast<std::uint16_t>(n));
    out_.insert(out_.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<std::uint8_t>& bytes() { return out_; }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
  bool u8(std::uint8_t& v) { return get(v, 1); }
  bool u16(std::uint16_t& v) { return get(v, 2); }
  bool u32(std::uint32_t& v) { return get(v, 4); }
  bool u64(std::uint64_t& v) { return get(v, 8); }
  // The length is checked against what is left before anything is allocated.
  bool str(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || n > b_.size() - pos_) return false;
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool str16(std::string& s) {
    std::uint16_t n = 0;
    if (!u16(n) || n > b_.size() - pos_) return false;
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }
  std::size_t remaining() const { return b_.size() - pos_; }

 private:
  template <class T>
  bool get(T& v, std::size_t n) {
    if (b_.size() - pos_ < n) return false;
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i) x |= std::uint64_t{b_[pos_ + i]} << (8 * i);
    v = static_cast<T>(x);
    pos_ += n;
    return true;
  }
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

std::vector<std::uint8_t> frame(FrameKind kind, std::uint32_t request_id, std::vector<std::uint8_t>&& payload) {
  Writer h;
  h.u16(kMagic);
  h.u8(kVersion);
  h.u8(static_cast<std::uint8_t>(kind));
  h.u32(request_id);
  h.u32(static_cast<std::uint32_t>(payload.size()));
  h.u32(0);
  auto& out = h.bytes();
  out.insert(out.end(), payload.begin(), payload.end());
  return std::move(out);
}

// A switch without default, so that a Status added without a case here is a
// -Wswitch warning rather than a reply the client refuses.
bool known_status(std::uint16_t s) noexcept {
  switch (static_cast<Status>(s)) {
    case Status::ok:
    case Status::already_registered:
    case Status::not_found:
    case Status::registry_not_found:
    case Status::registry_exists:
    case Status::invalid_argument:
    case Status::key_too_long:
    case Status::value_too_long:
    case Status::registry_full:
    case Status::owner_table_full:
    case Status::segment_full:
    case Status::too_many_registries:
    case Status::permission_denied:
    case Status::internal_error:
    case Status::version_conflict:
    case Status::reply_too_large:
    case Status::no_mailbox:
    case Status::mailbox_full:
    case Status::message_too_large:
    case Status::mailbox_exists:
    case Status::meta_too_large:
    case Status::stale_owner:
    case Status::segment_corrupt:
    case Status::busy:
    case Status::io_error:
    case Status::quota_exceeded:
    case Status::reload_failed:
    case Status::reload_forbidden:
    case Status::cluster_unavailable: return true;
  }
  return false;
}

// -- the registry-semantics ops (6..11) ----------------------------------------------------------

void encode_op(Writer& w, const UpdateValue& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::update_value));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.value);
  w.u8(o.target);
  w.u8(o.expected_version ? 1 : 0);
  w.u64(o.expected_version.value_or(0));
}

void encode_op(Writer& w, const PutMeta& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::put_meta));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.value);
}

void encode_op(Writer& w, const DeleteMeta& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::delete_meta));
  w.str(o.registry);
  w.str(o.key);
}

void encode_op(Writer& w, const UnregisterMatch& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::unregister_match));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.pattern);
  w.str(o.guards);
  w.u8(o.target);
}

void encode_op(Writer& w, const LookupConsistent& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::lookup_consistent));
  w.str(o.registry);
  w.str(o.key);
}

void encode_op(Writer& w, const RegisterOnBehalf& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::register_on_behalf));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.value);
  w.u8(o.target);
}

void encode_op(Writer& w, const RegisterQueued& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::register_queued));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.value);
  w.u8(o.flags);
}

void encode_op(Writer& w, const OpenMailbox&) { w.u8(static_cast<std::uint8_t>(OpCode::open_mailbox)); }

void encode_op(Writer& w, const SendMessage& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::send_message));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.body);
}

void encode_op(Writer& w, const SetStatic& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::set_static));
  w.str(o.registry);
  w.str(o.key);
  w.str(o.value);
}

void encode_op(Writer& w, const UnsetStatic& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::unset_static));
  w.str(o.registry);
  w.str(o.key);
}

void encode_op(Writer& w, const Reload& o) {
  w.u8(static_cast<std::uint8_t>(OpCode::reload));
  w.u8(static_cast<std::uint8_t>(o.action));
}

void encode_op(Writer& w, const GetStatus&) { w.u8(static_cast<std::uint8_t>(OpCode::get_status)); }
void encode_op(Writer& w, const GetClusterStatus&) { w.u8(static_cast<std::uint8_t>(OpCode::get_cluster_status)); }

// The fields after the op code of ops 6..18.
std::expected<Op, ParseError> decode_op(OpCode code, Reader& r) {
  constexpr auto truncated = ParseError::truncated;
  switch (code) {
    case OpCode::update_value: {
      UpdateValue u;
      std::uint8_t has_expected = 0;
      std::uint64_t expected = 0;
      if (!r.str(u.registry) || !r.str(u.key) || !r.str(u.value) || !r.u8(u.target) || !r.u8(has_expected) ||
          !r.u64(expected))
        return std::unexpected(truncated);
      // Without the flag the version must be 0: one request, one encoding.
      if (u.target > kMaxFramePidfds || has_expected > 1 || (has_expected == 0 && expected != 0))
        return std::unexpected(ParseError::bad_field);
      if (has_expected == 1) u.expected_version = expected;
      return u;
    }
    case OpCode::put_meta: {
      PutMeta p;
      if (!r.str(p.registry) || !r.str(p.key) || !r.str(p.value)) return std::unexpected(truncated);
      return p;
    }
    case OpCode::delete_meta: {
      DeleteMeta d;
      if (!r.str(d.registry) || !r.str(d.key)) return std::unexpected(truncated);
      return d;
    }
    case OpCode::unregister_match: {
      UnregisterMatch m;
      if (!r.str(m.registry) || !r.str(m.key) || !r.str(m.pattern) || !r.str(m.guards) || !r.u8(m.target))
        return std::unexpected(truncated);
      if (m.target > kMaxFramePidfds) return std::unexpected(ParseError::bad_field);
      return m;
    }
    case OpCode::lookup_consistent: {
      LookupConsistent l;
      if (!r.str(l.registry) || !r.str(l.key)) return std::unexpected(truncated);
      return l;
    }
    case OpCode::register_on_behalf: {
      RegisterOnBehalf b;
      if (!r.str(b.registry) || !r.str(b.key) || !r.str(b.value) || !r.u8(b.target))
        return std::unexpected(truncated);
      if (b.target < 1 || b.target > kMaxFramePidfds) return std::unexpected(ParseError::bad_field);
      return b;
    }
    case OpCode::register_queued: {
      RegisterQueued q;
      if (!r.str(q.registry) || !r.str(q.key) || !r.str(q.value) || !r.u8(q.flags)) return std::unexpected(truncated);
      if ((q.flags & ~0x7u) != 0) return std::unexpected(ParseError::bad_field);
      return q;
    }
    case OpCode::open_mailbox: return OpenMailbox{};
    case OpCode::send_message: {
      SendMessage m;
      if (!r.str(m.registry) || !r.str(m.key) || !r.str(m.body)) return std::unexpected(truncated);
      return m;
    }
    case OpCode::set_static: {
      SetStatic s;
      if (!r.str(s.registry) || !r.str(s.key) || !r.str(s.value)) return std::unexpected(truncated);
      return s;
    }
    case OpCode::unset_static: {
      UnsetStatic u;
      if (!r.str(u.registry) || !r.str(u.key)) return std::unexpected(truncated);
      return u;
    }
    case OpCode::reload: {
      std::uint8_t action = 0;
      if (!r.u8(action)) return std::unexpected(truncated);
      if (action > static_cast<std::uint8_t>(ReloadAction::allow)) return std::unexpected(ParseError::bad_field);
      return Reload{static_cast<ReloadAction>(action)};
    }
    case OpCode::get_status: return GetStatus{};
    case OpCode::get_cluster_status: return GetClusterStatus{};
    default: return std::unexpected(ParseError::bad_op);
  }
}

}  // namespace

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::already_registered: return "already registered";
    case Status::not_found: return "not found";
    case Status::registry_not_found: return "registry not found";
    case Status::registry_exists: return "registry exists with different options";
    case Status::invalid_argument: return "invalid argument";
    case Status::key_too_long: return "key too long";
    case Status::value_too_long: return "value too long";
    case Status::registry_full: return "registry full";
    case Status::owner_table_full: return "owner table full";
    case Status::segment_full: return "segment full";
    case Status::too_many_registries: return "too many registries";
    case Status::permission_denied: return "permission denied";
    case Status::internal_error: return "internal error";
    case Status::version_conflict: return "version conflict";
    case Status::reply_too_large: return "reply too large";
    case Status::no_mailbox: return "no mailbox";
    case Status::mailbox_full: return "mailbox full";
    case Status::message_too_large: return "message too large";
    case Status::mailbox_exists: return "mailbox exists";
    case Status::meta_too_large: return "meta too large";
    case Status::stale_owner: return "stale owner";
    case Status::segment_corrupt: return "segment corrupt";
    case Status::busy: return "busy";
    case Status::io_error: return "I/O error";
    case Status::quota_exceeded: return "quota exceeded";
    case Status::reload_failed: return "reload failed";
    case Status::reload_forbidden: return "reload forbidden";
    case Status::cluster_unavailable: return "cluster unavailable";
  }
  return "unknown status";
}

std::string_view to_string(ParseError e) noexcept {
  switch (e) {
    case ParseError::bad_magic: return "bad magic";
    case ParseError::bad_version: return "unsupported protocol version";
    case ParseError::bad_kind: return "bad frame kind";
    case ParseError::too_large: return "frame larger than the maximum";
    case ParseError::truncated: return "truncated payload";
    case ParseError::trailing_bytes: return "trailing bytes after the last op";
    case ParseError::bad_op: return "unknown op code";
    case ParseError::bad_count: return "bad op count";
    case ParseError::bad_field: return "field out of range";
  }
  return "unknown parse error";
}

std::expected<FrameHeader, ParseError> parse_header(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() < kHeaderSize) return std::unexpected(ParseError::truncated);
  Reader r(bytes.first(kHeaderSize));
  std::uint16_t magic = 0;
  std::uint8_t version = 0, kind = 0;
  std::uint32_t id = 0, len = 0, reserved = 0;
  r.u16(magic);
  r.u8(version);
  r.u8(kind);
  r.u32(id);
  r.u32(len);
  r.u32(reserved);
  if (magic != kMagic) return std::unexpected(ParseError::bad_magic);
  if (version != kVersion) return std::unexpected(ParseError::bad_version);
  if (kind < static_cast<std::uint8_t>(FrameKind::request) || kind > static_cast<std::uint8_t>(FrameKind::message))
    return std::unexpected(ParseError::bad_kind);
  if (len > kMaxPayload) return std::unexpected(ParseError::too_large);
  return FrameHeader{static_cast<FrameKind>(kind), id, len};
}

std::vector<std::uint8_t> encode_request(std::uint32_t request_id, std::span<const Op> ops) {
  Writer w;
  w.u16(static_cast<std::uint16_t>(ops.size()));
  for (const Op& op : ops) {
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Ping>) {
            w.u8(static_cast<std::uint8_t>(OpCode::ping));
          } else if constexpr (std::is_same_v<T, CreateRegistry>) {
            w.u8(static_cast<std::uint8_t>(OpCode::create_registry));
            w.str(o.name);
            w.u8(o.kind);
            w.u32(o.partitions);
            w.u32(o.max_key);
            w.u32(o.max_value);
            w.u32(o.capacity);
            w.u16(static_cast<std::uint16_t>(o.meta.size()));
            for (const auto& [k, v] : o.meta) {
              w.str(k);
              w.str(v);
            }
            w.u32(o.events);
          } else if constexpr (std::is_same_v<T, RegisterKey>) {
            w.u8(static_cast<std::uint8_t>(OpCode::register_key));
            w.str(o.registry);
            w.str(o.key);
            w.str(o.value);
          } else if constexpr (std::is_same_v<T, Unregister>) {
            w.u8(static_cast<std::uint8_t>(OpCode::unregister));
            w.str(o.registry);
            w.str(o.key);
          } else if constexpr (std::is_same_v<T, UnregisterAll>) {
            w.u8(static_cast<std::uint8_t>(OpCode::unregister_all));
          } else {
            encode_op(w, o);
          }
        },
        op);
  }
  return frame(FrameKind::request, request_id, std::move(w.bytes()));
}

std::vector<std::uint8_t> encode_reply(std::uint32_t request_id, std::span<const OpResult> results) {
  Writer w;
  w.u16(static_cast<std::uint16_t>(results.size()));
  for (const OpResult& r : results) {
    w.u16(static_cast<std::uint16_t>(r.status));
    w.u64(r.value);
    w.str16(r.message);
    w.str(r.data);
  }
  return frame(FrameKind::reply, request_id, std::move(w.bytes()));
}

std::expected<std::vector<Op>, ParseError> decode_request(std::span<const std::uint8_t> payload) {
  if (payload.size() > kMaxPayload) return std::unexpected(ParseError::too_large);
  Reader r(payload);
  std::uint16_t count = 0;
  if (!r.u16(count)) return std::unexpected(ParseError::truncated);
  if (count == 0 || count > kMaxBatch) return std::unexpected(ParseError::bad_count);
  std::vector<Op> ops;
  ops.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    std::uint8_t code = 0;
    if (!r.u8(code)) return std::unexpected(ParseError::truncated);
    switch (static_cast<OpCode>(code)) {
      case OpCode::ping: ops.emplace_back(Ping{}); break;
      case OpCode::create_registry: {
        CreateRegistry c;
        if (!r.str(c.name) || !r.u8(c.kind) || !r.u32(c.partitions) || !r.u32(c.max_key) || !r.u32(c.max_value) ||
            !r.u32(c.capacity))
          return std::unexpected(ParseError::truncated);
        if (c.kind != 1 && c.kind != 2) return std::unexpected(ParseError::bad_field);
        std::uint16_t pairs = 0;
        if (!r.u16(pairs)) return std::unexpected(ParseError::truncated);
        // Each pair takes at least its two lengths: bound the count before reserving.
        if (std::size_t{pairs} * 8 > r.remaining()) return std::unexpected(ParseError::truncated);
        c.meta.resize(pairs);
        for (auto& [k, v] : c.meta)
          if (!r.str(k) || !r.str(v)) return std::unexpected(ParseError::truncated);
        if (!r.u32(c.events)) return std::unexpected(ParseError::truncated);
        ops.emplace_back(std::move(c));
        break;
      }
      case OpCode::register_key: {
        RegisterKey k;
        if (!r.str(k.registry) || !r.str(k.key) || !r.str(k.value)) return std::unexpected(ParseError::truncated);
        ops.emplace_back(std::move(k));
        break;
      }
      case OpCode::unregister: {
        Unregister u;
        if (!r.str(u.registry) || !r.str(u.key)) return std::unexpected(ParseError::truncated);
        ops.emplace_back(std::move(u));
        break;
      }
      case OpCode::unregister_all: ops.emplace_back(UnregisterAll{}); break;
      case OpCode::update_value:
      case OpCode::put_meta:
      case OpCode::delete_meta:
      case OpCode::unregister_match:
      case OpCode::lookup_consistent:
      case OpCode::register_on_behalf:
      case OpCode::register_queued:
      case OpCode::open_mailbox:
      case OpCode::send_message:
      case OpCode::set_static:
      case OpCode::unset_static:
      case OpCode::reload:
      case OpCode::get_status:
      case OpCode::get_cluster_status: {
        auto op = decode_op(static_cast<OpCode>(code), r);
        if (!op) return std::unexpected(op.error());
        ops.push_back(std::move(*op));
        break;
      }
      default: return std::unexpected(ParseError::bad_op);
    }
  }
  if (!r.done()) return std::unexpected(ParseError::trailing_bytes);
  return ops;
}

std::expected<std::vector<OpResult>, ParseError> decode_reply(std::span<const std::uint8_t> payload) {
  if (payload.size() > kMaxPayload) return std::unexpected(ParseError::too_large);
  Reader r(payload);
  std::uint16_t count = 0;
  if (!r.u16(count)) return std::unexpected(ParseError::truncated);
  if (count > kMaxBatch) return std::unexpected(ParseError::bad_count);
  std::vector<OpResult> out;
  out.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    OpResult res;
    std::uint16_t status = 0;
    if (!r.u16(status) || !r.u64(res.value) || !r.str16(res.message) || !r.str(res.data))
      return std::unexpected(ParseError::truncated);
    if (!known_status(status)) return std::unexpected(ParseError::bad_field);
    res.status = static_cast<Status>(status);
    out.push_back(std::move(res));
  }
  if (!r.done()) return std::unexpected(ParseError::trailing_bytes);
  return out;
}

std::size_t encoded_entry_size(std::size_t key_len, std::size_t value_len) noexcept {
  return 4 + 8 + 4 + key_len + 4 + value_len;
}

std::string encode_entries(std::span<const WireEntry> entries) {
  Writer w;
  w.u32(static_cast<std::uint32_t>(entries.size()));
  for (const WireEntry& e : entries) {
    w.u32(e.pid);
    w.u64(e.version);
    w.str(e.key);
    w.str(e.value);
  }
  const auto& bytes = w.bytes();
  return std::string(bytes.begin(), bytes.end());
}

std::expected<std::vector<WireEntry>, ParseError> decode_entries(std::string_view data) {
  if (data.size() > kMaxPayload) return std::unexpected(ParseError::too_large);
  Reader r(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  std::uint32_t count = 0;
  if (!r.u32(count)) return std::unexpected(ParseError::truncated);
  // Bound the count by the smallest encoding of an entry before reserving.
  if (std::size_t{count} * encoded_entry_size(0, 0) > r.remaining()) return std::unexpected(ParseError::truncated);
  std::vector<WireEntry> out(count);
  for (WireEntry& e : out)
    if (!r.u32(e.pid) || !r.u64(e.version) || !r.str(e.key) || !r.str(e.value))
      return std::unexpected(ParseError::truncated);
  if (!r.done()) return std::unexpected(ParseError::trailing_bytes);
  return out;
}

std::string encode_send_report(const SendReport& report) {
  Writer w;
  w.u32(report.no_mailbox);
  w.u32(report.mailbox_full);
  w.u32(static_cast<std::uint32_t>(report.delivered_to.size()));
  for (std::uint32_t pid : report.delivered_to) w.u32(pid);
  const auto& bytes = w.bytes();
  return std::string(bytes.begin(), bytes.end());
}

std::expected<SendReport, ParseError> decode_send_report(std::string_view data) {
  if (data.size() > kMaxPayload) return std::unexpected(ParseError::too_large);
  Reader r(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  SendReport out;
  std::uint32_t count = 0;
  if (!r.u32(out.no_mailbox) || !r.u32(out.mailbox_full) || !r.u32(count)) return std::unexpected(ParseError::truncated);
  if (std::size_t{count} * 4 != r.remaining()) return std::unexpected(ParseError::truncated);
  out.delivered_to.resize(count);
  for (std::uint32_t& pid : out.delivered_to) r.u32(pid);
  return out;
}

std::vector<std::uint8_t> encode_message(const Message& m) {
  Writer w;
  w.u32(m.sender_pid);
  w.u32(m.sender_uid);
  w.u32(m.dropped);
  w.str(m.registry);
  w.str(m.key);
  w.str(m.body);
  return frame(FrameKind::message, 0, std::move(w.bytes()));
}

std::expected<Message, ParseError> decode_message(std::span<const std::uint8_t> payload) {
  if (payload.size() > kMaxPayload) return std::unexpected(ParseError::too_large);
  Reader r(payload);
  Message m;
  if (!r.u32(m.sender_pid) || !r.u32(m.sender_uid) || !r.u32(m.dropped) || !r.str(m.registry) || !r.str(m.key) ||
      !r.str(m.body))
    return std::unexpected(ParseError::truncated);
  if (!r.done()) return std::unexpected(ParseError::trailing_bytes);
  return m;
}

}  // namespace shmreg::proto
