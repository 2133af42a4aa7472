// The namespace lock (see namespace_lock.hpp).
#include "namespace_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shmreg/sys/file_check.hpp"

namespace shmreg::broker {

namespace {

// The pid a holder wrote into the file, for the message.
std::string holder_of(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
  return holder;
}

}  // namespace

std::expected<NamespaceLock, std::string> NamespaceLock::acquire(int dir_fd, const std::string& dir_path,
                                                                const std::string& name, const std::string& ns) {
  const std::string path = dir_path + "/" + name;
  const uid_t euid = ::geteuid();
  const sys::FileRule rule{.kind = sys::FileKind::regular,
                           .owners = std::span<const uid_t>(&euid, 1),
                           .forbidden_bits = 077,
                           .single_link = true};
  auto fd = sys::open_checked(dir_fd, name, path, O_RDWR | O_CREAT, rule);
  if (!fd) return std::unexpected("lock file: " + fd.error());
  if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0)
    return std::unexpected("namespace '" + ns + "' is already served by another broker (pid " + holder_of(fd->get()) +
                           ")");
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd->get(), 0) != 0 || ::pwrite(fd->get(), pid.data(), pid.size(), 0) < 0) {
    // The lock holds regardless; only the message of a second broker suffers.
  }
  return NamespaceLock(std::move(*fd));
}

}  // namespace shmreg::broker
