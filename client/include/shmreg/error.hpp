// libshmreg's error contract: what a call can report, and the Result it
// returns.
//
// Nothing in libshmreg throws. Every call returns shmreg::Result<T>, a
// std::expected holding either the answer or an Error. Errc lists the outcomes
// a caller must handle, each one as itself: a limit the broker refused, a full
// table, a segment the reader could not trust, a broker it could not reach. The
// numeric values are stable: new codes are appended, never renumbered.
//
// Usage:
//   auto v = client->register_key("services", "db", "10.0.0.5:5432");
//   if (!v && v.error().code == shmreg::Errc::already_registered)
//     std::cerr << "db is taken by pid " << v.error().pid << "\n";
//
// Thread-safety: plain values; to_string is a pure function.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace shmreg {

enum class Errc : int {
  // Reading the segment.
  segment_not_found = 1,     // no registry segment: the broker never ran for this namespace
  permission_denied = 2,     // the OS or the broker's policy refused
  incompatible_segment = 3,  // written by another version or build of shmreg
  corrupt_segment = 4,       // a bounds check failed, here or in the broker; run `shmreg fsck`
  registry_not_found = 5,
  invalid_argument = 6,
  busy = 7,      // reads kept racing with writes; try again
  io_error = 8,  // the OS failed an I/O operation
  // Writes.
  broker_unavailable = 9,   // cannot reach the broker (Error::maybe_applied tells if it may have applied)
  already_registered = 10,  // unique key taken; Error::pid is the owner
  registry_exists = 11,     // same name, different options
  key_too_long = 12,
  value_too_long = 13,
  registry_full = 14,     // no entry slot left in the registry
  owner_table_full = 15,  // the segment tracks as many owner processes as it can
  protocol_error = 16,    // the broker's answer made no sense to this client (maybe_applied: see Error)
  not_found = 17,         // no such entry of the process the write acts for
  version_conflict = 18,  // set_value: the entry is at another version; update_value: it kept changing
  reply_too_large = 19,   // lookup_consistent: the entries would not fit in one reply
  // Send by name (shmreg/mailbox.hpp).
  no_mailbox = 20,         // send: the key's owners have no open mailbox
  mailbox_full = 21,       // send: every owner's mailbox is full; the message was dropped
  message_too_large = 22,  // send: larger than kMaxMessageSize
  mailbox_exists = 23,     // Mailbox::open: this process already has one open
  // Appended after the first release.
  segment_full = 24,         // no room left in the segment for the entry, value or meta
  too_many_registries = 25,  // the segment holds as many registries as it can
  meta_too_large = 26,       // put_meta / create_registry: the registry's meta block cannot hold it
  stale_owner = 27,          // the pid is recorded under another identity (a reused pid not yet reaped)
  out_of_memory = 28,        // this process could not allocate what the call needed
  internal_error = 29,       // shmreg failed itself (the broker reported an internal error)
  timeout = 30,              // the broker did not answer within the call's deadline (maybe_applied: see Error)
  untrusted = 31,            // the segment or the socket's peer is not a trusted broker's (the message names path, uid, mode)
  // The broker's configuration (docs/config.md).
  quota_exceeded = 32,    // a per-uid limit of the broker; the message names the limit, its value and the use
  reload_failed = 33,     // reload: the new configuration was refused and the old one stays; the message lists why
  reload_forbidden = 34,  // reload: reloads are forbidden (`shmreg reload --allow` lifts it)
  // The segment's file was removed while the broker ran, and the broker now
  // serves a new file at its name: this Client maps the abandoned one. Every
  // read, wait and write through it fails so; open the namespace again (a new
  // Client::open) to reach the new file.
  segment_replaced = 35,
  // A write to a scope = "cluster" registry: etcd did not take it within the
  // broker's [cluster] write_deadline; nothing was written (docs/cluster.md).
  cluster_unavailable = 36,
};

[[nodiscard]] std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code{};
  std::string message;
  std::uint32_t pid = 0;       // already_registered: the pid that owns the key
  // broker_unavailable, protocol_error or timeout after the whole request was
  // sent: the write may have applied (a timed-out write may even apply after
  // the call returned, once a stopped broker resumes).
  bool maybe_applied = false;
};

template <class T>
using Result = std::expected<T, Error>;

}  // namespace shmreg
