// Exactly one broker serves a namespace: an exclusive flock(2) on the
// namespace's lock file (sys::namespace_lock_path), held for the broker's
// whole life. The file keeps the holder's pid, so that a second broker can
// say whom it lost to.
//
// Thread-safety: a NamespaceLock is a move-only owner of the locked file.
#pragma once

#include <expected>
#include <string>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

class NamespaceLock {
 public:
  // The lock, or a message for the log (another broker holds it, or the file
  // cannot be opened).
  [[nodiscard]] static std::expected<NamespaceLock, std::string> acquire(const std::string& ns);

 private:
  explicit NamespaceLock(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  sys::UniqueFd fd_;
};

}  // namespace shmreg::broker
