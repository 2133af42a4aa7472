// The op table: the one place where a request's ops meet their handlers.
//
// For each op of a request frame, in order, OpTable::execute
//   1. knows the caller (caller.hpp: the kernel's uid, gid, pid and pidfd of
//      the peer, its process identity, and the pidfds passed with the frame);
//   2. asks authorize() whether the caller may run the op: THE single
//      authorization point for the caller's access (policy.hpp); a refusal
//      there is the op's reply;
//   3. runs the op's handler, chosen by the op's type in one table
//      (op_table.cpp, dispatch), grouped by op family (ops.hpp);
//   4. treats a segment_corrupt result as a broken invariant (shutdown.hpp):
//      it logs the op, registry and key, and the broker stops.
// Once the broker halts, every op is answered segment_corrupt unrun.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <expected>
#include <memory>
#include <span>
#include <vector>

#include "caller.hpp"
#include "ops.hpp"
#include "session.hpp"
#include "shutdown.hpp"

namespace shmreg::broker {

// Whether caller may run op: THE single authorization point for the rules
// that depend on the caller. Every op but ping needs the process that opened
// the connection to be alive (its pid could name another process by now).
// Then the access lists of the settings in force (policy.hpp): [access]
// create for a create_registry that would create; the registry's register
// list for register, register_on_behalf and register_queued; its admins for
// put_meta, delete_meta, set_static and unset_static; [access] reload for
// reload. Invariant 2 is enforced where an op acts for another process
// (target.hpp), and the rules that depend on the owner or on the size of a
// write (reservations, quotas) by the handlers through policy.hpp. The error
// is the op's reply, naming the rule.
[[nodiscard]] std::expected<void, proto::OpResult> authorize(OpContext& ctx, const Caller& caller,
                                                             const proto::Op& op);

class OpTable final : public RequestHandler {
 public:
  // REQUIRES: ctx and shutdown outlive the table.
  OpTable(OpContext& ctx, Shutdown& shutdown) : ctx_(ctx), shutdown_(shutdown) {}

  [[nodiscard]] std::vector<proto::OpResult> execute(const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds,
                                                     const std::vector<proto::Op>& ops,
                                                     const std::shared_ptr<MailboxSink>& connection) override;
  // A frame that writes a cluster registry (ops_cluster.hpp) holds that op
  // alone, else every op is refused unrun; that op waits for etcd, parked.
  // Every other frame: execute.
  [[nodiscard]] std::optional<std::vector<proto::OpResult>> execute_or_park(
      const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds, const std::vector<proto::Op>& ops,
      const std::shared_ptr<MailboxSink>& connection, Later later) override;
  void connection_closed(const MailboxSink& connection) noexcept override;
  [[nodiscard]] bool holds_state(const Peer& peer, const MailboxSink& connection) const override;

 private:
  [[nodiscard]] proto::OpResult run(Request& req, const proto::Op& op);
  [[nodiscard]] std::optional<proto::OpResult> start_parked(Request& req, const proto::Op& op, Later later);

  OpContext& ctx_;
  Shutdown& shutdown_;
};

}  // namespace shmreg::broker
