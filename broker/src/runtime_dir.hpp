// The namespace's runtime directory D (proto/paths.hpp), opened once and
// checked: the broker reaches its lock, segment and socket only through this
// descriptor (openat, unlinkat), so no path component below D can be swapped
// under it.
//
// D must be a directory owned by the broker's euid or root with no group or
// other write bit: then no other user can create, replace or link anything in
// it. open() creates D (mode 0755) when it is missing, and never changes one
// that exists.
//
// Thread-safety: a move-only owner of the directory descriptor.
#pragma once

#include <expected>
#include <string>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

class RuntimeDir {
 public:
  // D opened and checked, or a message naming D, its owner uid and mode.
  [[nodiscard]] static std::expected<RuntimeDir, std::string> open(const std::string& path);

  int fd() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }
  // path/name, for messages.
  std::string path_of(const std::string& name) const { return path_ + "/" + name; }
  // The file system D is on, for a refusal to create the segment: its type
  // and its free and total bytes ("tmpfs, 1048576 of 1048576 bytes free").
  std::string space_text() const;

 private:
  RuntimeDir(sys::UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  sys::UniqueFd fd_;
  std::string path_;
};

}  // namespace shmreg::broker
