// Fuzz target: the wire protocol's parser (proto/wire.hpp), fed as the
// broker's session and the client read a connection.
//
// Input: a byte stream of pipelined frames. Each frame is read as Session
// does: a header that must parse and be a request, then exactly payload_len
// bytes, decoded as a batch; the stream ends at the first frame the session
// would drop. Every batch that decodes has 1..kMaxBatch ops; every op names
// a pidfd (its target) within the kMaxFramePidfds a frame may carry, and
// register_on_behalf names one at all (the op table relies on both before it
// indexes the frame's pidfds); and the batch encodes back to the same bytes
// (one request, one encoding). The stream, and the stream past its first 16
// bytes, are also decoded the ways a client reads the broker's bytes: a
// reply, a mailbox message, a reply's entries and a send report, each
// re-encoded to the same bytes.
//
// A crash, an abort from require() or a sanitizer report is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>

#include "shmreg/proto/wire.hpp"

namespace {

namespace proto = shmreg::proto;
using proto::kHeaderSize;

void require(bool ok) {
  if (!ok) std::abort();
}

bool same_payload(std::span<const std::uint8_t> payload, const std::vector<std::uint8_t>& frame) {
  return frame.size() - kHeaderSize == payload.size() &&
         std::equal(payload.begin(), payload.end(), frame.begin() + kHeaderSize);
}

// The pidfd an op acts for: 0 is the caller, n the frame's n-th pidfd.
std::uint8_t target_of(const proto::Op& op) {
  return std::visit(
      [](const auto& o) -> std::uint8_t {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, proto::UpdateValue> || std::is_same_v<T, proto::UnregisterMatch> ||
                      std::is_same_v<T, proto::RegisterOnBehalf>)
          return o.target;
        else
          return 0;
      },
      op);
}

void check_batch(std::span<const std::uint8_t> payload) {
  const auto ops = proto::decode_request(payload);
  if (!ops) return;
  require(!ops->empty() && ops->size() <= proto::kMaxBatch);
  for (const proto::Op& op : *ops) {
    const std::uint8_t t = target_of(op);
    require(t <= proto::kMaxFramePidfds);
    if (std::holds_alternative<proto::RegisterOnBehalf>(op)) require(t >= 1);
  }
  require(same_payload(payload, proto::encode_request(0, *ops)));
}

// Reads frames as the broker's session does, until one it would drop.
void read_as_session(std::span<const std::uint8_t> stream) {
  while (stream.size() >= kHeaderSize) {
    const auto h = proto::parse_header(stream);
    if (!h || h->kind != proto::FrameKind::request) return;
    require(h->payload_len <= proto::kMaxPayload);
    stream = stream.subspan(kHeaderSize);
    if (stream.size() < h->payload_len) return;
    check_batch(stream.first(h->payload_len));
    stream = stream.subspan(h->payload_len);
  }
}

// The ways a client decodes what the broker sends.
void read_as_client(std::span<const std::uint8_t> bytes) {
  if (auto results = proto::decode_reply(bytes)) require(same_payload(bytes, proto::encode_reply(0, *results)));
  if (auto m = proto::decode_message(bytes)) require(same_payload(bytes, proto::encode_message(*m)));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (auto entries = proto::decode_entries(text)) require(proto::encode_entries(*entries) == text);
  if (auto report = proto::decode_send_report(text)) require(proto::encode_send_report(*report) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> stream(data, size);
  read_as_session(stream);
  read_as_client(stream);
  if (stream.size() >= kHeaderSize) read_as_client(stream.subspan(kHeaderSize));
  return 0;
}
