// Who may have made a file: the one check behind every path shmreg trusts.
//
// The broker checks its runtime directory, lock file and segment, and a client
// or the CLI checks the segment it maps, always on an open descriptor (fstat),
// never on a path that could be swapped between the check and the use. A
// refusal is a message naming the path, its owner uid, its mode (octal) and
// the rule it broke, ready for a log line or an error.
//
// Thread-safety: pure functions of their arguments and the file system.
#pragma once

#include <sys/types.h>

#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::sys {

enum class FileKind { directory, regular };

struct FileRule {
  FileKind kind = FileKind::regular;
  std::span<const uid_t> owners;  // the uids allowed to own it
  mode_t forbidden_bits = 022;    // mode bits it must not have (022: no group or other write)
  bool single_link = true;        // regular files: exactly one hard link
};

// fstat(fd) against rule; the message names path.
[[nodiscard]] std::expected<void, std::string> check_file(int fd, std::string_view path, const FileRule& rule);

// openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC) then check_file. With
// dir_fd AT_FDCWD, name is a path. A failed open names the path and errno.
[[nodiscard]] std::expected<UniqueFd, std::string> open_checked(int dir_fd, std::string_view name,
                                                                std::string_view path, int flags,
                                                                const FileRule& rule);

// Why a reader could not open a file it must trust.
struct ReadRefusal {
  enum class Why { missing, untrusted, failed } why = Why::failed;
  std::string message;  // names the path (and, when untrusted, its owner uid and mode)
  int error = 0;        // errno of a failed open
};

// Opens a file a broker wrote (a segment) for reading: O_RDONLY | O_NOFOLLOW
// | O_NONBLOCK (a symbolic link is refused and a FIFO cannot block the open),
// then a regular file owned by one of trusted_broker_uids(system_dir), not
// group- or other-writable. A symbolic link or a failed check is
// `untrusted`; ENOENT `missing`.
[[nodiscard]] std::expected<UniqueFd, ReadRefusal> open_broker_file_for_reading(const std::string& path,
                                                                                std::string_view system_dir);

// The uids a client trusts to run a broker: root, the caller's effective uid,
// and the owner of system_dir when it is a directory (the service user that
// tmpfiles.d made it for). No duplicates.
[[nodiscard]] std::vector<uid_t> trusted_broker_uids(std::string_view system_dir);

// "0644": a mode as the messages print it.
[[nodiscard]] std::string octal_mode(mode_t mode);

}  // namespace shmreg::sys
