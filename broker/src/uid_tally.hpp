// What the broker counts per user across all its connections: open
// connections (against --max-connections-per-uid) and the message bytes each
// user's sends have queued in mailboxes, not yet written (against
// --mailbox-bytes-per-uid), and of those the bytes held by the mailboxes of
// each other user (against --mailbox-bytes-per-receiver-uid). Per uid, so
// that one user reaching a limit never makes another user's connections or
// sends fail; per (sender, receiver) pair, so that a user whose mailboxes are
// never read can hold only a share of another user's budget.
//
// Sessions add and remove their share; the Broker owns the tally and keeps
// it alive longer than every session (sessions die with the io_context).
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace shmreg::broker {

struct UidTally {
  std::unordered_map<uid_t, std::size_t> connections;
  std::unordered_map<uid_t, std::size_t> message_bytes;  // by the sender's uid
  // By pair_key(sender uid, receiving mailbox's uid), for different uids only.
  std::unordered_map<std::uint64_t, std::size_t> message_bytes_held;

  static std::uint64_t pair_key(uid_t sender, uid_t receiver) noexcept {
    return (std::uint64_t{sender} << 32) | receiver;
  }

  // Subtracts n from counts[key], forgetting a key that reaches 0, so that
  // the maps hold only users that hold something.
  template <typename Key>
  static void release(std::unordered_map<Key, std::size_t>& counts, Key key, std::size_t n) noexcept {
    const auto it = counts.find(key);
    if (it == counts.end()) return;
    if (it->second <= n)
      counts.erase(it);
    else
      it->second -= n;
  }
};

}  // namespace shmreg::broker
