// libshmreg, op family "mailboxes": send by name (Client::send) and the
// receiving side (Mailbox); see shmreg/mailbox.hpp and docs/send-by-name.md.
#include "shmreg/mailbox.hpp"

#include <algorithm>
#include <thread>

#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::guarded;
using client_detail::MailboxState;

static_assert(kMaxMessageSize == proto::kMaxMessageBody);

// The least time a receive gives a reopening, even receive(0) (mailbox.hpp).
constexpr std::chrono::milliseconds kReopenFloor{100};

namespace {

// open_mailbox on the state's connection by deadline, connecting first if
// needed.
Result<void> open_on_connection(MailboxState& state, const client_detail::Deadline& deadline) {
  std::vector<proto::Op> ops;
  ops.emplace_back(proto::OpenMailbox{});
  auto r = state.conn.call(ops, {}, deadline);
  if (!r) return std::unexpected(client_detail::error_from_connection(std::move(r.error())));
  if (r->front().status != proto::Status::ok) {
    // Not a mailbox: drop the connection, so that the next receive tries again.
    state.conn.close();
    return std::unexpected(client_detail::error_from_reply(r->front()));
  }
  return {};
}

}  // namespace

Result<SendReport> Client::send(std::string_view registry, std::string_view key,
                                std::string_view message) const noexcept {
  return guarded([&]() -> Result<SendReport> {
    if (message.size() > kMaxMessageSize)
      return std::unexpected(Error{Errc::message_too_large, "message of " + std::to_string(message.size()) +
                                                                " bytes; the maximum is " +
                                                                std::to_string(kMaxMessageSize)});
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::SendMessage{std::string(registry), std::string(key), std::string(message)});
    if (!r) return std::unexpected(std::move(r.error()));
    auto report = proto::decode_send_report(r->data);
    if (!report) return std::unexpected(Error{Errc::protocol_error, "malformed send report from the broker"});
    return SendReport{std::move(report->delivered_to), report->no_mailbox, report->mailbox_full};
  });
}

Mailbox::Mailbox(std::unique_ptr<MailboxState> state) noexcept : state_(std::move(state)) {}
Mailbox::Mailbox(Mailbox&&) noexcept = default;
Mailbox& Mailbox::operator=(Mailbox&&) noexcept = default;
Mailbox::~Mailbox() = default;

Result<Mailbox> Mailbox::open(const Client& client) noexcept {
  return guarded([&]() -> Result<Mailbox> {
    auto state = std::make_unique<MailboxState>(client.socket_path(), client.state_->broker_uid, client.timeout());
    if (auto ok = open_on_connection(*state, client_detail::Deadline::after(client.timeout())); !ok)
      return std::unexpected(std::move(ok.error()));
    return Mailbox(std::move(state));
  });
}

int Mailbox::fd() const noexcept { return state_ ? state_->conn.fd() : -1; }
std::uint64_t Mailbox::reopened() const noexcept { return state_ ? state_->reopened : 0; }

Result<std::optional<Message>> Mailbox::receive(std::chrono::nanoseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  if (!state_) return std::unexpected(Error{Errc::invalid_argument, "receive on a moved-from mailbox"});
  return guarded([&]() -> Result<std::optional<Message>> {
    // Clamped, so that a huge timeout cannot overflow the deadline.
    const auto deadline =
        clock::now() + std::clamp<std::chrono::nanoseconds>(timeout, std::chrono::nanoseconds::zero(),
                                                            std::chrono::hours(24 * 365 * 100));
    int reopens = 0;  // in this call
    for (;;) {
      if (!state_->conn.connected() && state_->conn.kept_messages() == 0) {
        // The broker went away: reopen on a new connection, until the
        // deadline (one attempt even when it has passed).
        if (reopens++ > 0 && clock::now() >= deadline)
          return std::unexpected(
              Error{Errc::broker_unavailable, "lost the broker; the mailbox reopens on the next receive"});
        // Bounded by the receive's deadline and the client's timeout, with
        // a floor so that receive(0) on a readable descriptor still reopens.
        const auto now = clock::now();
        const auto reopen_by = std::max(std::min(deadline, now + state_->timeout), now + kReopenFloor);
        auto ok = open_on_connection(*state_, {reopen_by, reopen_by - now});
        if (!ok) {
          if (ok.error().code != Errc::broker_unavailable || clock::now() >= deadline)
            return std::unexpected(std::move(ok.error()));
          std::this_thread::sleep_for(
              std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(50), deadline - clock::now()));
          continue;
        }
        ++state_->reopened;
      }
      auto m = state_->conn.next_message(std::max(std::chrono::nanoseconds::zero(), deadline - clock::now()));
      if (!m) continue;  // closed: reopen above
      if (!*m) return std::optional<Message>();
      auto decoded = proto::decode_message(**m);
      if (!decoded) return std::unexpected(Error{Errc::protocol_error, "malformed message from the broker"});
      return Message{std::move(decoded->registry), std::move(decoded->key), std::move(decoded->body),
                     decoded->sender_pid, decoded->sender_uid, decoded->dropped};
    }
  });
}

}  // namespace shmreg
