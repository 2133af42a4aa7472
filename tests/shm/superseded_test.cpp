// A segment the broker has abandoned for a new file at its name
// (SegmentWriter::mark_superseded): every read of a reader that still maps it
// fails with Errc::superseded, lookups through the partition bit they load
// anyway, iteration through the header's mark, and a waiter on a futex word
// is woken to learn it. A segment never marked reads as before.
#include <sys/syscall.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "shmreg/shm/events.hpp"
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

using namespace std::chrono_literals;

class Superseded : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    // Keys spread over every partition: each one must carry the mark.
    uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, kPartitions, 256)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, kPartitions, 256)));
    for (int i = 0; i < kKeys; ++i) {
      ok(w().insert(uniq_, key(i), "v", owner(10)));
      ok(w().insert(dup_, key(i), "x", owner(10)));
      ok(w().insert(dup_, key(i), "y", owner(20)));
    }
  }
  static std::string key(int i) { return "k" + std::to_string(i); }
  static constexpr std::uint32_t kPartitions = 8;
  static constexpr int kKeys = 64;
  std::uint32_t uniq_ = 0, dup_ = 0;
};

// True while thread `tid` of this process sits in the futex system call.
bool in_futex_wait(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string nr;
  return in >> nr && nr == std::to_string(SYS_futex);
}

// Polls cond until it holds or 10 s pass.
template <class Cond>
bool within_10s(Cond&& cond) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST_F(Superseded, ASegmentNeverMarkedReadsAsBefore) {
  const RegistryView u = view("uniq"), d = view("dup");
  EXPECT_FALSE(r().superseded());
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(value_of(u, key(i)), "v");
    EXPECT_EQ(ok(r().lookup_copy(d, key(i))).size(), 2u);
  }
  EXPECT_EQ(value_of(u, "absent"), std::nullopt);
  EXPECT_EQ(ok(r().keys(u, 10)).size(), std::size_t{kKeys});
  EXPECT_EQ(ok(r().count(d)), 2u * kKeys);
  EXPECT_EQ(ok(r().for_each(d, [](const Entry&) {})), 2u * kKeys);
  std::uint64_t next = 0;
  EXPECT_EQ(ok(read_events(r(), u, 1, 16, next)).size(), 16u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(Superseded, LookupHitAndMissFailWithSupersededOnceMarked) {
  const RegistryView u = view("uniq"), d = view("dup");
  w().mark_superseded();
  EXPECT_TRUE(r().superseded());
  std::string value;
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(error_of(r().lookup_value(u, key(i), value)), Errc::superseded) << "a hit on " << key(i);
    EXPECT_EQ(error_of(r().lookup_copy(d, key(i))), Errc::superseded) << key(i);
    EXPECT_EQ(error_of(r().values(d, key(i), 10)), Errc::superseded) << key(i);
    EXPECT_EQ(error_of(r().owner_queue(u, key(i))), Errc::superseded) << key(i);
    const std::string absent = "absent" + key(i);
    EXPECT_EQ(error_of(r().lookup_value(u, absent, value)), Errc::superseded) << "a miss on " << absent;
    EXPECT_EQ(error_of(r().lookup_copy(d, absent)), Errc::superseded) << absent;
  }
}

TEST_F(Superseded, IterationMetaAndEventsFailWithSupersededOnceMarked) {
  const RegistryView u = view("uniq"), d = view("dup");
  w().mark_superseded();
  EXPECT_EQ(error_of(r().keys(u, 10)), Errc::superseded);
  EXPECT_EQ(error_of(r().count(d)), Errc::superseded);
  EXPECT_EQ(error_of(r().for_each(d, [](const Entry&) {})), Errc::superseded);
  EXPECT_EQ(error_of(r().meta(u)), Errc::superseded);
  EXPECT_EQ(error_of(r().registries()), Errc::superseded);
  EXPECT_EQ(error_of(r().registry("uniq")), Errc::superseded);
  EXPECT_EQ(error_of(r().owners()), Errc::superseded);
  std::uint64_t next = 0;
  EXPECT_EQ(error_of(read_events(r(), u, 1, 16, next)), Errc::superseded);
}

TEST_F(Superseded, AnAwaitAsleepOnTheFutexWordIsWokenAndReturnsSuperseded) {
  const RegistryView u = view("uniq"), d = view("dup");
  std::atomic<pid_t> tid{0};
  auto waiter = std::async(std::launch::async, [&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return await_key(r(), u, "never", 60s);
  });
  // Marked only once the waiter sleeps in the kernel: without the wake it
  // would sleep out its whole minute.
  ASSERT_TRUE(within_10s([&] { return tid != 0 && in_futex_wait(tid); }));
  const std::uint32_t before_u = change_counter(r(), u), before_d = change_counter(r(), d);
  w().mark_superseded();
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready) << "the waiter was not woken";
  EXPECT_EQ(error_of(waiter.get()), Errc::superseded);
  EXPECT_NE(change_counter(r(), u), before_u) << "every registry's futex word moves";
  EXPECT_NE(change_counter(r(), d), before_d);
}

TEST_F(Superseded, ABrokerThatAttachesAMarkedFileAgainMakesItLiveForItsReaders) {
  const RegistryView u = view("uniq"), d = view("dup");
  w().mark_superseded();
  SegmentWriter again = ok(SegmentWriter::attach(ns_.path()));
  EXPECT_FALSE(r().superseded());
  EXPECT_EQ(value_of(u, key(0)), "v");
  EXPECT_EQ(value_of(u, "absent"), std::nullopt);
  EXPECT_EQ(ok(r().count(d)), 2u * kKeys);
  ok(again.insert(uniq_, "new", "n", owner(30)));
  EXPECT_EQ(value_of(u, "new"), "n");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(Superseded, ValidateReportsTheMarkAsOneProblem) {
  w().mark_superseded();
  const std::vector<Problem> problems = validate(r());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where, "header");
  EXPECT_NE(problems[0].what.find("superseded"), std::string::npos) << problems[0].what;
}

}  // namespace
}  // namespace shmreg::shm::test
