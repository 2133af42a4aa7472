#include "shmreg/sys/io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace shmreg::sys {

namespace {

ssize_t send_with_fds(
    int socket_fd, const std::uint8_t* p, std::size_t n, std::span<const int> fds, int flags) noexcept {
  iovec iov{const_cast<std::uint8_t*>(p), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for the largest control message the kernel accepts (SCM_MAX_FD).
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(int) * 253)];
  if (fds.size() > 253) {
    errno = EINVAL;
    return -1;
  }
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(socket_fd, &msg, flags | MSG_NOSIGNAL);
}

}  // namespace

bool write_all(int fd, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    // send() keeps SIGPIPE away from sockets; anything else is not a socket.
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool send_all(int socket_fd, const void* data, std::size_t n, std::span<const int> fds) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = fds.empty() ? ::send(socket_fd, p, n, MSG_NOSIGNAL) : send_with_fds(socket_fd, p, n, fds, 0);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    fds = {};
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_full(int fd, void* data, std::size_t n) noexcept {
  auto* p = static_cast<std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) errno = 0;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

IoOutcome wait_ready(int fd, short events, IoDeadline deadline) noexcept {
  pollfd p{fd, events, 0};
  for (;;) {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(), IoDeadline::duration::zero());
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs);
    const timespec ts{static_cast<time_t>(secs.count()), static_cast<long>(nanos.count())};
    const int n = ::ppoll(&p, 1, &ts, nullptr);
    if (n > 0) return IoOutcome::done;
    if (n == 0) return IoOutcome::timed_out;
    if (errno != EINTR) return IoOutcome::failed;
  }
}

IoOutcome send_all_by(int socket_fd,
                      const void* data,
                      std::size_t n,
                      std::span<const int> fds,
                      IoDeadline deadline,
                      std::size_t* sent) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::size_t done = 0;
  IoOutcome outcome = IoOutcome::done;
  while (done < n) {
    const ssize_t w = fds.empty() ? ::send(socket_fd, p + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL)
                                  : send_with_fds(socket_fd, p + done, n - done, fds, MSG_DONTWAIT);
    if (w > 0) {
      fds = {};
      done += static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      outcome = wait_ready(socket_fd, POLLOUT, deadline);
      if (outcome == IoOutcome::done) continue;
      break;
    }
    if (w == 0) errno = EIO;
    outcome = IoOutcome::failed;
    break;
  }
  if (sent != nullptr) *sent = done;
  return done == n ? IoOutcome::done : outcome;
}

IoOutcome recv_full_by(int socket_fd, void* data, std::size_t n, IoDeadline deadline) noexcept {
  auto* p = static_cast<std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(socket_fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) return IoOutcome::closed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return IoOutcome::failed;
    if (const IoOutcome w = wait_ready(socket_fd, POLLIN, deadline); w != IoOutcome::done) return w;
  }
  return IoOutcome::done;
}

}  // namespace shmreg::sys
