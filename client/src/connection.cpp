// libshmreg's blocking connection to the broker (see connection.hpp).
#include "connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "shmreg/sys/io.hpp"

namespace shmreg::client_detail {

Connection::~Connection() { close(); }

void Connection::close() noexcept { fd_.reset(); }

bool Connection::read_frame(proto::FrameHeader& header, std::vector<std::uint8_t>& payload) {
  std::uint8_t bytes[proto::kHeaderSize];
  if (!sys::read_full(fd_.get(), bytes, sizeof bytes)) return false;
  auto h = proto::parse_header(bytes);
  if (!h) return false;
  header = *h;
  payload.resize(h->payload_len);
  return sys::read_full(fd_.get(), payload.data(), payload.size());
}

// Readable with no request outstanding: either messages (a mailbox) or the
// broker's EOF. Messages are kept; EOF, an error or anything else means the
// connection is gone.
bool Connection::drain_unsolicited() {
  for (;;) {
    pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return true;
    if ((p.revents & POLLIN) == 0) return (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) == 0;
    proto::FrameHeader h;
    std::vector<std::uint8_t> payload;
    if (!read_frame(h, payload) || h.kind != proto::FrameKind::message) return false;
    kept_.push_back(std::move(payload));
  }
}

std::expected<void, std::string> Connection::ensure_connected() {
  if (fd_ && drain_unsolicited()) return {};
  close();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) return std::unexpected("socket path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  int last_errno = 0;
  auto delay = std::chrono::milliseconds(5);
  for (int attempt = 0; attempt < kConnectAttempts; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return std::unexpected(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      if (auto trusted = trust_.check_peer(fd.get(), path_); !trusted) return std::unexpected(trusted.error());
      fd_ = std::move(fd);
      return {};
    }
    last_errno = errno;
    if (last_errno == EACCES || last_errno == EPERM) break;  // backoff cannot fix permissions
  }
  return std::unexpected("cannot connect to the broker at " + path_ + ": " + std::strerror(last_errno));
}

std::expected<std::vector<proto::OpResult>, ConnectionError> Connection::call(const std::vector<proto::Op>& ops,
                                                                             std::span<const int> pidfds) {
  const std::uint32_t id = next_id_++;
  const std::vector<std::uint8_t> frame = proto::encode_request(id, ops);
  if (frame.size() - proto::kHeaderSize > proto::kMaxPayload)
    return std::unexpected(ConnectionError{false, "request larger than the protocol maximum"});
  // The broker reads at most this many descriptors with a frame and would
  // drop the rest: refuse rather than send a request it cannot honour.
  if (pidfds.size() > proto::kMaxFramePidfds)
    return std::unexpected(ConnectionError{false, "more pidfds than a request may carry"});
  // At most two tries, and the second only if the first was never sent.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto ok = ensure_connected(); !ok)
      return std::unexpected(ConnectionError{false, ok.error(), false, trust_.take_refusal()});
    if (!sys::send_all(fd_.get(), frame.data(), frame.size(), pidfds)) {
      close();
      continue;
    }
    proto::FrameHeader h;
    std::vector<std::uint8_t> payload;
    for (;;) {
      if (!read_frame(h, payload)) {
        close();
        return std::unexpected(ConnectionError{true, "the broker closed the connection before replying"});
      }
      if (h.kind != proto::FrameKind::message) break;
      kept_.push_back(std::move(payload));  // a mailbox's message, ahead of the reply
    }
    if (h.kind != proto::FrameKind::reply || h.request_id != id) {
      close();
      return std::unexpected(ConnectionError{true, "malformed reply from the broker", true});
    }
    auto results = proto::decode_reply(payload);
    if (!results || results->size() != ops.size()) {
      close();
      return std::unexpected(ConnectionError{true, "malformed reply from the broker", true});
    }
    return std::move(*results);
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
  // One deadline: a signal (EINTR) resumes the wait with what is left of it.
  const auto deadline = std::chrono::steady_clock::now() + std::max(timeout, std::chrono::nanoseconds::zero());
  pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
  int n = 0;
  for (;;) {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(), std::chrono::nanoseconds::zero());
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec ts{static_cast<time_t>(secs.count()), static_cast<long>((left - secs).count())};
    n = ::ppoll(&p, 1, &ts, nullptr);
    if (n >= 0 || errno != EINTR) break;
  }
  if (n < 0) {
    const int err = errno;
    close();
    return std::unexpected(ConnectionError{false, std::string("poll: ") + std::strerror(err)});
  }
  if (n == 0) return std::optional<std::vector<std::uint8_t>>();
  proto::FrameHeader h;
  std::vector<std::uint8_t> payload;
  if (!read_frame(h, payload) || h.kind != proto::FrameKind::message) {
    close();
    return std::unexpected(ConnectionError{false, "the broker closed the mailbox connection"});
  }
  return payload;
}

}  // namespace shmreg::client_detail
