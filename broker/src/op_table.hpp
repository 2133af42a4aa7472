// The op table: the one place where a request's ops meet their handlers.
//
// For each op of a request frame, in order, OpTable::execute
//   1. knows the caller (caller.hpp: the kernel's uid, gid, pid and pidfd of
//      the peer, its process identity, and the pidfds passed with the frame);
//   2. asks authorize() whether the caller may run the op: THE single
//      authorization point, where the policy and the quotas of issues 9 and 10
//      will be checked; a refusal there is the op's reply;
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

// Whether caller may run op. Today: every op but ping needs the process that
// opened the connection to be alive (its pid could name another process by
// now); otherwise every authenticated caller may run every op (invariant 2 is
// enforced where an op acts for another process, target.hpp). The policy and
// quota checks of issue 10 go here and nowhere else. The error is the op's
// reply, naming the rule or the limit.
[[nodiscard]] std::expected<void, proto::OpResult> authorize(const Caller& caller, const proto::Op& op);

class OpTable final : public RequestHandler {
 public:
  // REQUIRES: ctx and shutdown outlive the table.
  OpTable(OpContext& ctx, Shutdown& shutdown) : ctx_(ctx), shutdown_(shutdown) {}

  [[nodiscard]] std::vector<proto::OpResult> execute(const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds,
                                                     const std::vector<proto::Op>& ops,
                                                     const std::shared_ptr<MailboxSink>& connection) override;
  void connection_closed(const MailboxSink& connection) noexcept override;
  [[nodiscard]] bool holds_state(const Peer& peer, const MailboxSink& connection) const override;

 private:
  [[nodiscard]] proto::OpResult run(Request& req, const proto::Op& op);

  OpContext& ctx_;
  Shutdown& shutdown_;
};

}  // namespace shmreg::broker
