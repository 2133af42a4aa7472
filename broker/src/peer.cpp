// Peer credentials and process identity (see peer.hpp).
#include "peer.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "shmreg/shm/layout.hpp"
#include "shmreg/sys/pidfd.hpp"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; Debian 12's headers predate it
#endif

namespace shmreg::broker {

namespace {

// A connection accepted with the last free descriptor fails here, on the
// peer's pidfd: said as plainly as the refusal at accept (broker.cpp).
std::string errno_text(const char* what) {
  const int e = errno;
  std::string text = std::string(what) + ": " + std::strerror(e);
  rlimit lim{};
  if ((e == EMFILE || e == ENFILE) && ::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    text += " (the broker is out of file descriptors; RLIMIT_NOFILE " + std::to_string(lim.rlim_cur) + ")";
  return text;
}

// The peer's supplementary groups at connect time. The kernel reports ERANGE
// with the length it needs when the buffer is short.
std::expected<std::vector<gid_t>, std::string> peer_groups(int socket_fd) {
  std::vector<gid_t> groups(32);
  for (;;) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE || len / sizeof(gid_t) <= groups.size()) return std::unexpected(errno_text("SO_PEERGROUPS"));
    groups.resize(len / sizeof(gid_t));
  }
}

// Field 22 of /proc/<pid>/stat; fields are counted after the last ')' since
// the command name (field 2) may itself hold spaces and parentheses.
std::expected<std::uint64_t, std::string> start_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::unexpected(std::string("process has exited"));
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::unexpected(std::string("unreadable /proc stat"));
  std::istringstream fields(line.substr(close + 1));
  std::string f;
  for (int i = 3; i <= 22; ++i)
    if (!(fields >> f)) return std::unexpected(std::string("short /proc stat"));
  try {
    return std::stoull(f);
  } catch (...) {
    return std::unexpected(std::string("bad start time in /proc stat"));
  }
}

}  // namespace

// Asked of a socket pair whose peer (this process) is alive, so that a
// failure on a real connection means the peer is gone, not that the option
// is missing.
std::expected<bool, std::string> probe_peer_pidfd() {
  static int known = -1;  // -1: not yet certain; the broker is single-threaded
  if (known >= 0) return known == 1;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return std::unexpected(errno_text("socketpair to probe SO_PEERPIDFD"));
  const sys::UniqueFd a(pair[0]), b(pair[1]);
  int fd = -1;
  socklen_t len = sizeof fd;
  if (::getsockopt(a.get(), SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0) {
    const sys::UniqueFd probe(fd);
    known = 1;
  } else if (errno == ENOPROTOOPT || errno == EOPNOTSUPP || errno == EINVAL) {
    known = 0;
  } else {
    return std::unexpected(errno_text("SO_PEERPIDFD probe"));
  }
  return known == 1;
}

std::expected<ProcessIdentity, std::string> identity_of(int pidfd, pid_t pid, std::uint32_t kind) {
  if (kind == 0) kind = sys::on_pidfs(pidfd) ? shm::kIdentityPidfsInode : shm::kIdentityStartTime;
  ProcessIdentity id{kind, 0};
  if (kind == shm::kIdentityPidfsInode) {
    struct stat st{};
    if (!sys::on_pidfs(pidfd) || ::fstat(pidfd, &st) != 0)
      return std::unexpected(std::string("pidfs identity unavailable on this kernel"));
    id.value = st.st_ino;
  } else if (kind == shm::kIdentityStartTime) {
    auto t = start_time_of(pid);
    if (!t) return std::unexpected(t.error());
    id.value = *t;
  } else {
    return std::unexpected(std::string("unknown identity kind"));
  }
  // The pidfd pins the process we mean; if it is still alive now, the /proc
  // read above was of that process and not of a successor with the same pid.
  if (sys::pidfd_exited(pidfd)) return std::unexpected(std::string("process has exited"));
  return id;
}

namespace {

// The peer's pidfd: from SO_PEERPIDFD where the kernel has it, else by pid
// with the recycled-pid check; from_peerpidfd says which.
std::expected<sys::UniqueFd, std::string> peer_pidfd(int socket_fd, pid_t pid, bool& from_peerpidfd) {
  int fd = -1;
  socklen_t len = sizeof fd;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0) {
    from_peerpidfd = true;
    return sys::UniqueFd(fd);
  }
  const int err = errno;
  auto supported = probe_peer_pidfd();
  // Looked up by pid, a peer that has exited could be taken for the process
  // that now has its pid.
  if (!supported)
    return std::unexpected("cannot tell whether this kernel has SO_PEERPIDFD (" + supported.error() +
                           "); refusing the peer rather than looking it up by pid");
  if (*supported) {
    // The kernel knows the option but has no process to name: kernels 6.5 to
    // 6.15 answer EINVAL for a peer already reaped. Its pid may be someone
    // else's by now, so it is never looked up by number.
    errno = err;
    return std::unexpected(err == ESRCH || err == EINVAL ? std::string("peer has exited")
                                                         : errno_text("SO_PEERPIDFD"));
  }
  sys::UniqueFd by_pid = sys::open_pidfd(pid);
  if (!by_pid) return std::unexpected(errno == ESRCH ? std::string("peer has exited") : errno_text("pidfd_open"));
  // The pid might have been recycled between connect and pidfd_open. The
  // original peer's socket end closes when it dies, so an open connection
  // means the original is (or a child that inherited its socket is) alive.
  pollfd p{socket_fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
    return std::unexpected(std::string("peer closed the connection before it could be identified"));
  return by_pid;
}

}  // namespace

std::expected<Peer, std::string> peer_of(int socket_fd) {
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::unexpected(errno_text("SO_PEERCRED"));
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  if (peer.pid <= 0) return std::unexpected(std::string("peer has no pid in this pid namespace"));
  auto groups = peer_groups(socket_fd);
  if (!groups) return std::unexpected(groups.error());
  peer.groups.push_back(peer.gid);
  for (gid_t g : *groups)
    if (g != peer.gid) peer.groups.push_back(g);

  auto pidfd = peer_pidfd(socket_fd, peer.pid, peer.from_peerpidfd);
  if (!pidfd) return std::unexpected(pidfd.error());
  peer.pidfd = std::move(*pidfd);
  if (sys::pidfd_exited(peer.pidfd.get())) return std::unexpected(std::string("peer has exited"));
  auto id = identity_of(peer.pidfd.get(), peer.pid);
  if (!id) return std::unexpected(id.error());
  peer.identity = *id;
  return peer;
}

}  // namespace shmreg::broker
