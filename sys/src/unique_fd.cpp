#include "shmreg/sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace shmreg::sys {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) noexcept {
  // close(2) releases the descriptor even when it reports EINTR on Linux:
  // retrying could close a descriptor another thread just opened.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Pipe Pipe::make() noexcept {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace shmreg::sys
