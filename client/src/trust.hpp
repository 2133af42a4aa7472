// Whom libshmreg trusts to run a namespace's broker, and the two checks that
// hold every broker to it: the segment a client maps, and the peer of the
// socket it connects to.
//
// Trusted broker uids: root, the caller's own euid (a user broker), and the
// owner of /run/shmreg when that is a directory (the service user tmpfiles.d
// made it for). The segment must be a regular file (opened O_NOFOLLOW) owned
// by one of them and not writable by group or other, since its owner decides
// every answer a lookup gets. The socket's peer (SO_PEERCRED) must be a
// trusted uid and the segment's owner: a process that merely managed to bind
// the socket path is not the broker that writes the segment.
//
// Thread-safety: open_trusted_segment is a free function; a PeerTrust belongs
// to one Connection and is used under its lock.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>
#include <vector>

#include "shmreg/error.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::client_detail {

struct TrustedSegment {
  sys::UniqueFd fd;  // O_RDONLY, checked
  uid_t owner = 0;
};

// The segment at path, opened and checked; else segment_not_found,
// permission_denied or untrusted, with a message naming path, uid and mode.
Result<TrustedSegment> open_trusted_segment(const std::string& path);

class PeerTrust {
 public:
  explicit PeerTrust(uid_t segment_owner);

  // SO_PEERCRED of a connected socket against the rule; the message names
  // the socket, the peer's uid and the uid expected.
  [[nodiscard]] std::expected<void, std::string> check_peer(int fd, const std::string& socket_path) const;

 private:
  uid_t segment_owner_;
  std::vector<uid_t> trusted_;
};

}  // namespace shmreg::client_detail
