// A writer that died inside a write with a sequence word odd: readers return
// an error (busy: "torn reads kept failing") in bounded time, never spin and
// never give a torn entry; the next broker repairs the segment and every
// lookup answers again. The segment is a real broker's, stopped; the test
// then leaves it as a broker SIGKILLed inside an insert into a duplicate
// key's chain would: the write marked under way in the header and the key
// node's seq odd (the writer's fault points, which tests/shm uses to cut
// writes between steps, never fall inside a seqlock). Each round of lookups
// runs in a child with a deadline, so a reader that spun would fail the test.
// Torn reads while a live writer churns are in tests/shm (Concurrency).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

// The state a writer killed just after it made key's node (registry 0, a
// duplicate one) odd to push pid's new entry leaves: txn_state says an
// insert is under way. False if the node is not found.
bool cut_inside_key_node(const std::string& path, const std::string& key, std::uint32_t pid) {
  const sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) return false;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return false;
  auto* base = static_cast<std::byte*>(p);
  auto& h = *reinterpret_cast<shm::SegmentHeader*>(base);
  const auto& d = *reinterpret_cast<const shm::RegistryDesc*>(base + shm::kHeaderSize);
  bool found = false;
  for (std::uint64_t i = 0; i < d.records_high_water && !found; ++i) {
    auto& r = *reinterpret_cast<shm::RecordHeader*>(base + d.records_offset + i * d.record_size);
    const std::string_view k(reinterpret_cast<const char*>(&r + 1), r.key_len);
    if (r.state != shm::kRecordKeyNode || k != key) continue;
    h.txn_registry = 0;
    h.txn_pid = pid;
    h.txn_key_len = static_cast<std::uint32_t>(key.size());
    std::memcpy(h.txn_key, key.data(), key.size());
    h.txn_state = shm::kOpInsert;
    r.seq |= 1u;
    found = true;
  }
  ::munmap(p, size);
  return found;
}

class DeadWriter : public BrokerTest {};

// In a child: every key looked up through the library; one word per key:
// "ok" (the value it was given), "absent", "busy" or the unexpected error.
std::string lookup_round(const std::string& ns, const std::string& socket, const std::string& registry,
                         const std::vector<std::string>& keys) {
  ForkedChild reader = ForkedChild::start([&](ChildChannel& ch) {
    auto client = shmreg::Client::open({ns, socket});
    if (!client) return child_report(ch, "open:" + client.error().message);
    auto reg = client->registry(registry);
    if (!reg) return child_report(ch, "registry:" + reg.error().message);
    std::string words;
    for (const auto& key : keys) {
      auto v = reg->lookup(key);
      if (!v)
        words += v.error().code == shmreg::Errc::busy ? "busy " : "error:" + std::string(to_string(v.error().code)) + " ";
      else if (v->empty())
        words += "absent ";
      else
        words += v->size() == 1 && v->front().value == "v-" + key ? "ok " : "torn:" + v->front().value + " ";
    }
    ch.send(words);
    return 0;
  });
  auto line = reader.receive();
  const auto status = reader.wait();
  if (!line || !status) return "no answer within the deadline (a reader spun?)";
  return *line;
}

TEST_F(DeadWriter, ReadersOfAKeyWhoseSeqADeadWriterLeftOddGetBusyInBoundedTimeUntilABrokerRepairs) {
  cli_ok({"create", "pool", "--keys", "duplicate"});
  cli_ok({"create", "other", "--keys", "duplicate"});
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  for (const char* k : {"t", "u"}) ASSERT_TRUE(owner.registers("pool", k, std::string("v-") + k));
  ASSERT_TRUE(owner.registers("other", "t", "v-t"));
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(cut_inside_key_node(segment_file(), "t", static_cast<std::uint32_t>(owner.pid())));

  // Only the key under the odd seq is busy; the rest of the segment answers.
  EXPECT_EQ(lookup_round(ns(), socket_path(), "pool", {"t", "u", "none"}), "busy ok absent ");
  EXPECT_EQ(lookup_round(ns(), socket_path(), "other", {"t"}), "ok ");
  RunResult cli_lookup_t = cli({"lookup", "pool", "t"});
  EXPECT_NE(cli_lookup_t.exit_code(), 0) << cli_lookup_t.describe();
  EXPECT_FALSE(cli_lookup_t.err.empty()) << "the CLI must say why";

  ASSERT_TRUE(start_broker());
  EXPECT_NE(broker().log().find("repaired a write cut short"), std::string::npos) << broker().log();
  EXPECT_EQ(lookup_round(ns(), socket_path(), "pool", {"t", "u", "none"}), "ok ok absent ");
  RunResult fsck = cli({"fsck"});
  EXPECT_EQ(fsck.exit_code(), 0) << fsck.describe();
}

}  // namespace
}  // namespace shmreg::test
