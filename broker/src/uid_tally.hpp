// What the broker counts per user across all its connections: open
// connections (against --max-connections-per-uid) and the message bytes each
// user's sends have queued in mailboxes, not yet written (against
// --mailbox-bytes-per-uid). Per uid, so that one user reaching a limit never
// makes another user's connections or sends fail.
//
// Sessions add and remove their share; the Broker owns the tally and keeps
// it alive longer than every session (sessions die with the io_context).
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <unordered_map>

namespace shmreg::broker {

struct UidTally {
  std::unordered_map<uid_t, std::size_t> connections;
  std::unordered_map<uid_t, std::size_t> message_bytes;  // by the sender's uid

  // Subtracts n from counts[uid], forgetting a uid that reaches 0, so that
  // the maps hold only users that hold something.
  static void release(std::unordered_map<uid_t, std::size_t>& counts, uid_t uid, std::size_t n) noexcept {
    const auto it = counts.find(uid);
    if (it == counts.end()) return;
    if (it->second <= n)
      counts.erase(it);
    else
      it->second -= n;
  }
};

}  // namespace shmreg::broker
