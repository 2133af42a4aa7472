// The private state behind the public handles: what a Client, a Registry, a
// Watcher, a WriteBatch and a Mailbox hold. Every family file of the client
// (registries, registration, values, lookups, events, mailboxes) includes
// this one header; the public headers only forward-declare these types.
//
// Thread-safety:
//   ClientState: ns, socket, broker_uid and reader are constant after construction; conn
//     is guarded by mu, which only writes take (lookups never do).
//   RegistryState: constant after construction.
//   WatcherState, WriteBatchState, MailboxState: owned by one handle, used by
//     one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "shmreg/client.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/registry.hpp"
#include "shmreg/shm/reader.hpp"

namespace shmreg::client_detail {

struct ClientState {
  ClientState(std::string n, std::string sock, shm::SegmentReader r, uid_t owner)
      : ns(std::move(n)), socket(std::move(sock)), broker_uid(owner), reader(std::move(r)),
        conn(socket, PeerTrust(broker_uid)) {}

  const std::string ns;
  const std::string socket;
  const uid_t broker_uid;  // the segment's owner: the only uid its socket's peer may have
  const shm::SegmentReader reader;
  std::mutex mu;
  Connection conn;  // guarded by mu

  // One batch to the broker by deadline, pidfds as SCM_RIGHTS with it (for
  // ops that act for another process); the results in order. Fails only when
  // the batch could not be exchanged (broker_unavailable, timeout), or,
  // before sending, when the broker has abandoned the file this client maps
  // (segment_replaced).
  Result<std::vector<proto::OpResult>> call_batch(const Deadline& deadline,
                                                  const std::vector<proto::Op>& ops,
                                                  std::span<const int> pidfds = {});
  // One op; a status other than ok is the Error.
  Result<proto::OpResult> call(const Deadline& deadline, proto::Op op, std::span<const int> pidfds = {});
  // The named registry of the segment; the error names it.
  Result<shm::RegistryView> registry_view(std::string_view name) const;
};

struct RegistryState {
  std::shared_ptr<const ClientState> client;
  shm::RegistryView view;
};

struct WatcherState {
  RegistryState registry;
  std::optional<std::string> key;  // only this key's events, when set
  std::uint64_t next = 1;          // the sequence to read from
};

struct WriteBatchState {
  struct Op {
    bool is_register;
    std::string registry, key, value;
  };
  std::vector<Op> ops;
};

struct MailboxState {
  MailboxState(const std::string& socket, uid_t broker_uid, std::chrono::nanoseconds t)
      : conn(socket, PeerTrust(broker_uid)), timeout(t) {}
  Connection conn;  // its own connection: the broker's messages arrive on it
  std::chrono::nanoseconds timeout;  // the client's, for opening
  std::uint64_t reopened = 0;
};

// A deep copy of a handle's state, for the handles' copy operations; empty
// stays empty.
template <class T>
std::unique_ptr<T> clone(const std::unique_ptr<T>& state) {
  return state ? std::make_unique<T>(*state) : nullptr;
}

inline Entry to_entry(shm::Entry&& e) {
  return Entry{std::move(e.key), std::move(e.value), e.pid, e.version, std::move(e.host)};
}

}  // namespace shmreg::client_detail
