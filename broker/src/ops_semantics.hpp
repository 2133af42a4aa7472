// The broker's handlers of the registry-semantics ops: update_value, put_meta,
// delete_meta, unregister_match, lookup_consistent, register_on_behalf, and
// the initial meta of create_registry.
//
// Who an op acts for. An op whose `target` is 0 acts for the connected peer;
// a target n acts for the process of the n-th pidfd passed with the frame,
// if target_of() (target.hpp) allows it. Before touching a pid's entries, the
// handlers make sure they belong to the process that holds the pid now: if
// the broker watches that pid under another identity, the old owner is dead
// (its exit not yet handled) and is reaped first.
//
// Consistent lookups. lookup_consistent reads the key's entries from the
// segment (the broker maps it read-only too, like any reader), then polls the
// pidfd of each owner: an owner found dead is reaped there and then, and its
// entries are left out; so are those of an owner it cannot verify (no watch,
// and no pidfd to be had), which it does not reap. Since the broker is
// single-threaded, what it returns is the registry's exact state at that
// moment, with every owner verified.
//
// unregister_match removes the target's entries under key whose values match,
// in one all-or-nothing write (SegmentWriter::remove_if): all of them, or
// some of them while the target's others under key stay. The one limit: a
// partial removal of more than shm::kMaxRemoveSome (256) entries is refused
// with invalid_argument and changes nothing.
//
// The broker's core stays in broker.cpp; these handlers reach it only through
// BrokerHooks.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "peer.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

// What one request frame brought besides its ops.
struct FrameContext {
  std::span<const UniqueFd> pidfds;                // passed with the frame, in order
  std::size_t data_budget = proto::kMaxReplyData;  // left for the reply's data fields
};

struct OwnerWatchInfo {
  int pidfd = -1;  // the broker's own, still owned by it
  ProcessIdentity identity;
};

// What the handlers need of the broker's core.
struct BrokerHooks {
  // Registers for owner exactly as for a connected peer (and watches it).
  std::function<proto::OpResult(const Peer& owner, const proto::RegisterKey&)> register_key;
  // Removes every entry of pid, and the broker's watch of it.
  std::function<void(pid_t, const char* why)> reap;
  // The broker's watch of pid, if any.
  std::function<std::optional<OwnerWatchInfo>(pid_t)> watch_of;
  // The broker's reply for a writer error.
  std::function<proto::OpResult(shm::Errc)> error_result;
  std::function<void(const std::string&)> log;
};

class SemanticOps {
 public:
  using MetaPairs = std::vector<std::pair<std::string, std::string>>;

  // REQUIRES: writer outlives this object.
  SemanticOps(shm::SegmentWriter& writer, std::string ns, BrokerHooks hooks);

  // create_registry with initial meta: the meta is checked in full first, and
  // written with the creation, in the same write, only if this call creates
  // the registry; an existing registry (same options) keeps the meta it has.
  proto::OpResult create_registry(const shm::RegistrySpec& spec, const MetaPairs& meta);

  proto::OpResult run(const Peer& peer, const proto::UpdateValue& op, FrameContext& frame);
  proto::OpResult run(const Peer& peer, const proto::PutMeta& op, FrameContext& frame);
  proto::OpResult run(const Peer& peer, const proto::DeleteMeta& op, FrameContext& frame);
  proto::OpResult run(const Peer& peer, const proto::UnregisterMatch& op, FrameContext& frame);
  proto::OpResult run(const Peer& peer, const proto::LookupConsistent& op, FrameContext& frame);
  proto::OpResult run(const Peer& peer, const proto::RegisterOnBehalf& op, FrameContext& frame);

  // The distinct owner pids of the entries under key, in entry order (for
  // send_message); registry_not_found and the like as error replies.
  std::expected<std::vector<std::uint32_t>, proto::OpResult> owners_of(const std::string& registry,
                                                                       const std::string& key);

 private:
  struct Actor {
    pid_t pid = 0;
    ProcessIdentity identity;
  };
  std::expected<Actor, proto::OpResult> actor_of(const Peer& peer, std::uint8_t target, const FrameContext& frame);
  void settle_owner(const Actor& actor);
  enum class Liveness { alive, dead, unknown };
  Liveness owner_liveness(pid_t pid);
  std::expected<const shm::SegmentReader*, proto::OpResult> reader();

  shm::SegmentWriter& writer_;
  const std::string ns_;
  BrokerHooks hooks_;
  std::optional<shm::SegmentReader> reader_;  // opened at first use
};

}  // namespace shmreg::broker
