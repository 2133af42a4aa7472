// The broker's registry-semantics ops (see ops_semantics.hpp).
#include "ops_semantics.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_set>

#include "shmreg/proto/pattern.hpp"
#include "target.hpp"

namespace shmreg::broker {

namespace {

using proto::OpResult;
using proto::Status;

// Matcher messages quote the pattern, which may be long; a reply message is short.
constexpr std::size_t kMaxMessage = 1024;

OpResult fail(Status s, std::string message) {
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + "...";
  return OpResult{s, 0, std::move(message), {}};
}

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

// The bytes a meta pair takes in a registry's meta block (segment-format.md,
// "Meta blocks"): two u32 lengths, then key and value each padded to 8.
std::uint64_t meta_pair_bytes(const std::string& k, const std::string& v) {
  auto pad8 = [](std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; };
  return 8 + pad8(k.size()) + pad8(v.size());
}

constexpr std::size_t kMaxMetaKey = 255;

// Handlers run inside the io_context: an exception (out of memory) must
// become an error reply, not unwind through io_context::run.
template <class F>
OpResult guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(Status::internal_error, std::string("internal error: ") + e.what());
  }
}

}  // namespace

SemanticOps::SemanticOps(shm::SegmentWriter& writer, std::string ns, BrokerHooks hooks)
    : writer_(writer), ns_(std::move(ns)), hooks_(std::move(hooks)) {}

std::expected<const shm::SegmentReader*, OpResult> SemanticOps::reader() {
  if (!reader_) {
    auto r = shm::SegmentReader::open(ns_);
    if (!r)
      return std::unexpected(
          fail(Status::internal_error, "the broker cannot map its own segment: " + std::string(shm::to_string(r.error()))));
    reader_.emplace(std::move(*r));
  }
  return &*reader_;
}

std::expected<SemanticOps::Actor, OpResult> SemanticOps::actor_of(const Peer& peer, std::uint8_t target,
                                                                  const FrameContext& frame) {
  if (target == 0) return Actor{peer.pid, peer.identity};
  if (target > frame.pidfds.size())
    return std::unexpected(fail(Status::invalid_argument, "no pidfd #" + std::to_string(target) +
                                                              " came with this request; pass the target's pidfd "
                                                              "with SCM_RIGHTS"));
  auto t = target_of(frame.pidfds[target - 1].get(), peer.uid);
  if (!t) return std::unexpected(fail(t.error().status, t.error().message));
  return Actor{t->pid, t->identity};
}

void SemanticOps::settle_owner(const Actor& actor) {
  auto w = hooks_.watch_of(actor.pid);
  if (w && w->identity.kind == actor.identity.kind && w->identity.value != actor.identity.value)
    hooks_.reap(actor.pid, "pid recycled by a live process");
}

SemanticOps::Liveness SemanticOps::owner_liveness(pid_t pid) {
  if (auto w = hooks_.watch_of(pid)) return pidfd_exited(w->pidfd) ? Liveness::dead : Liveness::alive;
  // Not watched (the broker could not duplicate its pidfd when it registered):
  // check the process itself against the identity the segment records.
  UniqueFd fd(open_pidfd(pid));
  if (!fd) return errno == ESRCH ? Liveness::dead : Liveness::unknown;  // e.g. EMFILE proves nothing
  for (const shm::OwnerRecord& o : writer_.owners()) {
    if (o.identity.pid != static_cast<std::uint32_t>(pid)) continue;
    auto now = identity_of(fd.get(), pid, o.identity.kind);
    if (!now) return pidfd_exited(fd.get()) ? Liveness::dead : Liveness::unknown;
    return now->value == o.identity.value ? Liveness::alive : Liveness::dead;
  }
  return Liveness::unknown;
}

OpResult SemanticOps::create_registry(const shm::RegistrySpec& spec, const MetaPairs& meta) {
  return guarded([&]() -> OpResult {
    std::uint64_t bytes = 0;
    std::set<std::string_view> seen;
    for (const auto& [k, v] : meta) {
      if (k.empty() || k.size() > kMaxMetaKey)
        return fail(Status::invalid_argument, "a meta key is 1 to " + std::to_string(kMaxMetaKey) + " bytes");
      if (!seen.insert(k).second) return fail(Status::invalid_argument, "meta key " + quoted(k) + " is given twice");
      bytes += meta_pair_bytes(k, v);
    }
    if (bytes > shm::kMetaBlockSize)
      return fail(Status::value_too_long, "the meta takes " + std::to_string(bytes) + " bytes, more than the " +
                                              std::to_string(shm::kMetaBlockSize) +
                                              " a registry holds (8 per pair, key and value each padded to 8)");
    const bool existed = writer_.find_registry(spec.name).has_value();
    // The meta goes in with the creation: readers see the registry with it or not at all.
    shm::RegistrySpec with_meta = spec;
    with_meta.meta = meta;
    auto id = writer_.create_registry(with_meta);
    if (!id) return hooks_.error_result(id.error());
    OpResult res{Status::ok, *id, {}, {}};
    if (existed && !meta.empty()) res.message = "the registry exists; its meta was left as it is";
    return res;
  });
}

OpResult SemanticOps::run(const Peer& peer, const proto::UpdateValue& op, FrameContext& frame) {
  return guarded([&]() -> OpResult {
    auto actor = actor_of(peer, op.target, frame);
    if (!actor) return actor.error();
    settle_owner(*actor);
    auto id = writer_.find_registry(op.registry);
    if (!id) return hooks_.error_result(id.error());
    auto v = writer_.update_value(*id, op.key, static_cast<std::uint32_t>(actor->pid), op.value, op.expected_version);
    if (!v) {
      switch (v.error()) {
        case shm::Errc::not_found:
          return fail(Status::not_found, "pid " + std::to_string(actor->pid) + " has no entry under this key in " +
                                             quoted(op.registry));
        case shm::Errc::version_conflict:
          return fail(Status::version_conflict,
                      "the entry is no longer at version " + std::to_string(op.expected_version.value_or(0)));
        case shm::Errc::invalid_argument:
          return fail(Status::invalid_argument,
                      "update_value needs a unique registry; " + quoted(op.registry) + " has duplicate keys");
        default: return hooks_.error_result(v.error());
      }
    }
    return OpResult{Status::ok, *v, {}, {}};
  });
}

OpResult SemanticOps::run(const Peer&, const proto::PutMeta& op, FrameContext&) {
  return guarded([&]() -> OpResult {
    auto id = writer_.find_registry(op.registry);
    if (!id) return hooks_.error_result(id.error());
    if (auto ok = writer_.put_meta(*id, op.key, op.value); !ok) {
      switch (ok.error()) {
        case shm::Errc::invalid_argument:
          return fail(Status::invalid_argument, "a meta key is 1 to " + std::to_string(kMaxMetaKey) + " bytes");
        case shm::Errc::meta_too_large:
          return fail(Status::value_too_long, "the meta of " + quoted(op.registry) + " would exceed " +
                                                  std::to_string(shm::kMetaBlockSize) +
                                                  " bytes (8 per pair, key and value each padded to 8)");
        default: return hooks_.error_result(ok.error());
      }
    }
    return OpResult{Status::ok, 0, {}, {}};
  });
}

OpResult SemanticOps::run(const Peer&, const proto::DeleteMeta& op, FrameContext&) {
  return guarded([&]() -> OpResult {
    auto id = writer_.find_registry(op.registry);
    if (!id) return hooks_.error_result(id.error());
    auto ok = writer_.delete_meta(*id, op.key);
    if (!ok && ok.error() == shm::Errc::not_found) return OpResult{Status::ok, 0, {}, {}};
    if (!ok) return hooks_.error_result(ok.error());
    return OpResult{Status::ok, 1, {}, {}};
  });
}

OpResult SemanticOps::run(const Peer& peer, const proto::UnregisterMatch& op, FrameContext& frame) {
  return guarded([&]() -> OpResult {
    auto matcher = proto::Matcher::compile(op.pattern, op.guards);
    if (!matcher) return fail(Status::invalid_argument, matcher.error());
    auto actor = actor_of(peer, op.target, frame);
    if (!actor) return actor.error();
    settle_owner(*actor);
    auto id = writer_.find_registry(op.registry);
    if (!id) return hooks_.error_result(id.error());
    auto rdr = reader();
    if (!rdr) return rdr.error();
    auto view = (*rdr)->registry(op.registry);
    if (!view) return hooks_.error_result(view.error());
    const auto pid = static_cast<std::uint32_t>(actor->pid);
    auto entries = (*rdr)->values(*view, op.key, pid);
    if (!entries) return hooks_.error_result(entries.error());
    // Matching (JSON parsing, which may throw) happens here, before the
    // writer's all-or-nothing removal, whose predicate only looks values up.
    std::set<std::string, std::less<>> matching;
    for (const shm::Entry& e : *entries)
      if (matcher->matches(e.value)) matching.insert(e.value);
    if (matching.empty()) return OpResult{Status::ok, 0, {}, {}};
    auto n = writer_.remove_if(*id, op.key, pid, [&](std::string_view v) { return matching.count(v) != 0; });
    if (!n && n.error() == shm::Errc::invalid_argument)
      return fail(Status::invalid_argument, "more than " + std::to_string(shm::kMaxRemoveSome) +
                                                " of one process's entries under a key match while others do not; "
                                                "nothing was removed");
    if (!n) return hooks_.error_result(n.error());
    return OpResult{Status::ok, *n, {}, {}};
  });
}

std::expected<std::vector<std::uint32_t>, OpResult> SemanticOps::owners_of(const std::string& registry,
                                                                          const std::string& key) {
  auto rdr = reader();
  if (!rdr) return std::unexpected(rdr.error());
  auto view = (*rdr)->registry(registry);
  if (!view) return std::unexpected(hooks_.error_result(view.error()));
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
  if (!n) return std::unexpected(hooks_.error_result(n.error()));
  return pids;
}

OpResult SemanticOps::run(const Peer&, const proto::LookupConsistent& op, FrameContext& frame) {
  return guarded([&]() -> OpResult {
    auto rdr = reader();
    if (!rdr) return rdr.error();
    auto view = (*rdr)->registry(op.registry);
    if (!view) return hooks_.error_result(view.error());
    auto entries = (*rdr)->lookup_copy(*view, op.key);
    if (!entries) return hooks_.error_result(entries.error());
    std::set<std::uint32_t> excluded;
    std::set<std::uint32_t> checked;
    for (const shm::Entry& e : *entries) {
      if (!checked.insert(e.pid).second) continue;
      switch (owner_liveness(static_cast<pid_t>(e.pid))) {
        case Liveness::alive: break;
        case Liveness::dead:
          hooks_.reap(static_cast<pid_t>(e.pid), "found dead by a consistent lookup");
          excluded.insert(e.pid);
          break;
        case Liveness::unknown:
          // Not verified, so not returned; not proven dead, so not reaped.
          hooks_.log("consistent lookup: cannot verify pid " + std::to_string(e.pid) + "; its entries are left out");
          excluded.insert(e.pid);
          break;
      }
    }
    // Single-threaded: the entries read above are exactly the segment's
    // state, less the owners just reaped.
    std::vector<proto::WireEntry> live;
    std::size_t bytes = 4;
    for (shm::Entry& e : *entries) {
      if (excluded.count(e.pid) != 0) continue;
      bytes += proto::encoded_entry_size(e.key.size(), e.value.size());
      live.push_back(proto::WireEntry{std::move(e.key), std::move(e.value), e.pid, e.version});
    }
    if (bytes > frame.data_budget)
      return fail(Status::reply_too_large, "the " + std::to_string(live.size()) + " entries under this key take " +
                                               std::to_string(bytes) + " bytes, more than the " +
                                               std::to_string(frame.data_budget) +
                                               " this reply has left; use a plain lookup");
    frame.data_budget -= bytes;
    return OpResult{Status::ok, live.size(), {}, proto::encode_entries(live)};
  });
}

OpResult SemanticOps::run(const Peer& peer, const proto::RegisterOnBehalf& op, FrameContext& frame) {
  return guarded([&]() -> OpResult {
    if (op.target == 0 || op.target > frame.pidfds.size())
      return fail(Status::invalid_argument, "no pidfd #" + std::to_string(op.target) +
                                                " came with this request; pass the target's pidfd with SCM_RIGHTS");
    const int fd = frame.pidfds[op.target - 1].get();
    auto t = target_of(fd, peer.uid);
    if (!t) return fail(t.error().status, t.error().message);
    Peer owner;
    owner.pid = t->pid;
    owner.uid = t->uid;
    owner.identity = t->identity;
    owner.pidfd = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!owner.pidfd) return fail(Status::internal_error, std::string("cannot keep the pidfd: ") + std::strerror(errno));
    return hooks_.register_key(owner, proto::RegisterKey{op.registry, op.key, op.value});
  });
}

}  // namespace shmreg::broker
