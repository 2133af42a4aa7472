// Send by name: the broker's table of open mailboxes and the routing of
// send_message to them.
//
// A mailbox is a connection on which its process sent open_mailbox. There is
// at most one per process (pid): a second open from another connection of
// the same process is refused with mailbox_exists while the first is open.
// A mailbox closes with its connection, whatever the reason (close, exit,
// kill); nothing else closes it.
//
// Routing. send_message names (registry, key); the broker reads the key's
// owners from the segment (ops_mailboxes.cpp) and, for each distinct
// owner process, queues one message frame on that process's mailbox
// connection. A mailbox is used only if its connection is still open at the
// client's end and its peer is the process the broker watches under that pid
// (same identity; an owner the broker does not watch gets no messages), so a
// pid recycled by a process that opened a mailbox never receives the messages
// of a dead owner whose entries are not yet reaped, and a send to an owner
// that has just died or closed its mailbox is never reported delivered.
//
// Best-effort, bounded. Delivery means "queued on the recipient's connection
// in the broker"; the broker does not wait for the recipient to read, and a
// recipient that dies or a broker that restarts loses what was queued. Each
// mailbox holds at most kMaxBacklogFrames frames and kMaxBacklogBytes bytes
// not yet written to its socket, and the messages of one sender uid, in all
// mailboxes together, at most the budget --mailbox-bytes-per-uid (uid_tally.hpp):
// a user who fills mailboxes that are never read with their own sends makes
// only their own sends fail. Of that budget, the mailboxes of one other uid
// hold at most --mailbox-bytes-per-receiver-uid (a quarter by default), so
// that a user who registers under the keys another user sends to and never
// reads holds only that share, and the sender's messages to everyone else
// still go out unless several such uids hold the rest. A message that does not fit is dropped, the sender is told
// (mailbox_full, naming the bound), and the recipient learns how many it
// missed from the `dropped` field of the next message it gets. Messages from
// one sender connection to one mailbox arrive in the order sent.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "caller.hpp"
#include "settings.hpp"
#include "shmreg/proto/wire.hpp"
#include "watched_identities.hpp"

namespace shmreg::broker {

// The broker's side of one mailbox connection.
class MailboxSink {
 public:
  static constexpr std::size_t kMaxBacklogFrames = 1024;
  static constexpr std::size_t kMaxBacklogBytes = std::size_t{4} << 20;

  // What deliver() did with a message.
  enum class Delivery {
    queued,
    mailbox_full,    // the connection is closed or its backlog is at a bound
    sender_budget,   // the sender's uid has its budget of queued messages
    receiver_share,  // the mailboxes of this uid hold their share of the sender's budget
  };

  virtual ~MailboxSink() = default;
  virtual const Peer& mailbox_owner() const noexcept = 0;
  // Queues one message frame from a process of sender_uid for writing;
  // nothing is queued unless the result is `queued`.
  virtual Delivery deliver(std::vector<std::uint8_t> frame, uid_t sender_uid) = 0;
  // True when the client has closed its end, though the broker may not have
  // read the end of the stream yet (a mailbox closed and at once reopened).
  virtual bool hung_up() noexcept = 0;
};

class Mailboxes {
 public:
  // watched: the processes the broker watches, to check a mailbox owner's
  // identity. REQUIRES: watched outlives this object.
  // limits: mailbox_bytes_per_uid and mailbox_bytes_per_receiver_uid, read
  // at each send (a reload changes them in place) and named in refusals.
  // REQUIRES: limits outlives this object.
  Mailboxes(const WatchedIdentities& watched, const ConnectionLimits& limits) : watched_(watched), limits_(limits) {}

  [[nodiscard]] proto::OpResult open(const std::shared_ptr<MailboxSink>& sink);
  // Forgets sink's mailbox, if it has one (its connection is closing).
  void close(const MailboxSink* sink) noexcept;
  // Whether sink is the open mailbox of its process.
  [[nodiscard]] bool is_open(const MailboxSink* sink) const;
  // Routes op to the mailboxes of owner_pids (the key's owners). The send
  // report goes in the result's data, which may take at most data_budget
  // bytes (else reply_too_large, and nothing is sent); the bytes it takes are
  // subtracted.
  [[nodiscard]] proto::OpResult send(const Caller& sender, const proto::SendMessage& op, std::span<const std::uint32_t> owner_pids,
                       std::size_t& data_budget);

 private:
  struct Slot {
    std::weak_ptr<MailboxSink> sink;
    std::uint32_t dropped = 0;  // since the last message delivered
  };
  // The live mailbox of pid that belongs to the process watched under pid.
  Slot* usable(std::uint32_t pid);

  const WatchedIdentities& watched_;
  const ConnectionLimits& limits_;
  std::unordered_map<pid_t, Slot> slots_;
};

}  // namespace shmreg::broker
