// Which process the broker watches under a pid: the one question the mailbox
// table asks of the owner watches (owner_watches.hpp), as an interface so
// that Mailboxes can be tested without pidfds or a segment.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <optional>

#include "peer.hpp"

namespace shmreg::broker {

class WatchedIdentities {
 public:
  virtual ~WatchedIdentities() = default;
  // The identity of the process watched under pid; nullopt when none is.
  [[nodiscard]] virtual std::optional<ProcessIdentity> watched_identity(pid_t pid) const = 0;
};

}  // namespace shmreg::broker
