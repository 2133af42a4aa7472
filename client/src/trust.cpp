// The client's trust checks (see trust.hpp).
#include "trust.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/errc.hpp"
#include "shmreg/sys/file_check.hpp"

namespace shmreg::client_detail {

Result<TrustedSegment> open_trusted_segment(const std::string& path) {
  const std::vector<uid_t> trusted = sys::trusted_broker_uids(proto::kSystemSocketDir);
  const sys::FileRule rule{.kind = sys::FileKind::regular, .owners = trusted, .forbidden_bits = 022,
                           .single_link = false};
  // O_NONBLOCK: a FIFO planted at the path must not block the open before
  // the check refuses it.
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    const int e = errno;
    if (e == ENOENT)
      return std::unexpected(Error{Errc::segment_not_found, std::string(shm::to_string(shm::Errc::segment_not_found)) +
                                                                ": no " + path});
    if (e == ELOOP)
      return std::unexpected(Error{Errc::untrusted, "refused " + path + ": a symbolic link, not the segment"});
    return std::unexpected(Error{e == EACCES || e == EPERM ? Errc::permission_denied : Errc::io_error,
                                 "cannot open " + path + ": " + std::strerror(e)});
  }
  if (auto ok = sys::check_file(fd.get(), path, rule); !ok) return std::unexpected(Error{Errc::untrusted, ok.error()});
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(Error{Errc::io_error, "cannot stat " + path});
  return TrustedSegment{std::move(fd), st.st_uid};
}

PeerTrust::PeerTrust(uid_t segment_owner)
    : segment_owner_(segment_owner), trusted_(sys::trusted_broker_uids(proto::kSystemSocketDir)) {}

std::expected<void, std::string> PeerTrust::check_peer(int fd, const std::string& socket_path) const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return std::unexpected("cannot read the peer credentials of " + socket_path);
  if (std::ranges::find(trusted_, cred.uid) == trusted_.end() || cred.uid != segment_owner_)
    return std::unexpected("refused the broker at " + socket_path + ": its uid " + std::to_string(cred.uid) +
                           " is not the segment owner's uid " + std::to_string(segment_owner_) +
                           " (trusted broker uids are root, this process's euid and the owner of " +
                           std::string(proto::kSystemSocketDir) + ")");
  return {};
}

}  // namespace shmreg::client_detail
