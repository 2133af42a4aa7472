// The broker's mailbox table (broker/src/mailboxes.hpp) on its own: one
// mailbox per process, closing, skipping connections that are gone, the
// identity check against the watched owner, and the bounds of a send.
#include "mailboxes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <vector>

namespace shmreg::broker {
namespace {

using proto::Status;

// The broker's watches, as Mailboxes sees them.
class FakeWatches final : public WatchedIdentities {
 public:
  std::optional<ProcessIdentity> watched_identity(pid_t pid) const override {
    auto it = identities.find(pid);
    if (it == identities.end()) return std::nullopt;
    return it->second;
  }
  std::map<pid_t, ProcessIdentity> identities;
};

// A connection that records what it was given, and refuses while full.
class FakeSink final : public MailboxSink {
 public:
  FakeSink(pid_t pid, std::uint64_t identity) {
    peer_.pid = pid;
    peer_.identity = ProcessIdentity{1, identity};
  }
  const Peer& mailbox_owner() const noexcept override { return peer_; }
  Delivery deliver(std::vector<std::uint8_t> frame, uid_t) override {
    if (full) return Delivery::mailbox_full;
    frames.push_back(std::move(frame));
    return Delivery::queued;
  }
  bool hung_up() noexcept override { return hung_up_; }

  std::vector<std::vector<std::uint8_t>> frames;
  bool full = false;
  bool hung_up_ = false;

 private:
  Peer peer_;
};

constexpr pid_t kOwner = 4242;
constexpr std::uint64_t kOwnerIdentity = 77;

class MailboxesTest : public ::testing::Test {
 protected:
  MailboxesTest() { watches_.identities[kOwner] = ProcessIdentity{1, kOwnerIdentity}; }

  std::shared_ptr<FakeSink> sink(pid_t pid = kOwner, std::uint64_t identity = kOwnerIdentity) {
    return std::make_shared<FakeSink>(pid, identity);
  }
  proto::OpResult send(std::vector<std::uint32_t> owners, std::string body = "hello") {
    return send_with_budget(std::move(owners), proto::kMaxReplyData, std::move(body));
  }
  proto::OpResult send_with_budget(std::vector<std::uint32_t> owners, std::size_t budget, std::string body = "hello") {
    Caller sender;
    sender.pid = ::getpid();
    sender.uid = ::getuid();
    return mailboxes_.send(sender, proto::SendMessage{"svc", "key", std::move(body)}, owners, budget);
  }
  std::uint32_t dropped_in(const std::vector<std::uint8_t>& frame) {
    auto m = proto::decode_message(std::span(frame).subspan(proto::kHeaderSize));
    EXPECT_TRUE(m);
    return m ? m->dropped : 0;
  }

  FakeWatches watches_;
  ConnectionLimits limits_{.mailbox_bytes_per_uid = std::size_t{1} << 20,
                           .mailbox_bytes_per_receiver_uid = std::size_t{1} << 18};
  Mailboxes mailboxes_{watches_, limits_};
};

TEST_F(MailboxesTest, AMessageToAnOwnerWithAnOpenMailboxIsDeliveredToIt) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  auto r = send({kOwner});
  EXPECT_EQ(r.status, Status::ok) << r.message;
  EXPECT_EQ(r.value, 1u);
  ASSERT_EQ(s->frames.size(), 1u);
  auto m = proto::decode_message(std::span(s->frames[0]).subspan(proto::kHeaderSize));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "hello");
  EXPECT_EQ(m->sender_pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(MailboxesTest, ASecondMailboxOfTheSameProcessIsRefusedWhileTheFirstIsOpen) {
  auto first = sink(), second = sink();
  ASSERT_EQ(mailboxes_.open(first).status, Status::ok);
  EXPECT_EQ(mailboxes_.open(second).status, Status::mailbox_exists);
  EXPECT_EQ(mailboxes_.open(first).status, Status::ok) << "reopening on the same connection is harmless";
}

TEST_F(MailboxesTest, AProcessMayOpenANewMailboxOnceItsFirstConnectionHungUp) {
  auto first = sink(), second = sink();
  ASSERT_EQ(mailboxes_.open(first).status, Status::ok);
  first->hung_up_ = true;
  EXPECT_EQ(mailboxes_.open(second).status, Status::ok);
  send({kOwner});
  EXPECT_TRUE(first->frames.empty());
  EXPECT_EQ(second->frames.size(), 1u);
}

TEST_F(MailboxesTest, AMailboxLeftByAProcessThatHeldThePidBeforeDoesNotBlockANewOne) {
  auto old_process = sink(kOwner, kOwnerIdentity + 1), current = sink();
  ASSERT_EQ(mailboxes_.open(old_process).status, Status::ok);
  EXPECT_EQ(mailboxes_.open(current).status, Status::ok);
}

TEST_F(MailboxesTest, ClosingTheConnectionClosesItsMailbox) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  mailboxes_.close(s.get());
  EXPECT_EQ(send({kOwner}).status, Status::no_mailbox);
  EXPECT_TRUE(s->frames.empty());
}

TEST_F(MailboxesTest, AMailboxWhoseConnectionIsGoneOrHungUpIsSkipped) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  s->hung_up_ = true;
  EXPECT_EQ(send({kOwner}).status, Status::no_mailbox);
  s.reset();  // the session was destroyed without closing: the table holds a weak reference
  EXPECT_EQ(send({kOwner}).status, Status::no_mailbox);
}

TEST_F(MailboxesTest, AMailboxOfAProcessOtherThanTheWatchedOwnerGetsNothing) {
  auto impostor = sink(kOwner, kOwnerIdentity + 1);
  ASSERT_EQ(mailboxes_.open(impostor).status, Status::ok);
  EXPECT_EQ(send({kOwner}).status, Status::no_mailbox);
  auto unwatched = sink(kOwner + 1, kOwnerIdentity);
  ASSERT_EQ(mailboxes_.open(unwatched).status, Status::ok);
  EXPECT_EQ(send({kOwner + 1}).status, Status::no_mailbox);
  EXPECT_TRUE(impostor->frames.empty());
  EXPECT_TRUE(unwatched->frames.empty());
}

TEST_F(MailboxesTest, AFullMailboxDropsTheMessageAndTheNextOneSaysHowManyWereDropped) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  s->full = true;
  EXPECT_EQ(send({kOwner}).status, Status::mailbox_full);
  EXPECT_EQ(send({kOwner}).status, Status::mailbox_full);
  s->full = false;
  ASSERT_EQ(send({kOwner}).status, Status::ok);
  ASSERT_EQ(s->frames.size(), 1u);
  EXPECT_EQ(dropped_in(s->frames[0]), 2u);
  ASSERT_EQ(send({kOwner}).status, Status::ok);
  EXPECT_EQ(dropped_in(s->frames[1]), 0u);
}

TEST_F(MailboxesTest, ABodyOverTheLimitIsRefusedAndNotQueued) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  EXPECT_EQ(send({kOwner}, std::string(proto::kMaxMessageBody + 1, 'x')).status, Status::message_too_large);
  EXPECT_TRUE(s->frames.empty());
}

TEST_F(MailboxesTest, ASendWhoseReportWouldNotFitTheReplySendsNothing) {
  auto s = sink();
  ASSERT_EQ(mailboxes_.open(s).status, Status::ok);
  EXPECT_EQ(send_with_budget({kOwner}, 8).status, Status::reply_too_large);
  EXPECT_TRUE(s->frames.empty());
}

TEST_F(MailboxesTest, AKeyWithoutOwnersIsNotFound) { EXPECT_EQ(send({}).status, Status::not_found); }

}  // namespace
}  // namespace shmreg::broker
