// Registry event streams and await, at the segment level, including a waiter
// in another process on a read-only mapping.
#include "shmreg/shm/events.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "segment_fixture.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;

class Events : public SegmentFixture {
 protected:
  std::vector<shm::Event> read_from(std::uint64_t from, std::uint64_t* next_out = nullptr) {
    std::uint64_t next = 0;
    auto e = shm::read_events(*reader_, view(), from, 1000, next);
    EXPECT_TRUE(e);
    if (next_out != nullptr) *next_out = next;
    return e ? *e : std::vector<shm::Event>{};
  }
};

TEST_F(Events, EachWriteAppendsOneEventWithTheNextSequence) {
  const auto id = make_registry();
  ASSERT_TRUE(writer_->insert(id, "a", "1", owner(10)));
  ASSERT_TRUE(writer_->update_value(id, "a", 10, "2", std::nullopt));
  ASSERT_TRUE(writer_->insert(id, "b", "1", owner(11)));
  ASSERT_TRUE(writer_->remove(id, "a", 10));
  ASSERT_TRUE(writer_->remove_owner(11, shm::RemoveReason::owner_died));
  std::uint64_t next = 0;
  auto ev = read_from(1, &next);
  ASSERT_EQ(ev.size(), 5u);
  const shm::EventType want[] = {shm::EventType::registered, shm::EventType::updated, shm::EventType::registered,
                                 shm::EventType::unregistered, shm::EventType::owner_died};
  const char* keys[] = {"a", "a", "b", "a", "b"};
  const std::uint32_t pids[] = {10, 10, 11, 10, 11};
  for (std::size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].seq, i + 1);
    EXPECT_EQ(ev[i].type, want[i]) << i;
    EXPECT_EQ(ev[i].key, keys[i]) << i;
    EXPECT_EQ(ev[i].pid, pids[i]) << i;
  }
  EXPECT_EQ(next, 6u);
  EXPECT_EQ(shm::event_head(*reader_, view()), 5u);
  EXPECT_TRUE(read_from(6).empty());
}

TEST_F(Events, DuplicateEntriesEachHaveTheirEvents) {
  const auto id = make_registry(shm::RegistryKind::duplicate);
  ASSERT_TRUE(writer_->insert(id, "topic", "x", owner(10)));
  ASSERT_TRUE(writer_->insert(id, "topic", "y", owner(11)));
  ASSERT_TRUE(writer_->remove_owner(10, shm::RemoveReason::owner_died));
  auto ev = read_from(1);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].type, shm::EventType::owner_died);
  EXPECT_EQ(ev[2].pid, 10u);
}

TEST_F(Events, AReaderThatFellBehindTheRingIsToldWhereToResync) {
  const auto id = make_registry(shm::RegistryKind::unique, 8);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(writer_->insert(id, "k" + std::to_string(i), "v", owner(10)));
  auto ev = read_from(1);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].type, shm::EventType::lagged);
  EXPECT_EQ(ev[0].seq, 13u) << "20 events, a ring of 8: the oldest kept is 13";
  ASSERT_EQ(ev.size(), 9u);
  EXPECT_EQ(ev[1].seq, 13u);
  EXPECT_EQ(ev.back().seq, 20u);
  EXPECT_EQ(ev.back().key, "k19");
}

TEST_F(Events, TheChangeCounterMovesWithEveryWrite) {
  const auto id = make_registry();
  const std::uint32_t before = shm::change_counter(*reader_, view());
  ASSERT_TRUE(writer_->insert(id, "a", "1", owner(10)));
  EXPECT_NE(shm::change_counter(*reader_, view()), before);
  EXPECT_FALSE(shm::wait_for_change(*reader_, view(), shm::change_counter(*reader_, view()), 1ms));
  EXPECT_TRUE(shm::wait_for_change(*reader_, view(), before, 1ms));
}

TEST_F(Events, DeferredWakesMoveTheChangeCounterOnceAtTheFlush) {
  const auto id = make_registry();
  const std::uint32_t before = shm::change_counter(*reader_, view());
  writer_->defer_wakes();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer_->insert(id, "k" + std::to_string(i), "v", owner(10)));
  EXPECT_EQ(shm::change_counter(*reader_, view()), before) << "no wake before the flush";
  EXPECT_EQ(read_from(1).size(), 3u) << "the events themselves are published at once";
  writer_->flush_wakes();
  EXPECT_EQ(shm::change_counter(*reader_, view()), before + 1) << "one wake for the three writes";
  ASSERT_TRUE(writer_->insert(id, "after", "v", owner(10)));
  EXPECT_EQ(shm::change_counter(*reader_, view()), before + 2) << "each write wakes again once flushed";
}

TEST_F(Events, AwaitReturnsAtOnceForAPresentKeyAndTimesOutForAnAbsentOne) {
  const auto id = make_registry();
  ASSERT_TRUE(writer_->insert(id, "here", "1", owner(10)));
  auto present = shm::await_key(*reader_, view(), "here", 0ns);
  ASSERT_TRUE(present);
  EXPECT_TRUE(*present);
  auto absent = shm::await_key(*reader_, view(), "nowhere", 20ms);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
}

TEST_F(Events, AwaitWakesWhenAnotherThreadRegistersTheKey) {
  const auto id = make_registry();
  std::thread writer([&] {
    // Other keys first: await must keep waiting through unrelated events.
    for (int i = 0; i < 5; ++i) (void)writer_->insert(id, "other" + std::to_string(i), "v", owner(10));
    (void)writer_->insert(id, "wanted", "v", owner(11));
  });
  auto got = shm::await_key(*reader_, view(), "wanted", 30s);
  writer.join();
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got);
}

// The waiter lives in another process with only a read-only mapping; the
// futex wake must cross processes.
TEST_F(Events, AwaitInAnotherProcessOnAReadOnlyMappingWakesOnRegistration) {
  const auto id = make_registry();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto r = shm::SegmentReader::open(segment_path_);
    if (!r) ::_exit(3);
    auto reg = r->registry("r");
    if (!reg) ::_exit(4);
    (void)!::write(ready[1], "x", 1);
    auto got = shm::await_key(*r, *reg, "late", 30s);
    ::_exit(got && *got ? 0 : 5);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_TRUE(writer_->insert(id, "late", "v", owner(10)));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The race await exists for: the key lands between the waiter's check and its
// sleep. Many rounds with the writer racing the waiter; a missed wakeup would
// hang until the (long) timeout and fail the round.
TEST_F(Events, AwaitNeverMissesARegistrationThatRacesItsCheck) {
  const auto id = make_registry();
  for (int round = 0; round < 200; ++round) {
    const std::string key = "race" + std::to_string(round);
    std::thread writer([&] { (void)writer_->insert(id, key, "v", owner(10)); });
    auto got = shm::await_key(*reader_, view(), key, 20s);
    writer.join();
    ASSERT_TRUE(got);
    ASSERT_TRUE(*got) << "round " << round;
    ASSERT_TRUE(writer_->remove(id, key, 10));
  }
}

TEST_F(Events, CrashRepairAnnouncesAResync) {
  const auto id = make_registry();
  ASSERT_TRUE(writer_->insert(id, "a", "1", owner(10)));
  const std::uint64_t head = shm::event_head(*reader_, view());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    shm::WriterOptions o;
    o.fault_point = 1;
    auto w = shm::SegmentWriter::attach(segment_path_, o);
    if (!w) ::_exit(3);
    (void)w->insert(id, "b", "1", owner(11));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), shm::kFaultExitCode);
  auto w = shm::SegmentWriter::attach(segment_path_);
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->repaired_at_attach());
  auto ev = read_from(head + 1);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().type, shm::EventType::resync);
}

}  // namespace
}  // namespace shmreg::test
