// libFuzzer target for the wire parser (clang only; not part of ctest).
//
//   cmake -DCMAKE_CXX_COMPILER=clang++ ... && ninja fuzz_wire
//   ./tests/proto/fuzz_wire -max_len=4096 corpus_dir/
//
// The input is treated four ways: as a frame header, as a request payload,
// as a reply payload and as the entries of a reply's data field; and, when it
// starts with a header that parses, its rest is decoded as that frame's
// payload, the way the broker and the client read a connection. Whatever decodes must encode back to the same bytes; a
// crash, a sanitizer report or a non-canonical decode is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "shmreg/proto/wire.hpp"

namespace {

using shmreg::proto::kHeaderSize;

void require(bool ok) {
  if (!ok) std::abort();
}

void decode_both(std::span<const std::uint8_t> payload) {
  if (auto ops = shmreg::proto::decode_request(payload)) {
    const auto again = shmreg::proto::encode_request(0, *ops);
    require(again.size() - kHeaderSize == payload.size());
    require(std::equal(payload.begin(), payload.end(), again.begin() + kHeaderSize));
  }
  if (auto results = shmreg::proto::decode_reply(payload)) {
    const auto again = shmreg::proto::encode_reply(0, *results);
    require(again.size() - kHeaderSize == payload.size());
    require(std::equal(payload.begin(), payload.end(), again.begin() + kHeaderSize));
  }
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (auto entries = shmreg::proto::decode_entries(text)) require(shmreg::proto::encode_entries(*entries) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  decode_both(input);
  if (auto h = shmreg::proto::parse_header(input)) {
    require(size >= kHeaderSize && h->payload_len <= shmreg::proto::kMaxPayload);
    const auto rest = input.subspan(kHeaderSize);
    decode_both(rest.first(std::min<std::size_t>(rest.size(), h->payload_len)));
  }
  return 0;
}
