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
  if (kind != static_cast<std::uint8_t>(FrameKind::request) && kind != static_cast<std::uint8_t>(FrameKind::reply))
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
          } else if constexpr (std::is_same_v<T, RegisterKey>) {
            w.u8(static_cast<std::uint8_t>(OpCode::register_key));
            w.str(o.registry);
            w.str(o.key);
            w.str(o.value);
          } else if constexpr (std::is_same_v<T, Unregister>) {
            w.u8(static_cast<std::uint8_t>(OpCode::unregister));
            w.str(o.registry);
            w.str(o.key);
          } else {
            w.u8(static_cast<std::uint8_t>(OpCode::unregister_all));
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
    if (!r.u16(status) || !r.u64(res.value) || !r.str16(res.message)) return std::unexpected(ParseError::truncated);
    if (status > static_cast<std::uint16_t>(Status::internal_error)) return std::unexpected(ParseError::bad_field);
    res.status = static_cast<Status>(status);
    out.push_back(std::move(res));
  }
  if (!r.done()) return std::unexpected(ParseError::trailing_bytes);
  return out;
}

}  // namespace shmreg::proto
