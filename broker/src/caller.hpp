// Who sent an op, and whom an op acts for.
//
// Caller is everything the kernel told the broker about the process at the
// other end of a connection, plus the pidfds that came with the request
// frame; the op table (op_table.hpp) is the one place that builds it, and the
// authorization point sees it whole. Owner is the process whose entries an op
// writes: the caller itself, or a process the caller proved with a pidfd
// (target.hpp).
//
// Both borrow their descriptors: a Caller's from its session and its frame,
// an Owner's from the Caller. They live for one request.
//
// Thread-safety: plain values, single-threaded use.
#pragma once

#include <sys/types.h>

#include <span>
#include <vector>

#include "peer.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

struct Owner {
  pid_t pid = 0;
  uid_t uid = 0;
  ProcessIdentity identity;
  std::vector<gid_t> groups;  // its gid, then its supplementary groups (reservations check them)
  int pidfd = -1;  // borrowed; the broker duplicates it to keep a watch
};

struct Caller {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::span<const gid_t> groups;  // gid, then the supplementary groups; the session's Peer holds them
  int pidfd = -1;  // the peer's, owned by its session
  ProcessIdentity identity;
  std::span<const sys::UniqueFd> passed_pidfds;  // came with this frame, in order
  // The process that opened the connection had exited when this frame was
  // read. Its pid may belong to another process by now, so the connection
  // (kept by a child or passed on) must not act in its name.
  bool exited = false;

  [[nodiscard]] static Caller of(const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds) noexcept {
    return Caller{peer.pid, peer.uid, peer.gid, peer.groups, peer.pidfd.get(), peer.identity, passed_pidfds, false};
  }
  [[nodiscard]] Owner as_owner() const { return Owner{pid, uid, identity, {groups.begin(), groups.end()}, pidfd}; }
};

}  // namespace shmreg::broker
