// libshmreg: receiving messages sent by name (Client::send).
//
// A Mailbox is a connection of its own to the broker, on which the process
// asked to receive the messages sent to the keys it owns, in any registry. A
// process has at most one mailbox open at a time. Open it before registering
// the keys that senders will use, so that no sender finds the key without a
// mailbox behind it.
//
// Delivery is best-effort and bounded (docs/send-by-name.md): the broker
// queues each message on the mailbox connection and does not wait for it to
// be read; a mailbox that falls behind by more than its backlog (1024
// messages or 4 MiB) loses the newest messages, the senders are told
// (mailbox_full), and the next message received says how many were dropped.
// Messages queued when the broker stops, or when the process dies, are lost.
// Messages from one sending connection arrive in the order they were sent.
//
// Thread-safety: a Mailbox is not thread-safe; receive from one thread.
//
// Usage:
//   auto mailbox = shmreg::Mailbox::open(*client);         // before registering
//   client->register_key("services", "worker-1", "...");
//   while (auto m = mailbox->receive(std::chrono::seconds(1))) {
//     if (*m) handle((*m)->sender_pid, (*m)->body);          // nullopt: timeout
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shmreg/client.hpp"
#include "shmreg/error.hpp"

namespace shmreg {

namespace client_detail {
struct MailboxState;
}

struct Message {
  std::string registry;  // the name it was sent to
  std::string key;
  std::string body;      // bytes, as sent
  std::uint32_t sender_pid = 0;  // as the kernel reported the sender to the broker
  std::uint32_t sender_uid = 0;
  std::uint32_t dropped = 0;     // messages this mailbox lost (full) just before this one
};

class Mailbox {
 public:
  // Opens the calling process's mailbox on a new connection to client's
  // broker, by client.timeout() (shmreg/client.hpp); the mailbox keeps that
  // timeout for reopening. mailbox_exists if the process has one open already.
  [[nodiscard]] static Result<Mailbox> open(const Client& client) noexcept;

  Mailbox(Mailbox&&) noexcept;
  Mailbox& operator=(Mailbox&&) noexcept;
  ~Mailbox();  // closes the mailbox: later sends get no_mailbox

  // The next message, waiting up to timeout; nullopt on timeout. If the
  // broker went away (a restart), the mailbox reopens on a new connection
  // within the timeout, and messages queued in the old broker are lost;
  // broker_unavailable when it cannot reopen before the timeout. Reopening
  // is one request to the broker, bounded by the timeout and by the
  // client's Client::timeout(), whichever ends first, but given at least
  // 100 ms so that receive(0) can reopen too: a broker that accepts but does
  // not answer (stopped with SIGSTOP, say) makes it fail with Errc::timeout
  // by then. Waiting for messages never involves the broker's answer, so a
  // stopped broker with the mailbox open just gives nullopt on time.
  [[nodiscard]] Result<std::optional<Message>> receive(std::chrono::nanoseconds timeout) noexcept;

  // Readable when messages may be waiting, for poll/epoll; then call
  // receive(0) until it returns nullopt. The descriptor changes when the
  // mailbox reopens: read it again after each receive. -1 while closed.
  [[nodiscard]] int fd() const noexcept;
  // How many times the mailbox was reopened after losing the broker.
  [[nodiscard]] std::uint64_t reopened() const noexcept;

 private:
  explicit Mailbox(std::unique_ptr<client_detail::MailboxState> state) noexcept;
  std::unique_ptr<client_detail::MailboxState> state_;
};

}  // namespace shmreg
