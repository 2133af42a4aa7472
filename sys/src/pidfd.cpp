#include "shmreg/sys/pidfd.hpp"

#include <poll.h>
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

std::uint32_t pid_of_pidfd(int pidfd) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char line[256];
  long pid = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "Pid:", 4) == 0) {
      pid = std::strtol(line + 4, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return pid > 0 ? static_cast<std::uint32_t>(pid) : 0;
}

}  // namespace shmreg::sys
