// Property tests of the wire parser against hostile bytes: many random and
// mutated buffers go through parse_header, decode_request and decode_reply.
// For every input:
// - nothing crashes, over-reads (run under ASan to see those) or hangs;
// - what decodes is canonical: encoding it again gives back the same bytes;
// - allocation stays bounded: no single allocation and no total beyond a
//   fixed bound plus twice the input, whatever lengths and counts it claims.
// Seeds are fixed, and a failure names the case that broke.
//
// Built twice: a quick run, and with SHMREG_STRESS many more cases (stress).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <new>
#include <random>

#include "shmreg/proto/wire.hpp"

// -- allocation probe ----------------------------------------------------------------------------
// Replaces the global operator new of this test binary to measure what the
// decoders allocate while the probe is armed.

namespace {
thread_local bool probe_armed = false;
thread_local std::size_t probe_largest = 0;
thread_local std::size_t probe_total = 0;

void* counted_alloc(std::size_t n) {
  if (probe_armed) {
    probe_largest = std::max(probe_largest, n);
    probe_total += n;
  }
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace shmreg::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

#ifdef SHMREG_STRESS
constexpr int kCases = 5'000'000;
#define WIRE_PROPERTY_SUITE WirePropertyStressTest
#else
constexpr int kCases = 60'000;
#define WIRE_PROPERTY_SUITE WirePropertyTest
#endif

// What any decode may allocate: the op or result vector at its largest, plus
// strings no longer than the input, each with its terminator.
constexpr std::size_t kFixedAllocationBound = std::size_t{kMaxBatch} * std::max(sizeof(Op), sizeof(OpResult)) + 4096;

struct AllocationProbe {
  AllocationProbe() {
    probe_largest = 0;
    probe_total = 0;
    probe_armed = true;
  }
  ~AllocationProbe() { probe_armed = false; }
};

Bytes payload(const Bytes& frame) { return Bytes(frame.begin() + kHeaderSize, frame.end()); }

std::string hex(std::span<const std::uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size() && i < 96; ++i) {
    s.push_back(digits[b[i] >> 4]);
    s.push_back(digits[b[i] & 15]);
  }
  if (b.size() > 96) s += "...";
  return s;
}

// Checks every property on one buffer; empty on success, else what failed.
std::string check(std::span<const std::uint8_t> input) {
  // parse_header: a buffer of any size.
  if (auto h = parse_header(input)) {
    if (input.size() < kHeaderSize) return "header parsed from fewer than 16 bytes";
    if (h->payload_len > kMaxPayload) return "header accepted an oversized payload";
  } else if (input.size() < kHeaderSize && h.error() != ParseError::truncated) {
    return "short header not reported as truncated";
  }

  const std::string_view as_text(reinterpret_cast<const char*>(input.data()), input.size());
  std::string failure;
  // Runs one decoder under the allocation probe; records a failure when it
  // allocated more than `bound` at once or more than the input allows in all.
  auto probed = [&](const char* what, std::size_t bound, auto decode) {
    std::size_t largest = 0, total = 0;
    auto out = [&] {
      AllocationProbe probe;
      auto r = decode();
      largest = probe_largest;
      total = probe_total;
      return r;
    }();
    if (failure.empty() && (largest > bound || total > kFixedAllocationBound + 2 * input.size()))
      failure = std::string(what) + " allocated " + std::to_string(total) + " bytes (largest " +
                std::to_string(largest) + ") for " + std::to_string(input.size()) + " bytes of input";
    return out;
  };
  auto same_bytes = [&](const Bytes& again) { return std::equal(again.begin(), again.end(), input.begin(), input.end()); };
  const std::size_t bound = std::max(kFixedAllocationBound, input.size() + 1);

  auto ops = probed("decode_request", bound, [&] { return decode_request(input); });
  if (ops && (ops->empty() || ops->size() > kMaxBatch)) return "decode_request accepted a bad count";
  if (ops && !same_bytes(payload(encode_request(0, *ops)))) return "decoded request does not encode back to the same bytes";

  auto results = probed("decode_reply", bound, [&] { return decode_reply(input); });
  if (results && !same_bytes(payload(encode_reply(0, *results))))
    return "decoded reply does not encode back to the same bytes";

  auto entries = probed("decode_entries", std::max(kFixedAllocationBound, 2 * input.size()),
                        [&] { return decode_entries(as_text); });
  if (entries && encode_entries(*entries) != as_text) return "decoded entries do not encode back to the same bytes";

  auto message = probed("decode_message", bound, [&] { return decode_message(input); });
  if (message && !same_bytes(payload(encode_message(*message))))
    return "decoded message does not encode back to the same bytes";

  auto report = probed("decode_send_report", bound, [&] { return decode_send_report(as_text); });
  if (report && encode_send_report(*report) != as_text) return "decoded send report does not encode back";
  return failure;
}

// The distinct failures of a run, each with its first example, so that one
// broken property does not hide the others (or stop the run at its first case).
class Findings {
 public:
  void add(const std::string& failure, const std::string& example) {
    if (!failure.empty()) first_.emplace(failure, example);
  }
  ::testing::AssertionResult none() const {
    if (first_.empty()) return ::testing::AssertionSuccess();
    auto f = ::testing::AssertionFailure();
    for (const auto& [what, example] : first_) f << "\n  " << what << ", first seen on " << example;
    return f;
  }

 private:
  std::map<std::string, std::string> first_;
};

// Valid payloads to mutate: requests of every op and replies.
std::vector<Bytes> corpus() {
  std::vector<Bytes> c;
  const std::vector<std::vector<Op>> requests = {
      {Ping{}},
      {CreateRegistry{.name = "services", .kind = 1, .partitions = 4, .max_key = 64, .max_value = 256, .capacity = 1024}},
      {CreateRegistry{.name = "d", .kind = 2, .meta = {{"owner", "a"}, {"tier", "1"}}}},
      {RegisterKey{.registry = "services", .key = "db", .value = "host=a"}},
      {Unregister{.registry = "services", .key = "db"}},
      {UnregisterAll{}},
      {UpdateValue{.registry = "s", .key = "k", .value = "v", .target = 2, .expected_version = 9}},
      {UpdateValue{.registry = "s", .key = "k", .value = "v"}},
      {PutMeta{.registry = "s", .key = "m", .value = "x"}, DeleteMeta{.registry = "s", .key = "m"}},
      {UnregisterMatch{.registry = "p", .key = "k", .pattern = "{\"a\":\"$1\"}", .guards = "[]", .target = 1}},
      {LookupConsistent{.registry = "s", .key = "k"}},
      {RegisterOnBehalf{.registry = "s", .key = "k", .value = "v", .target = 3}},
      {RegisterQueued{.registry = "s", .key = "k", .value = "v", .flags = 5}},
      {OpenMailbox{}, SendMessage{.registry = "s", .key = "k", .body = "hello"}},
      {SetStatic{.registry = "s", .key = "gw", .value = "10.0.0.1"}, UnsetStatic{.registry = "s", .key = "gw"}},
      {Reload{.action = ReloadAction::forbid}, Reload{}, GetStatus{}, GetClusterStatus{}},
      {Ping{}, RegisterKey{.registry = "a", .key = "b", .value = "c"}, Unregister{.registry = "a", .key = "b"},
       CreateRegistry{.name = "x", .kind = 2, .partitions = 2, .max_key = 2, .max_value = 2, .capacity = 2},
       UnregisterAll{}},
  };
  for (const auto& r : requests) c.push_back(payload(encode_request(1, r)));
  c.push_back(payload(encode_reply(1, std::vector<OpResult>{OpResult{.value = 7}})));
  c.push_back(payload(encode_reply(
      1, std::vector<OpResult>{OpResult{.status = Status::already_registered, .value = 4242,
                                        .message = "already registered by PID 4242"},
                               OpResult{.status = Status::internal_error, .message = "x", .data = "abc"}})));
  c.push_back(payload(encode_reply(
      1, std::vector<OpResult>{OpResult{.data = encode_entries(std::vector<WireEntry>{
                                            {.key = "k", .value = "v", .pid = 1, .version = 2}})}})));
  {
    const std::string e = encode_entries(std::vector<WireEntry>{{.key = "k", .value = "v", .pid = 1, .version = 2},
                                                                {.key = "", .value = "w", .pid = 3, .version = 4}});
    c.emplace_back(e.begin(), e.end());
  }
  // Whole frames too: the header is just more hostile bytes to the decoders.
  c.push_back(encode_request(9, std::vector<Op>{RegisterKey{.registry = "r", .key = "k", .value = "v"}}));
  c.push_back(payload(encode_message(Message{.sender_pid = 5, .dropped = 1, .registry = "r", .key = "k", .body = "b"})));
  {
    const std::string r = encode_send_report(SendReport{.delivered_to = {1, 2}, .no_mailbox = 1});
    c.emplace_back(r.begin(), r.end());
  }
  return c;
}

void mutate(Bytes& b, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < steps; ++s) {
    switch (rng() % 8) {
      case 0:
        if (!b.empty()) b[pick(b.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        if (!b.empty()) b[pick(b.size())] = static_cast<std::uint8_t>(rng());
        break;
      case 2: b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), static_cast<std::uint8_t>(rng())); break;
      case 3:
        if (!b.empty()) b.erase(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size())));
        break;
      case 4: b.resize(pick(b.size() + 1)); break;
      case 5: {  // a boundary value where a length might be
        static constexpr std::uint32_t kValues[] = {0, 1, 2, 15, 16, 255, 0xffff, 0x10000, kMaxPayload, 0x7fffffff,
                                                    0xffffffff};
        if (b.size() >= 4) {
          const std::size_t at = pick(b.size() - 3);
          const std::uint32_t v = kValues[pick(std::size(kValues))];
          for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
        }
        break;
      }
      case 6: {  // the op or result count
        if (b.size() >= 2) {
          const std::uint16_t counts[] = {0, 1, 2, 3, kMaxBatch, kMaxBatch + 1, 0xffff};
          const std::uint16_t v = counts[pick(std::size(counts))];
          b[0] = static_cast<std::uint8_t>(v);
          b[1] = static_cast<std::uint8_t>(v >> 8);
        }
        break;
      }
      default: {  // repeat a chunk: a second op that may or may not fit
        if (!b.empty()) {
          const std::size_t from = pick(b.size()), len = 1 + pick(b.size() - from);
          Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(from),
                      b.begin() + static_cast<std::ptrdiff_t>(from + len));
          b.insert(b.end(), chunk.begin(), chunk.end());
        }
        break;
      }
    }
  }
}

// Without this, a probe that counted nothing would make the bound vacuous.
TEST(WIRE_PROPERTY_SUITE, AllocationProbeSeesWhatTheDecoderAllocates) {
  const Bytes p =
      payload(encode_request(1, std::vector<Op>{RegisterKey{.registry = "r", .key = std::string(5000, 'k'), .value = "v"}}));
  std::size_t total = 0;
  {
    AllocationProbe probe;
    ASSERT_TRUE(decode_request(p));
    total = probe_total;
  }
  EXPECT_GE(total, 5000u);
  EXPECT_EQ(check(p), "");
}

TEST(WIRE_PROPERTY_SUITE, RandomBuffersNeverCrashAndDecodeOnlyCanonically) {
  std::mt19937_64 rng(0x5eed0001);
  Findings findings;
  int decoded = 0;
  for (int i = 0; i < kCases; ++i) {
    Bytes b(rng() % 300);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    // Half the time, a plausible start: a small count and a real op code.
    if (b.size() >= 3 && rng() % 2 == 0) {
      b[0] = static_cast<std::uint8_t>(1 + rng() % 3);
      b[1] = 0;
      b[2] = static_cast<std::uint8_t>(1 + rng() % 5);
    }
    findings.add(check(b), "case " + std::to_string(i) + ": " + hex(b));
    decoded += decode_request(b).has_value() ? 1 : 0;
  }
  EXPECT_TRUE(findings.none());
  // Not a property, but a sign that the generator reaches the success paths.
  EXPECT_GT(decoded, 0);
}

TEST(WIRE_PROPERTY_SUITE, MutatedValidPayloadsNeverCrashAndDecodeOnlyCanonically) {
  std::mt19937_64 rng(0x5eed0002);
  const std::vector<Bytes> seeds = corpus();
  Findings findings;
  int decoded = 0;
  for (int i = 0; i < kCases; ++i) {
    Bytes b = seeds[rng() % seeds.size()];
    mutate(b, rng);
    findings.add(check(b), "case " + std::to_string(i) + ": " + hex(b));
    const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    decoded += (decode_request(b).has_value() || decode_reply(b).has_value() || decode_entries(text).has_value()) ? 1 : 0;
  }
  EXPECT_TRUE(findings.none());
  EXPECT_GT(decoded, 0);
}

TEST(WIRE_PROPERTY_SUITE, EveryPrefixAndEverySingleByteChangeOfTheCorpusIsHandled) {
  Findings findings;
  for (const Bytes& seed : corpus()) {
    for (std::size_t n = 0; n <= seed.size(); ++n)
      findings.add(check(std::span<const std::uint8_t>(seed.data(), n)), "prefix " + std::to_string(n) + " of " + hex(seed));
    for (std::size_t at = 0; at < seed.size(); ++at) {
      for (int v = 0; v < 256; ++v) {
        Bytes b = seed;
        b[at] = static_cast<std::uint8_t>(v);
        findings.add(check(b), "byte " + std::to_string(at) + " = " + std::to_string(v) + " in " + hex(seed));
      }
    }
  }
  EXPECT_TRUE(findings.none());
}

}  // namespace
}  // namespace shmreg::proto
