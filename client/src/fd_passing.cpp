// Passing pidfds to the broker (see fd_passing.hpp).
#include "fd_passing.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "shmreg/proto/wire.hpp"

namespace shmreg::client_detail {

ssize_t send_with_fds(int socket_fd, const std::uint8_t* p, std::size_t n, std::span<const int> fds) noexcept {
  if (fds.size() > proto::kMaxFramePidfds) {
    errno = EINVAL;
    return -1;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * proto::kMaxFramePidfds)] = {};
  iovec iov{const_cast<std::uint8_t*>(p), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  return ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
}

int open_pidfd(std::uint32_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
}

std::uint32_t pid_of_pidfd(int pidfd) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char line[256];
  long long pid = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "Pid: %lld", &pid) == 1) break;
  std::fclose(f);
  return pid > 0 ? static_cast<std::uint32_t>(pid) : 0;
}

}  // namespace shmreg::client_detail
