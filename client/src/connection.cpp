// libshmreg's connection to the broker, bounded by deadlines (see connection.hpp).
#include "connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace shmreg::client_detail {

namespace {

using std::chrono::steady_clock;

constexpr std::chrono::nanoseconds kLongestBudget = std::chrono::hours(24 * 365 * 100);
constexpr std::chrono::milliseconds kFrameGrace{100};

ConnectionError timed_out(std::string message, bool maybe_applied) {
  return ConnectionError{maybe_applied, std::move(message), false, true};
}

}  // namespace

Deadline Deadline::after(std::chrono::nanoseconds budget) noexcept {
  budget = std::clamp(budget, std::chrono::nanoseconds::zero(), kLongestBudget);
  return Deadline{steady_clock::now() + budget, budget};
}

std::string Deadline::budget_text() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(budget).count();
  return std::to_string(ms) + " ms";
}

Connection::~Connection() { close(); }

void Connection::close() noexcept { fd_.reset(); }

sys::IoOutcome Connection::read_frame(proto::FrameHeader& header,
                                      std::vector<std::uint8_t>& payload,
                                      sys::IoDeadline deadline) {
  std::uint8_t bytes[proto::kHeaderSize];
  if (auto r = sys::recv_full_by(fd_.get(), bytes, sizeof bytes, deadline); r != sys::IoOutcome::done) return r;
  auto h = proto::parse_header(bytes);
  if (!h) {
    errno = EPROTO;
    return sys::IoOutcome::failed;
  }
  header = *h;
  payload.resize(h->payload_len);
  return sys::recv_full_by(fd_.get(), payload.data(), payload.size(), deadline);
}

// Readable with no request outstanding: either messages (a mailbox) or the
// broker's EOF. Messages are kept; EOF, an error or anything else means the
// connection is gone. A message the broker has begun to write is read by the
// call's deadline.
bool Connection::drain_unsolicited(const Deadline& deadline) {
  for (;;) {
    pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return true;
    if ((p.revents & POLLIN) == 0) return (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) == 0;
    proto::FrameHeader h;
    std::vector<std::uint8_t> payload;
    if (read_frame(h, payload, deadline.at) != sys::IoOutcome::done || h.kind != proto::FrameKind::message)
      return false;
    kept_.push_back(std::move(payload));
  }
}

std::expected<sys::UniqueFd, int> Connection::connect_once(const Deadline& deadline) const {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::unexpected(errno);
  for (;;) {
    // connect() waits for room in a full listen backlog for SO_SNDTIMEO, then
    // fails with EAGAIN; 0 would mean for ever, so a call out of time still
    // gets one attempt of 1 us.
    const auto left = std::max(std::chrono::duration_cast<std::chrono::microseconds>(deadline.at - steady_clock::now()),
                               std::chrono::microseconds(1));
    const timeval tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) return std::unexpected(errno);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (errno != EINTR) return std::unexpected(errno);
  }
}

std::expected<void, ConnectionError> Connection::ensure_connected(const Deadline& deadline) {
  // In a forked child the socket still names the parent as its peer, and
  // reading it would take the parent's replies: this process connects anew
  // (closing its copy leaves the parent's connection as it was).
  if (fd_ && opened_by_ != ::getpid()) close();
  if (fd_ && drain_unsolicited(deadline)) return {};
  close();
  if (path_.size() >= sizeof(sockaddr_un::sun_path))
    return std::unexpected(ConnectionError{false, "socket path too long: " + path_});
  int last_errno = 0;
  auto delay = std::chrono::milliseconds(5);
  for (int attempt = 0; attempt < kConnectAttempts; ++attempt) {
    if (attempt > 0) {
      if (deadline.passed()) break;
      std::this_thread::sleep_for(std::min<steady_clock::duration>(delay, deadline.at - steady_clock::now()));
      delay *= 2;
    }
    auto fd = connect_once(deadline);
    if (fd) {
      if (auto trusted = trust_.check_peer(fd->get(), path_); !trusted)
        return std::unexpected(ConnectionError{false, std::move(trusted.error()), false, false, true});
      fd_ = std::move(*fd);
      opened_by_ = ::getpid();
      return {};
    }
    last_errno = fd.error();
    if (last_errno == EAGAIN)
      return std::unexpected(timed_out("connecting to the broker at " + path_ +
                                           ": its listen backlog stayed full for " + deadline.budget_text() +
                                           " (the broker is stopped or overloaded)",
                                       false));
    if (last_errno == EACCES || last_errno == EPERM) break;  // backoff cannot fix permissions
  }
  return std::unexpected(
      ConnectionError{false, "cannot connect to the broker at " + path_ + ": " + std::strerror(last_errno)});
}

std::expected<std::vector<proto::OpResult>, ConnectionError> Connection::read_reply(std::uint32_t id,
                                                                                    std::size_t ops,
                                                                                    const Deadline& deadline,
                                                                                    bool& unread_by_broker) {
  proto::FrameHeader h;
  std::vector<std::uint8_t> payload;
  for (;;) {
    const sys::IoOutcome r = read_frame(h, payload, deadline.at);
    if (r == sys::IoOutcome::timed_out)
      return std::unexpected(timed_out("no reply from the broker at " + path_ + " within " + deadline.budget_text() +
                                           "; the request was sent and may still apply",
                                       true));
    if (r != sys::IoOutcome::done) {
      unread_by_broker = r == sys::IoOutcome::failed && errno == ECONNRESET;
      return std::unexpected(ConnectionError{true, "the broker closed the connection before replying"});
    }
    if (h.kind != proto::FrameKind::message) break;
    kept_.push_back(std::move(payload));  // a mailbox's message, ahead of the reply
  }
  if (h.kind != proto::FrameKind::reply || h.request_id != id)
    return std::unexpected(ConnectionError{true, "malformed reply from the broker", true});
  auto results = proto::decode_reply(payload);
  if (!results || results->size() != ops)
    return std::unexpected(ConnectionError{true, "malformed reply from the broker", true});
  return std::move(*results);
}

std::expected<std::vector<proto::OpResult>, ConnectionError> Connection::call(const std::vector<proto::Op>& ops,
                                                                              std::span<const int> pidfds,
                                                                              const Deadline& deadline) {
  const std::uint32_t id = next_id_++;
  const std::vector<std::uint8_t> frame = proto::encode_request(id, ops);
  if (frame.size() - proto::kHeaderSize > proto::kMaxPayload)
    return std::unexpected(ConnectionError{false, "request larger than the protocol maximum"});
  // The broker reads at most this many descriptors with a frame and would
  // drop the rest: refuse rather than send a request it cannot honour.
  if (pidfds.size() > proto::kMaxFramePidfds)
    return std::unexpected(ConnectionError{false, "more pidfds than a request may carry"});
  // At most two tries, and the second only if the first never reached a broker.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto ok = ensure_connected(deadline); !ok) return std::unexpected(std::move(ok.error()));
    const sys::IoOutcome sent = sys::send_all_by(fd_.get(), frame.data(), frame.size(), pidfds, deadline.at);
    if (sent == sys::IoOutcome::timed_out) {
      // Part of a frame and then the end of the connection: the broker drops it.
      close();
      return std::unexpected(timed_out(
          "sending to the broker at " + path_ + ": its socket took no more for " + deadline.budget_text(), false));
    }
    if (sent != sys::IoOutcome::done) {
      close();
      continue;
    }
    bool unread_by_broker = false;
    auto reply = read_reply(id, ops.size(), deadline, unread_by_broker);
    if (reply) return reply;
    close();
    if (unread_by_broker) continue;
    return reply;
  }
  return std::unexpected(ConnectionError{false, "cannot send to the broker at " + path_});
}

std::expected<std::optional<std::vector<std::uint8_t>>, ConnectionError> Connection::next_message(
    std::chrono::nanoseconds timeout) {
  if (!kept_.empty()) {
    std::vector<std::uint8_t> m = std::move(kept_.front());
    kept_.pop_front();
    return m;
  }
  if (!fd_) return std::unexpected(ConnectionError{false, "not connected to the broker"});
  const Deadline deadline = Deadline::after(timeout);
  const sys::IoOutcome ready = sys::wait_ready(fd_.get(), POLLIN | POLLRDHUP, deadline.at);
  if (ready == sys::IoOutcome::timed_out) return std::optional<std::vector<std::uint8_t>>();
  if (ready == sys::IoOutcome::failed) {
    const int err = errno;
    close();
    return std::unexpected(ConnectionError{false, std::string("poll: ") + std::strerror(err)});
  }
  // A frame that began to arrive at the very end of the wait gets a short
  // grace to arrive whole; past it the connection is dropped and reopened.
  proto::FrameHeader h;
  std::vector<std::uint8_t> payload;
  const auto by = std::max(deadline.at, steady_clock::now() + kFrameGrace);
  if (read_frame(h, payload, by) != sys::IoOutcome::done || h.kind != proto::FrameKind::message) {
    close();
    return std::unexpected(ConnectionError{false, "the broker closed the mailbox connection"});
  }
  return payload;
}

}  // namespace shmreg::client_detail
