// The lookups family, broker side: lookup_consistent. Every other lookup is
// a read of the segment in the caller's process and never reaches the broker.
//
// lookup_consistent reads the key's entries from the segment (through the
// broker's own read-only mapping, like any reader), then checks each owner:
// an owner found dead is reaped there and then and its entries are left out;
// so are those of an owner it cannot verify (no watch, and no pidfd to be
// had), which it does not reap. Since the broker is single-threaded, what it
// returns is the registry's exact state at that moment, every owner verified.
#include <set>

#include "ops.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

// The pids among entries whose owners are not verified alive; reaps the dead.
std::set<std::uint32_t> unverified_owners(OpContext& ctx, const std::vector<shm::Entry>& entries) {
  std::set<std::uint32_t> excluded, checked;
  for (const shm::Entry& e : entries) {
    // pid 0: a static entry, owned by the namespace, alive while the segment is.
    if (e.pid == 0 || !checked.insert(e.pid).second) continue;
    switch (ctx.owners.liveness(static_cast<pid_t>(e.pid))) {
      case OwnerWatches::Liveness::alive: break;
      case OwnerWatches::Liveness::dead:
        ctx.owners.reap(static_cast<pid_t>(e.pid), "found dead by a consistent lookup");
        ctx.owners.publish_status();
        excluded.insert(e.pid);
        break;
      case OwnerWatches::Liveness::unknown:
        // Not verified, so not returned; not proven dead, so not reaped.
        ctx.log("consistent lookup: cannot verify pid " + std::to_string(e.pid) + "; its entries are left out");
        excluded.insert(e.pid);
        break;
    }
  }
  return excluded;
}

}  // namespace

proto::OpResult lookup_consistent(OpContext& ctx, Request& req, const proto::LookupConsistent& op) {
  auto rdr = own_reader(ctx);
  if (!rdr) return std::move(rdr.error());
  auto view = (*rdr)->registry(op.registry);
  if (!view) return error_result(view.error());
  auto entries = (*rdr)->lookup_copy(*view, op.key);
  if (!entries) return error_result(entries.error());
  const std::set<std::uint32_t> excluded = unverified_owners(ctx, *entries);
  // Single-threaded: the entries read above are exactly the segment's
  // state, less the owners just reaped.
  std::vector<proto::WireEntry> live;
  std::size_t bytes = 4;
  for (shm::Entry& e : *entries) {
    if (excluded.count(e.pid) != 0) continue;
    bytes += proto::encoded_entry_size(e.key.size(), e.value.size());
    live.push_back(proto::WireEntry{std::move(e.key), std::move(e.value), e.pid, e.version});
  }
  if (bytes > req.data_budget)
    return refusal(proto::Status::reply_too_large,
                   "the " + std::to_string(live.size()) + " entries under this key take " + std::to_string(bytes) +
                       " bytes, more than the " + std::to_string(req.data_budget) +
                       " this reply has left; use a plain lookup");
  req.data_budget -= bytes;
  return success(live.size(), proto::encode_entries(live));
}

}  // namespace shmreg::broker
