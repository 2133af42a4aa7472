// Exactly one broker serves a namespace: an exclusive flock(2) on the
// namespace's lock file (<ns>.lock in the runtime directory), held for the
// broker's whole life. The file keeps the holder's pid, so that a second
// broker can say whom it lost to.
//
// The file is opened without following a symlink and checked before it is
// locked or written: a regular file of the broker's euid, mode 0600 (no one
// else can open it, so no one else can hold a flock on it and lock a broker
// out), one link. A file that fails is refused untouched.
//
// Thread-safety: a NamespaceLock is a move-only owner of the locked file.
#pragma once

#include <expected>
#include <string>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

class NamespaceLock {
 public:
  // The lock on name in dir (dir_path names it in messages), or a message for
  // the log (another broker holds it, the file cannot be opened, or it fails
  // the check).
  [[nodiscard]] static std::expected<NamespaceLock, std::string> acquire(int dir_fd, const std::string& dir_path,
                                                                         const std::string& name,
                                                                         const std::string& ns);

 private:
  explicit NamespaceLock(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  sys::UniqueFd fd_;
};

}  // namespace shmreg::broker
