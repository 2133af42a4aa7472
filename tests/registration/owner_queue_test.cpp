// Owner queues on unique registries, with D-Bus RequestName rules, at the
// segment level: replies, order, replacement, and handover in one step.
#include <gtest/gtest.h>

#include "segment_fixture.hpp"
#include "shmreg/shm/events.hpp"

namespace shmreg::test {
namespace {

using shm::QueueReply;

class OwnerQueue : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    id_ = make_registry();
  }
  QueueReply request(std::uint32_t pid, const std::string& value, std::uint32_t flags) {
    auto r = writer_->insert_queued(id_, "name", value, owner(pid), flags);
    EXPECT_TRUE(r) << shm::to_string(r.error());
    return r ? r->reply : QueueReply::exists;
  }
  std::vector<std::uint32_t> queue_pids() {
    std::vector<std::uint32_t> out;
    auto q = reader_->owner_queue(view(), "name");
    EXPECT_TRUE(q);
    if (q)
      for (const auto& e : *q) out.push_back(e.pid);
    return out;
  }
  std::uint32_t owner_pid() {
    std::string v;
    std::uint32_t pid = 0;
    auto hit = reader_->lookup_value(view(), "name", v, &pid);
    return hit && *hit ? pid : 0;
  }
  std::vector<shm::Event> events_since(std::uint64_t from) {
    std::uint64_t next = 0;
    auto e = shm::read_events(*reader_, view(), from, 100, next);
    EXPECT_TRUE(e);
    return e ? *e : std::vector<shm::Event>{};
  }
  std::uint32_t id_ = 0;
};

TEST_F(OwnerQueue, FirstRequestBecomesPrimaryOwner) {
  EXPECT_EQ(request(10, "a", 0), QueueReply::primary_owner);
  EXPECT_EQ(owner_pid(), 10u);
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, PrimaryAskingAgainIsAlreadyOwner) {
  request(10, "a", 0);
  EXPECT_EQ(request(10, "a", shm::kQueueAllowReplacement), QueueReply::already_owner);
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{10}));
}

TEST_F(OwnerQueue, OthersWaitInArrivalOrderAndLookupsSeeOnlyThePrimary) {
  request(10, "a", 0);
  EXPECT_EQ(request(11, "b", 0), QueueReply::in_queue);
  EXPECT_EQ(request(12, "c", 0), QueueReply::in_queue);
  EXPECT_EQ(request(11, "b", 0), QueueReply::in_queue);  // already waiting: keeps its place
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{10, 11, 12}));
  EXPECT_EQ(owner_pid(), 10u);
  auto count = reader_->count(view());
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 1u);
  auto keys = reader_->keys(view(), 11);
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty()) << "a waiting process does not own the key";
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, DoNotQueueGetsExistsAndStoresNothing) {
  request(10, "a", 0);
  auto r = writer_->insert_queued(id_, "name", "x", owner(11), shm::kQueueDoNotQueue);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reply, QueueReply::exists);
  EXPECT_EQ(r->owner_pid, 10u);
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{10}));
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, ReplaceExistingNeedsThePrimaryToAllowReplacement) {
  request(10, "a", 0);
  EXPECT_EQ(request(11, "b", shm::kQueueReplaceExisting), QueueReply::in_queue);
  EXPECT_EQ(owner_pid(), 10u);
}

TEST_F(OwnerQueue, ReplacementTakesOverAndTheOldPrimaryWaitsAtTheHead) {
  request(10, "a", shm::kQueueAllowReplacement);
  request(11, "b", 0);
  const std::uint64_t head = shm::event_head(*reader_, view());
  EXPECT_EQ(request(12, "c", shm::kQueueReplaceExisting), QueueReply::primary_owner);
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{12, 10, 11}));
  std::string v;
  ASSERT_TRUE(*reader_->lookup_value(view(), "name", v));
  EXPECT_EQ(v, "c");
  auto ev = events_since(head + 1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, shm::EventType::owner_changed);
  EXPECT_EQ(ev[0].pid, 12u);
  EXPECT_EQ(ev[0].old_pid, 10u);
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, ReplacedPrimaryThatAskedNotToQueueLeaves) {
  request(10, "a", shm::kQueueAllowReplacement | shm::kQueueDoNotQueue);
  request(11, "b", 0);
  EXPECT_EQ(request(12, "c", shm::kQueueReplaceExisting), QueueReply::primary_owner);
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{12, 11}));
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, AWaitingProcessThatReplacesLeavesItsPlaceInLine) {
  request(10, "a", shm::kQueueAllowReplacement);
  request(11, "b", 0);
  request(12, "c", 0);
  EXPECT_EQ(request(12, "c2", shm::kQueueReplaceExisting), QueueReply::primary_owner);
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{12, 10, 11}));
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, PrimaryDeathHandsTheKeyToTheNextInOneStepWithOneEvent) {
  request(10, "a", 0);
  request(11, "b", 0);
  request(12, "c", 0);
  const std::uint64_t head = shm::event_head(*reader_, view());
  auto n = writer_->remove_owner(10, shm::RemoveReason::owner_died);
  ASSERT_TRUE(n);
  EXPECT_EQ(owner_pid(), 11u);
  std::string v;
  ASSERT_TRUE(*reader_->lookup_value(view(), "name", v));
  EXPECT_EQ(v, "b") << "the new owner's own value";
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{11, 12}));
  auto ev = events_since(head + 1);
  ASSERT_EQ(ev.size(), 1u) << "one owner_changed, no unregister/register pair";
  EXPECT_EQ(ev[0].type, shm::EventType::owner_changed);
  EXPECT_EQ(ev[0].old_pid, 10u);
  EXPECT_EQ(ev[0].pid, 11u);
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, UnregisterByThePrimaryAlsoHandsOver) {
  request(10, "a", 0);
  request(11, "b", 0);
  auto n = writer_->remove(id_, "name", 10);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(owner_pid(), 11u);
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, WaitingProcessThatDiesLeavesTheLineSilently) {
  request(10, "a", 0);
  request(11, "b", 0);
  request(12, "c", 0);
  const std::uint64_t head = shm::event_head(*reader_, view());
  ASSERT_TRUE(writer_->remove_owner(11, shm::RemoveReason::owner_died));
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{10, 12}));
  EXPECT_TRUE(events_since(head + 1).empty()) << "lookups never saw it, so watchers hear nothing";
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, LastOwnerLeavingFreesTheKey) {
  request(10, "a", 0);
  ASSERT_TRUE(writer_->remove_owner(10, shm::RemoveReason::owner_died));
  EXPECT_EQ(owner_pid(), 0u);
  EXPECT_TRUE(queue_pids().empty());
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, UpdateValueKeepsTheQueue) {
  request(10, "a", 0);
  request(11, "b", 0);
  ASSERT_TRUE(writer_->update_value(id_, "name", 10, "a2", std::nullopt));
  EXPECT_EQ(queue_pids(), (std::vector<std::uint32_t>{10, 11}));
  ASSERT_TRUE(writer_->remove_owner(10, shm::RemoveReason::owner_died));
  EXPECT_EQ(owner_pid(), 11u);
  EXPECT_TRUE(consistent());
}

TEST_F(OwnerQueue, DuplicateRegistriesHaveNoOwnerQueues) {
  shm::RegistrySpec spec;
  spec.name = "dup";
  spec.kind = shm::RegistryKind::duplicate;
  spec.capacity = 64;
  auto id = writer_->create_registry(spec);
  ASSERT_TRUE(id);
  auto r = writer_->insert_queued(*id, "k", "v", owner(10), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), shm::Errc::invalid_argument);
}

TEST_F(OwnerQueue, UnknownFlagsAreRejected) {
  auto r = writer_->insert_queued(id_, "name", "v", owner(10), 64);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), shm::Errc::invalid_argument);
}

// A broker that dies anywhere inside a queue operation leaves a segment that
// repair makes consistent, with the key owned by one of the processes.
class OwnerQueueCrash : public ::testing::TestWithParam<int> {};

TEST_P(OwnerQueueCrash, RepairAfterACrashInsideAHandoverLeavesOneOwnerAndAConsistentSegment) {
  const TempDir dir;
  const std::string ns = dir.path() + "/" + unique_ns("c") + ".segment";
  {
    auto w = shm::SegmentWriter::create(ns, {.size = 8u << 20});
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->create_registry({.name = "r", .capacity = 64}));
    ASSERT_TRUE(w->insert_queued(0, "name", "a", owner(10), shm::kQueueAllowReplacement));
    ASSERT_TRUE(w->insert_queued(0, "name", "b", owner(11), 0));
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    shm::WriterOptions o;
    o.fault_point = GetParam();
    auto w = shm::SegmentWriter::attach(ns, o);
    if (!w) ::_exit(3);
    (void)w->insert_queued(0, "name", "c", owner(12), shm::kQueueReplaceExisting);
    (void)w->remove_owner(12, shm::RemoveReason::owner_died);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  auto w = shm::SegmentWriter::attach(ns);
  ASSERT_TRUE(w);
  auto r = shm::SegmentReader::open(ns);
  ASSERT_TRUE(r);
  auto problems = shm::validate(*r);
  for (const auto& p : problems) ADD_FAILURE() << p.where << ": " << p.what;
  std::string v;
  std::uint32_t pid = 0;
  auto hit = r->lookup_value(*r->registry("r"), "name", v, &pid);
  ASSERT_TRUE(hit);
  EXPECT_TRUE(*hit) << "the key always has an owner";
  EXPECT_TRUE(pid == 10 || pid == 11 || pid == 12) << pid;
}

INSTANTIATE_TEST_SUITE_P(EveryFaultPoint, OwnerQueueCrash, ::testing::Range(1, 9));

}  // namespace
}  // namespace shmreg::test
