// The mailboxes family, broker side: open_mailbox and send_message (send by
// name). The table of open mailboxes and the routing rules are mailboxes.hpp;
// this file finds a key's owners and hands them to it.
#include <unordered_set>

#include "ops.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

// The distinct owner pids of the entries under key, in entry order.
std::expected<std::vector<std::uint32_t>, proto::OpResult> owners_of(OpContext& ctx, const std::string& registry,
                                                                     const std::string& key) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::unexpected(std::move(rdr.error()));
  auto view = (*rdr)->registry(registry);
  if (!view) return std::unexpected(error_result(view.error()));
  // Zero-copy: only the pids are needed, not the values. fn runs again over
  // fresh views if a write tore them, so it starts afresh each time.
  std::vector<std::uint32_t> pids;
  std::unordered_set<std::uint32_t> seen;
  auto n = (*rdr)->lookup(*view, key, [&](std::span<const shm::EntryView> views) {
    pids.clear();
    seen.clear();
    for (const shm::EntryView& e : views)
      if (seen.insert(e.pid).second) pids.push_back(e.pid);
  });
  if (!n) return std::unexpected(error_result(n.error()));
  return pids;
}

}  // namespace

proto::OpResult open_mailbox(OpContext& ctx, Request& req, const proto::OpenMailbox&) {
  return ctx.mailboxes.open(req.connection);
}

proto::OpResult send_message(OpContext& ctx, Request& req, const proto::SendMessage& op) {
  auto owners = owners_of(ctx, op.registry, op.key);
  if (!owners) return std::move(owners.error());
  return ctx.mailboxes.send(req.caller, op, *owners, req.data_budget);
}

}  // namespace shmreg::broker
