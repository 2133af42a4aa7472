// The file checks (see file_check.hpp).
#include "shmreg/sys/file_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace shmreg::sys {

namespace {

std::string uid_list(std::span<const uid_t> uids) {
  std::string s;
  for (uid_t u : uids) s += (s.empty() ? "" : " or ") + std::to_string(u);
  return s;
}

std::string describe(std::string_view path, const struct stat& st) {
  return std::string(path) + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
         octal_mode(st.st_mode & 07777) + ")";
}

}  // namespace

std::string octal_mode(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode));
  return buf;
}

std::expected<void, std::string> check_file(int fd, std::string_view path, const FileRule& rule) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return std::unexpected("cannot stat " + std::string(path) + ": " + std::strerror(errno));
  const bool dir = rule.kind == FileKind::directory;
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return std::unexpected("refused " + describe(path, st) + ": not a " + (dir ? "directory" : "regular file"));
  if (std::ranges::find(rule.owners, st.st_uid) == rule.owners.end())
    return std::unexpected("refused " + describe(path, st) + ": its owner must be uid " + uid_list(rule.owners));
  if ((st.st_mode & rule.forbidden_bits) != 0)
    return std::unexpected("refused " + describe(path, st) + ": it must not have mode bits " +
                           octal_mode(rule.forbidden_bits & st.st_mode) +
                           ((rule.forbidden_bits & 077) == 077 ? " (no access for group or other)"
                                                              : " (no write for group or other)"));
  if (!dir && rule.single_link && st.st_nlink != 1)
    return std::unexpected("refused " + describe(path, st) + ": it has " + std::to_string(st.st_nlink) +
                           " hard links, one is allowed");
  return {};
}

std::expected<UniqueFd, std::string> open_checked(int dir_fd, std::string_view name, std::string_view path,
                                                  int flags, const FileRule& rule) {
  UniqueFd fd(::openat(dir_fd, std::string(name).c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    const int e = errno;
    std::string msg = "cannot open " + std::string(path) + ": " + std::strerror(e);
    if (e == ELOOP) msg += " (a symbolic link is refused)";
    return std::unexpected(std::move(msg));
  }
  if (auto ok = check_file(fd.get(), path, rule); !ok) return std::unexpected(std::move(ok.error()));
  return fd;
}

std::expected<UniqueFd, ReadRefusal> open_broker_file_for_reading(const std::string& path,
                                                                  std::string_view system_dir) {
  const std::vector<uid_t> trusted = trusted_broker_uids(system_dir);
  const FileRule rule{.kind = FileKind::regular, .owners = trusted, .forbidden_bits = 022, .single_link = false};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    const int e = errno;
    if (e == ENOENT) return std::unexpected(ReadRefusal{ReadRefusal::Why::missing, "no " + path, e});
    if (e == ELOOP)
      return std::unexpected(ReadRefusal{ReadRefusal::Why::untrusted, "refused " + path + ": a symbolic link", e});
    return std::unexpected(
        ReadRefusal{ReadRefusal::Why::failed, "cannot open " + path + ": " + std::strerror(e), e});
  }
  if (auto ok = check_file(fd.get(), path, rule); !ok)
    return std::unexpected(ReadRefusal{ReadRefusal::Why::untrusted, std::move(ok.error()), 0});
  return fd;
}

std::vector<uid_t> trusted_broker_uids(std::string_view system_dir) {
  std::vector<uid_t> uids{0};
  auto add = [&](uid_t u) {
    if (std::ranges::find(uids, u) == uids.end()) uids.push_back(u);
  };
  add(::geteuid());
  struct stat st{};
  if (::stat(std::string(system_dir).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) add(st.st_uid);
  return uids;
}

}  // namespace shmreg::sys
