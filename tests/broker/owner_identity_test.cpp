// Identity checks on the writes that name an owner: unregister and
// unregister_all, like update_value and unregister_match, act only on entries
// the segment records under the caller's own process identity. Entries
// recorded under the caller's pid and another identity belong to an earlier
// process with that pid (dead, its exit not yet handled, or never watched):
// they are reaped as that process's death, never removed at the caller's
// request. In the same way, register takes a unique key from a holder that
// has died, its exit not yet handled (a service restarted at once), instead
// of refusing it with already_registered and a dead pid: down an owner queue
// of dead processes, with do_not_queue, and before the uid's quota is asked.
//
// The race this closes (a pid recycled between an owner's death and its
// reaping) cannot be timed from outside a broker, so the handlers run here
// over a real segment, real OwnerWatches and a real live process, with the
// stale entry written under that process's pid and a wrong identity.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "child_process.hpp"
#include "config.hpp"
#include "mailboxes.hpp"
#include "ops.hpp"
#include "owner_watches.hpp"
#include "peer.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"
#include "shmreg/sys/pidfd.hpp"
#include "shutdown.hpp"

namespace shmreg::broker {
namespace {

class OwnerIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shm::CreateOptions copts;
    copts.size = std::size_t{4} << 20;
    copts.owner_capacity = 64;
    auto w = shm::SegmentWriter::create(dir_.path() + "/" + ns_ + ".segment", copts);
    ASSERT_TRUE(w) << shm::to_string(w.error());
    writer_.emplace(std::move(*w));
    auto reg = writer_->create_registry({.name = "svc", .capacity = 64});
    ASSERT_TRUE(reg) << shm::to_string(reg.error());
    reg_ = *reg;
    // The broker's own reader (own_reader) maps the segment by these paths.
    config_.paths.dir = dir_.path();
    config_.paths.segment_name = ns_ + ".segment";
    owners_.emplace(io_, *writer_, log_, shutdown_);
    mailboxes_.emplace(*owners_, config_.settings.broker.connection);
    ctx_.emplace(OpContext{config_, *writer_, *owners_, *mailboxes_, log_});

    // The caller: this test process, as the kernel identifies it.
    peer_.pid = ::getpid();
    peer_.uid = ::getuid();
    peer_.pidfd = sys::open_pidfd(peer_.pid);
    ASSERT_TRUE(peer_.pidfd);
    auto id = identity_of(peer_.pidfd.get(), peer_.pid);
    ASSERT_TRUE(id) << id.error();
    peer_.identity = *id;
  }
  void TearDown() override {
    ctx_.reset();
    mailboxes_.reset();
    owners_.reset();
    writer_.reset();
  }

  // An entry under the caller's pid, recorded for another process identity.
  void record_entry_of_an_earlier_process(const std::string& key) {
    const shm::OwnerIdentity earlier{static_cast<std::uint32_t>(peer_.pid), static_cast<std::uint32_t>(peer_.uid),
                                     peer_.identity.kind, peer_.identity.value + 1};
    ASSERT_TRUE(writer_->insert(reg_, key, "theirs", earlier));
  }
  // A process that lives until the test closes its channel or kills it.
  static test::ForkedChild start_holder() {
    return test::ForkedChild::start([](test::ChildChannel& ch) {
      ch.send("ready");
      while (ch.receive()) {
      }
      return 0;
    });
  }
  // Records key for a child process and watches it as a registration
  // would; the io_context never runs, so its death stays unhandled.
  // queued: in the key's owner queue (behind its primary) instead.
  void record_entry_of_a_watched_child(const test::ForkedChild& child, const std::string& key, bool queued = false) {
    sys::UniqueFd fd = sys::open_pidfd(child.pid());
    ASSERT_TRUE(fd);
    auto id = identity_of(fd.get(), child.pid());
    ASSERT_TRUE(id) << id.error();
    const Owner owner{child.pid(), ::getuid(), *id, {}, fd.get()};
    const shm::OwnerIdentity identity{static_cast<std::uint32_t>(owner.pid), static_cast<std::uint32_t>(owner.uid),
                                      id->kind, id->value};
    if (queued) {
      auto q = writer_->insert_queued(reg_, key, "waiting", identity, 0);
      ASSERT_TRUE(q && q->reply == shm::QueueReply::in_queue);
    } else {
      ASSERT_TRUE(writer_->insert(reg_, key, "theirs", identity));
    }
    auto watch = owners_->watch_fd_for(owner);
    ASSERT_TRUE(watch) << watch.error();
    owners_->ensure_watched(owner, std::move(*watch));
  }
  // As record_entry_of_a_watched_child, then killed and waited for: dead,
  // its exit not handled.
  void record_entry_of_a_dead_watched_child(const std::string& key) {
    test::ForkedChild child = start_holder();
    ASSERT_EQ(child.receive(), "ready");
    record_entry_of_a_watched_child(child, key);
    ASSERT_TRUE(child.kill_and_wait());
  }
  // The pid under key, or 0.
  std::uint32_t holder(const std::string& key) {
    auto r = shm::SegmentReader::open(dir_.path() + "/" + ns_ + ".segment");
    if (!r) return 0;
    auto reg = r->registry("svc");
    std::string value;
    std::uint32_t pid = 0;
    if (!reg || !r->lookup_value(*reg, key, value, &pid).value_or(false)) return 0;
    return pid;
  }
  std::size_t entries() { return writer_->owners().empty() ? 0 : writer_->owners().front().entry_count; }

  proto::OpResult run(const proto::Op& op) {
    const Caller caller = Caller::of(peer_, {});
    const std::shared_ptr<MailboxSink> no_connection;
    Request req{caller, no_connection};
    return std::visit(
        [&](const auto& o) -> proto::OpResult {
          if constexpr (std::is_same_v<std::decay_t<decltype(o)>, proto::Unregister>) return unregister(*ctx_, req, o);
          if constexpr (std::is_same_v<std::decay_t<decltype(o)>, proto::UnregisterAll>)
            return unregister_all(*ctx_, req, o);
          if constexpr (std::is_same_v<std::decay_t<decltype(o)>, proto::RegisterKey>)
            return register_key(*ctx_, req, o);
          if constexpr (std::is_same_v<std::decay_t<decltype(o)>, proto::RegisterQueued>)
            return register_queued(*ctx_, req, o);
          return proto::OpResult{proto::Status::internal_error, 0, "not an op of this test", {}};
        },
        op);
  }

  test::TempDir dir_;  // the segment file; removed with the directory
  const std::string ns_ = "ut" + std::to_string(::getpid()) + "-identity";
  boost::asio::io_context io_;
  BrokerLog log_{ns_};
  Shutdown shutdown_{io_, log_};
  BrokerConfig config_;
  std::optional<shm::SegmentWriter> writer_;
  std::uint32_t reg_ = 0;
  std::optional<OwnerWatches> owners_;
  std::optional<Mailboxes> mailboxes_;
  std::optional<OpContext> ctx_;
  Peer peer_;
};

TEST_F(OwnerIdentityTest, UnregisterNeverRemovesAnEntryRecordedUnderTheCallersPidForAnotherProcess) {
  record_entry_of_an_earlier_process("k");
  const proto::OpResult r = run(proto::Unregister{"svc", "k"});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(r.value, 0u) << "unregister removed the entry of another process";
  EXPECT_EQ(entries(), 0u) << "the earlier process's entry is reaped, not left behind";
  EXPECT_FALSE(shutdown_.halting());
}

TEST_F(OwnerIdentityTest, UnregisterAllNeverRemovesEntriesRecordedUnderTheCallersPidForAnotherProcess) {
  record_entry_of_an_earlier_process("a");
  record_entry_of_an_earlier_process("b");
  const proto::OpResult r = run(proto::UnregisterAll{});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(r.value, 0u) << "unregister_all removed " << r.value << " entries of another process";
  EXPECT_EQ(entries(), 0u);
}

TEST_F(OwnerIdentityTest, UnregisterStillRemovesTheCallersOwnEntry) {
  const shm::OwnerIdentity self{static_cast<std::uint32_t>(peer_.pid), static_cast<std::uint32_t>(peer_.uid),
                                peer_.identity.kind, peer_.identity.value};
  ASSERT_TRUE(writer_->insert(reg_, "k", "mine", self));
  const proto::OpResult r = run(proto::Unregister{"svc", "k"});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(r.value, 1u);
}

TEST_F(OwnerIdentityTest, RegisterTakesAUniqueKeyFromAHolderThatDiedBeforeItsExitWasHandled) {
  record_entry_of_a_dead_watched_child("service");
  if (HasFatalFailure()) return;

  const proto::OpResult r = run(proto::RegisterKey{"svc", "service", "mine"});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(holder("service"), static_cast<std::uint32_t>(peer_.pid));
  EXPECT_EQ(writer_->owners().size(), 1u) << "the dead holder is reaped whole";
}

TEST_F(OwnerIdentityTest, RegisterGoesDownAnOwnerQueueOfDeadProcessesAndTakesTheKey) {
  test::ForkedChild primary = start_holder();
  test::ForkedChild next_in_line = start_holder();
  ASSERT_EQ(primary.receive(), "ready");
  ASSERT_EQ(next_in_line.receive(), "ready");
  record_entry_of_a_watched_child(primary, "service");
  record_entry_of_a_watched_child(next_in_line, "service", true);
  ASSERT_TRUE(primary.kill_and_wait());
  ASSERT_TRUE(next_in_line.kill_and_wait());

  const proto::OpResult r = run(proto::RegisterKey{"svc", "service", "mine"});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(holder("service"), static_cast<std::uint32_t>(peer_.pid));
  EXPECT_EQ(writer_->owners().size(), 1u) << "both dead processes are reaped whole";
}

TEST_F(OwnerIdentityTest, RegisterWithDoNotQueueTakesAUniqueKeyFromAPrimaryThatDiedBeforeItsExitWasHandled) {
  record_entry_of_a_dead_watched_child("service");
  if (HasFatalFailure()) return;

  const proto::OpResult r = run(proto::RegisterQueued{"svc", "service", "mine", shm::kQueueDoNotQueue});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(r.value, proto::pack_queue_reply(static_cast<std::uint32_t>(shm::QueueReply::primary_owner),
                                             static_cast<std::uint32_t>(peer_.pid)));
  EXPECT_EQ(holder("service"), static_cast<std::uint32_t>(peer_.pid));
}

TEST_F(OwnerIdentityTest, ADeadHolderIsReapedBeforeTheQuotaItsEntriesStillFillIsChecked) {
  config_.settings.limits.per_user[::getuid()] = Quota{.entries = 1};
  record_entry_of_a_dead_watched_child("service");
  if (HasFatalFailure()) return;

  const proto::OpResult r = run(proto::RegisterKey{"svc", "service", "mine"});
  EXPECT_EQ(r.status, proto::Status::ok) << r.message;
  EXPECT_EQ(holder("service"), static_cast<std::uint32_t>(peer_.pid));
}

TEST_F(OwnerIdentityTest, RegisterStillRefusesAUniqueKeyWhoseHolderIsAlive) {
  test::ForkedChild holder_process = start_holder();
  ASSERT_EQ(holder_process.receive(), "ready");
  record_entry_of_a_watched_child(holder_process, "service");

  const proto::OpResult r = run(proto::RegisterKey{"svc", "service", "mine"});
  EXPECT_EQ(r.status, proto::Status::already_registered) << r.message;
  EXPECT_EQ(r.value, static_cast<std::uint64_t>(holder_process.pid()));
  EXPECT_EQ(holder("service"), static_cast<std::uint32_t>(holder_process.pid()));
}

}  // namespace
}  // namespace shmreg::broker
