// The op handlers, grouped by op family, and what every handler works with.
//
// Each handler answers one proto::Op alternative for one caller; the op table
// (op_table.cpp) is the only caller of these functions and has already
// authorized the op. A handler reports every failure as an OpResult (built by
// status.hpp), never by throwing on purpose; the op table turns a stray
// exception (out of memory) into internal_error, and a segment_corrupt result
// into a broken invariant.
//
// Who an op acts for. An op whose `target` is 0 acts for the caller; a
// target n acts for the process of the n-th pidfd passed with the frame, if
// target_of() (target.hpp) allows it (owner_for below). Before touching a
// pid's entries, handlers settle it (OwnerWatches::settle): if the broker
// watches that pid under another identity, the old owner is dead and is
// reaped first.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "caller.hpp"
#include "config.hpp"
#include "log.hpp"
#include "mailboxes.hpp"
#include "owner_watches.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

class ClusterLink;
class ConfigLifecycle;
struct UidTally;

// The broker's state the handlers share. REQUIRES: the referenced objects
// outlive it.
struct OpContext {
  const BrokerConfig& config;
  shm::SegmentWriter& writer;
  OwnerWatches& owners;
  Mailboxes& mailboxes;
  const BrokerLog& log;
  // The broker's own read-only mapping of its segment (it reads like any
  // client where an op needs a reader's view); opened at first use.
  std::optional<shm::SegmentReader> reader{};
  // The configuration lifecycle (reload, status) and the per-uid tally of
  // connections, for the config family.
  ConfigLifecycle* lifecycle = nullptr;
  const UidTally* tally = nullptr;
  // The link to etcd when the file has [cluster] (cluster_link.hpp), for the
  // writes of cluster registries (ops_cluster.hpp); else nullptr.
  ClusterLink* cluster = nullptr;
};

// One request frame: who sent it, on which connection, and how much of the
// reply's data is still free.
struct Request {
  const Caller& caller;
  const std::shared_ptr<MailboxSink>& connection;
  std::size_t data_budget = proto::kMaxReplyData;
};

// -- shared by the families (ops.cpp) --
// The broker's reader, or an internal_error reply if it cannot map its segment.
[[nodiscard]] std::expected<const shm::SegmentReader*, proto::OpResult> own_reader(OpContext& ctx);
// The process an op with this target acts for (see above).
[[nodiscard]] std::expected<Owner, proto::OpResult> owner_for(const Request& req, std::uint8_t target);
// The refusal of a write that failed with e. When the segment had no room
// (registry_full, owner_table_full, segment_full) or a key or value was too
// long (key_too_long, value_too_long) its message names the limit reached,
// its value and where it is set; registry names the registry written (empty
// for a creation). Any other e: error_result(e).
[[nodiscard]] proto::OpResult write_refusal(OpContext& ctx, shm::Errc e, std::string_view registry = {});
// The refusal of an empty key in registry: invalid_argument naming the range
// of its keys.
[[nodiscard]] proto::OpResult empty_key_refusal(OpContext& ctx, std::string_view registry);

// -- registries (ops_registries.cpp) --
[[nodiscard]] proto::OpResult ping(OpContext& ctx, Request& req, const proto::Ping& op);
[[nodiscard]] proto::OpResult create_registry(OpContext& ctx, Request& req, const proto::CreateRegistry& op);

// -- registration (ops_registration.cpp) --
[[nodiscard]] proto::OpResult register_key(OpContext& ctx, Request& req, const proto::RegisterKey& op);
[[nodiscard]] proto::OpResult register_on_behalf(OpContext& ctx, Request& req, const proto::RegisterOnBehalf& op);
[[nodiscard]] proto::OpResult register_queued(OpContext& ctx, Request& req, const proto::RegisterQueued& op);
[[nodiscard]] proto::OpResult unregister(OpContext& ctx, Request& req, const proto::Unregister& op);
[[nodiscard]] proto::OpResult unregister_all(OpContext& ctx, Request& req, const proto::UnregisterAll& op);
[[nodiscard]] proto::OpResult unregister_match(OpContext& ctx, Request& req, const proto::UnregisterMatch& op);
// unregister_match in two halves, so that a cluster registry's etcd keys can
// go between them (ops_cluster.cpp): the pattern compiled, the owner settled
// and the values of its entries under the key that match; then their removal.
struct MatchPlan {
  std::uint32_t registry = 0;
  bool duplicate = false;
  std::uint32_t pid = 0, uid = 0;
  std::set<std::string, std::less<>> matching;
};
[[nodiscard]] std::expected<MatchPlan, proto::OpResult> plan_unregister_match(OpContext& ctx, Request& req,
                                                                              const proto::UnregisterMatch& op);
[[nodiscard]] proto::OpResult remove_matching(OpContext& ctx, const MatchPlan& plan, const std::string& key);
// register and register_on_behalf once the caller's rights are checked: the
// segment half of a cluster registration (ops_cluster.cpp) too.
[[nodiscard]] proto::OpResult register_entry(OpContext& ctx, const Owner& owner, const std::string& registry,
                                             const std::string& key, const std::string& value);

// -- values (ops_values.cpp) --
[[nodiscard]] proto::OpResult update_value(OpContext& ctx, Request& req, const proto::UpdateValue& op);
[[nodiscard]] proto::OpResult put_meta(OpContext& ctx, Request& req, const proto::PutMeta& op);
[[nodiscard]] proto::OpResult delete_meta(OpContext& ctx, Request& req, const proto::DeleteMeta& op);

// -- lookups (ops_lookups.cpp) --
[[nodiscard]] proto::OpResult lookup_consistent(OpContext& ctx, Request& req, const proto::LookupConsistent& op);

// -- mailboxes (ops_mailboxes.cpp) --
[[nodiscard]] proto::OpResult open_mailbox(OpContext& ctx, Request& req, const proto::OpenMailbox& op);
[[nodiscard]] proto::OpResult send_message(OpContext& ctx, Request& req, const proto::SendMessage& op);

// -- config (ops_config.cpp) --
[[nodiscard]] proto::OpResult set_static(OpContext& ctx, Request& req, const proto::SetStatic& op);
[[nodiscard]] proto::OpResult unset_static(OpContext& ctx, Request& req, const proto::UnsetStatic& op);
[[nodiscard]] proto::OpResult reload(OpContext& ctx, Request& req, const proto::Reload& op);
[[nodiscard]] proto::OpResult get_status(OpContext& ctx, Request& req, const proto::GetStatus& op);

}  // namespace shmreg::broker
