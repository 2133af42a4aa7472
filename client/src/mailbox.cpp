// libshmreg: send by name (Client::send) and the receiving side (Mailbox);
// see shmreg/mailbox.hpp and docs/send-by-name.md.
#include "shmreg/mailbox.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "client_access.hpp"
#include "connection.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg {

static_assert(kMaxMessageSize == proto::kMaxMessageBody);

namespace {

Error out_of_memory() { return Error{Errc::io_error, "out of memory"}; }

void sleep_for(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  timespec ts{static_cast<time_t>(secs.count()), static_cast<long>((d - secs).count())};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

Result<SendReport> Client::send(std::string_view registry, std::string_view key,
                                std::string_view message) const noexcept {
  try {
    if (message.size() > kMaxMessageSize)
      return std::unexpected(Error{Errc::message_too_large, "message of " + std::to_string(message.size()) +
                                                                " bytes; the maximum is " +
                                                                std::to_string(kMaxMessageSize)});
    std::vector<proto::Op> ops;
    ops.emplace_back(proto::SendMessage{std::string(registry), std::string(key), std::string(message)});
    auto r = client_detail::exchange(impl_.get(), ops);
    if (!r) return std::unexpected(std::move(r.error()));
    const proto::OpResult& res = r->front();
    if (res.status != proto::Status::ok) return std::unexpected(client_detail::error_from_reply(res));
    auto report = proto::decode_send_report(res.data);
    if (!report) return std::unexpected(Error{Errc::protocol_error, "malformed send report from the broker"});
    return SendReport{std::move(report->delivered_to), report->no_mailbox, report->mailbox_full};
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

struct Mailbox::Impl {
  explicit Impl(const std::string& socket) : conn(socket) {}
  client_detail::Connection conn;
  std::uint64_t reopened = 0;

  // open_mailbox on conn, connecting first if needed.
  Result<void> open_on_connection() {
    std::vector<proto::Op> ops;
    ops.emplace_back(proto::OpenMailbox{});
    auto r = conn.call(ops);
    if (!r) {
      Error e{Errc::broker_unavailable, r.error().message};
      return std::unexpected(std::move(e));
    }
    if (r->front().status != proto::Status::ok) {
      // Not a mailbox: drop the connection, so that the next receive tries again.
      conn.close();
      return std::unexpected(client_detail::error_from_reply(r->front()));
    }
    return {};
  }
};

Mailbox::Mailbox(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Mailbox::Mailbox(Mailbox&&) noexcept = default;
Mailbox& Mailbox::operator=(Mailbox&&) noexcept = default;
Mailbox::~Mailbox() = default;

Result<Mailbox> Mailbox::open(const Client& client) noexcept {
  try {
    auto impl = std::make_unique<Impl>(client.socket_path());
    if (auto ok = impl->open_on_connection(); !ok) return std::unexpected(std::move(ok.error()));
    return Mailbox(std::move(impl));
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

int Mailbox::fd() const noexcept { return impl_ ? impl_->conn.fd() : -1; }
std::uint64_t Mailbox::reopened() const noexcept { return impl_ ? impl_->reopened : 0; }

Result<std::optional<Message>> Mailbox::receive(std::chrono::nanoseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  if (!impl_) return std::unexpected(Error{Errc::invalid_argument, "receive on a moved-from mailbox"});
  try {
    // Clamped, so that a huge timeout cannot overflow the deadline.
    const auto deadline =
        clock::now() + std::clamp<std::chrono::nanoseconds>(timeout, std::chrono::nanoseconds::zero(),
                                                            std::chrono::hours(24 * 365 * 100));
    int reopens = 0;  // in this call
    for (;;) {
      if (!impl_->conn.connected() && impl_->conn.kept_messages() == 0) {
        // The broker went away: reopen on a new connection, until the
        // deadline (one attempt even when it has passed).
        if (reopens++ > 0 && clock::now() >= deadline)
          return std::unexpected(Error{Errc::broker_unavailable, "lost the broker; the mailbox reopens on the next receive"});
        auto ok = impl_->open_on_connection();
        if (!ok) {
          if (ok.error().code != Errc::broker_unavailable || clock::now() >= deadline)
            return std::unexpected(std::move(ok.error()));
          sleep_for(std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(50), deadline - clock::now()));
          continue;
        }
        ++impl_->reopened;
      }
      auto m = impl_->conn.next_message(std::max(std::chrono::nanoseconds::zero(), deadline - clock::now()));
      if (!m) continue;  // closed: reopen above
      if (!*m) return std::optional<Message>();
      auto decoded = proto::decode_message(**m);
      if (!decoded) return std::unexpected(Error{Errc::protocol_error, "malformed message from the broker"});
      return Message{std::move(decoded->registry), std::move(decoded->key), std::move(decoded->body),
                     decoded->sender_pid, decoded->sender_uid, decoded->dropped};
    }
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

}  // namespace shmreg
