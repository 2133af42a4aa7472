#include "shmreg/sys/pidfd.hpp"

#include <poll.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shmreg::sys {

UniqueFd open_pidfd(pid_t pid) noexcept { return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

bool pidfd_exited(int pidfd) noexcept {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;  // readable, or an error: the process is gone
}

namespace {
constexpr long kPidfsMagic = 0x50494446;  // PID_FS_MAGIC
}  // namespace

bool on_pidfs(int fd) noexcept {
  struct statfs sfs{};
  return ::fstatfs(fd, &sfs) == 0 && sfs.f_type == kPidfsMagic;
}

bool is_pidfd(int fd) noexcept {
  if (on_pidfs(fd)) return true;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[64] = {};
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  return n > 0 && std::strcmp(target, "anon_inode:[pidfd]") == 0;
}

std::optional<long> pidfd_pid_field(int pidfd) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  std::optional<long> pid;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "Pid:", 4) == 0) {
      char* end = nullptr;
      const long v = std::strtol(line + 4, &end, 10);
      if (end != line + 4) pid = v;
      break;
    }
  }
  std::fclose(f);
  return pid;
}

std::uint32_t pid_of_pidfd(int pidfd) noexcept {
  const auto pid = pidfd_pid_field(pidfd);
  return pid && *pid > 0 ? static_cast<std::uint32_t>(*pid) : 0;
}

}  // namespace shmreg::sys
