// Who is on the other end of a socket, and is a given process still the one
// we recorded: the kernel-facing half of invariants 2 and 3.
//
// Identity. A process is (pid, identity). Where the kernel has pidfs (6.9+),
// identity is the inode of the process's pidfd, unique for the boot; else it
// is the start time from /proc/<pid>/stat (clock ticks since boot), which a
// recycled pid cannot share with its predecessor unless both start in the
// same tick. Both are probed at run time, per call.
//
// Peers. peer_of() takes uid and pid from SO_PEERCRED and a pidfd from
// SO_PEERPIDFD (kernel 6.5+). Without SO_PEERPIDFD it falls back to
// pidfd_open(pid) and then re-checks that the process is alive and that the
// connection is still open, which closes all but a tiny window of pid reuse.
// Whether the kernel has SO_PEERPIDFD is probed once, at the broker's start
// (probe_peer_pidfd), when descriptors are free: where it has it and it names
// no process, the peer has exited, and is refused rather than looked up by
// pid; while the answer is unknown (the probe failed) a peer is refused too.
// Its groups come from SO_PEERGROUPS (Linux 4.13+): the supplementary groups
// the peer had when it connected, as the kernel recorded them, which is what
// access lists of "@group" entries are checked against.
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

struct ProcessIdentity {
  std::uint32_t kind = 0;  // shm::kIdentityPidfsInode or shm::kIdentityStartTime
  std::uint64_t value = 0;
};

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // primary gid first, then the supplementary groups
  sys::UniqueFd pidfd;
  ProcessIdentity identity;
  bool from_peerpidfd = false;  // false: the pidfd_open fallback was used
};

// Whether this kernel has SO_PEERPIDFD, asked of a socket pair of this
// process (two descriptors); the answer is kept once certain. A reason when
// the probe itself failed (out of descriptors): asked again at the next call.
[[nodiscard]] std::expected<bool, std::string> probe_peer_pidfd();

// Credentials of the peer of a connected Unix socket. Fails (with a reason
// for the log) if the peer has already exited.
[[nodiscard]] std::expected<Peer, std::string> peer_of(int socket_fd);

// The identity of the live process behind pidfd, of the given kind (0: the
// best this kernel offers). Fails if the process has exited.
[[nodiscard]] std::expected<ProcessIdentity, std::string> identity_of(int pidfd, pid_t pid, std::uint32_t kind = 0);

}  // namespace shmreg::broker
