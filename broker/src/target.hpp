// Acting for another process: who is behind a pidfd that a client passed, and
// whether that client may act for it (invariant 2's second half).
//
// A pid alone proves nothing: it may have been recycled by the time the
// broker looks. A pidfd pins one process, so a client names the process it
// acts for by passing a pidfd with SCM_RIGHTS (fd_receive.hpp). target_of()
// then checks, in this order:
//   - the descriptor is a pidfd (pidfs, or the anon inode "[pidfd]" before 6.9);
//   - the process behind it is visible in the broker's pid namespace (the
//     "Pid:" line of /proc/self/fdinfo/<fd>; -1 once it has been reaped);
//   - it is a process and not a thread (Tgid == Pid in /proc/<pid>/status);
//   - policy: root may act for any process; any other caller only for a
//     process whose real, effective and saved uids all equal the caller's uid.
//     This is ptrace(2)'s rule: a set-uid program the caller started, which
//     can regain its other uid, is not the caller's to speak for;
//   - its effective gid and supplementary groups (the Gid: and Groups: lines),
//     which reservations are checked against when it is an entry's owner;
//   - its identity (peer.hpp), which fails if the process has exited.
// The process is checked alive after the /proc reads, so they were of that
// process and not of a successor that reused the pid.
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>
#include <vector>

#include "peer.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::broker {

struct TargetProcess {
  pid_t pid = 0;
  uid_t uid = 0;  // effective uid, recorded as the owner's uid
  std::vector<gid_t> groups;  // effective gid, then the supplementary groups
  ProcessIdentity identity;
};

struct TargetError {
  proto::Status status = proto::Status::invalid_argument;  // or permission_denied
  std::string message;
};

// The process behind pidfd, if caller_uid may act for it.
[[nodiscard]] std::expected<TargetProcess, TargetError> target_of(int pidfd, uid_t caller_uid);

}  // namespace shmreg::broker
