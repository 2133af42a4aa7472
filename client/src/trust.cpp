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
  auto fd = sys::open_broker_file_for_reading(path, proto::kSystemSocketDir);
  if (!fd) {
    using Why = sys::ReadRefusal::Why;
    const sys::ReadRefusal& r = fd.error();
    if (r.why == Why::missing)
      return std::unexpected(Error{Errc::segment_not_found,
                                   std::string(shm::to_string(shm::Errc::segment_not_found)) + ": " + r.message});
    if (r.why == Why::untrusted) return std::unexpected(Error{Errc::untrusted, r.message});
    return std::unexpected(
        Error{r.error == EACCES || r.error == EPERM ? Errc::permission_denied : Errc::io_error, r.message});
  }
  struct stat st{};
  if (::fstat(fd->get(), &st) != 0) return std::unexpected(Error{Errc::io_error, "cannot stat " + path});
  return TrustedSegment{std::move(*fd), st.st_uid};
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
