// The op table (see op_table.hpp).
#include "op_table.hpp"

#include <exception>
#include <type_traits>
#include <variant>

#include "ops_cluster.hpp"
#include "policy.hpp"
#include "shmreg/sys/pidfd.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

// The table: one line per proto::Op alternative. It has no generic case, so
// a new op that is given no handler here does not compile.
proto::OpResult dispatch(OpContext& c, Request& r, const proto::Op& op) {
  return std::visit(
      Overloaded{
          // registries (ops_registries.cpp)
          [&](const proto::Ping& o) { return ping(c, r, o); },
          [&](const proto::CreateRegistry& o) { return create_registry(c, r, o); },
          // registration (ops_registration.cpp)
          [&](const proto::RegisterKey& o) { return register_key(c, r, o); },
          [&](const proto::RegisterOnBehalf& o) { return register_on_behalf(c, r, o); },
          [&](const proto::RegisterQueued& o) { return register_queued(c, r, o); },
          [&](const proto::Unregister& o) { return unregister(c, r, o); },
          [&](const proto::UnregisterAll& o) { return unregister_all(c, r, o); },
          [&](const proto::UnregisterMatch& o) { return unregister_match(c, r, o); },
          // values (ops_values.cpp)
          [&](const proto::UpdateValue& o) { return update_value(c, r, o); },
          [&](const proto::PutMeta& o) { return put_meta(c, r, o); },
          [&](const proto::DeleteMeta& o) { return delete_meta(c, r, o); },
          // lookups (ops_lookups.cpp)
          [&](const proto::LookupConsistent& o) { return lookup_consistent(c, r, o); },
          // mailboxes (ops_mailboxes.cpp)
          [&](const proto::OpenMailbox& o) { return open_mailbox(c, r, o); },
          [&](const proto::SendMessage& o) { return send_message(c, r, o); },
          // config (ops_config.cpp)
          [&](const proto::SetStatic& o) { return set_static(c, r, o); },
          [&](const proto::UnsetStatic& o) { return unset_static(c, r, o); },
          [&](const proto::Reload& o) { return reload(c, r, o); },
          [&](const proto::GetStatus& o) { return get_status(c, r, o); },
          // cluster (ops_cluster.cpp): parked when the broker has a link, so
          // this runs only without one
          [&](const proto::GetClusterStatus&) {
            return refusal(proto::Status::invalid_argument,
                           "this broker has no [cluster] in its configuration: it is not part of an etcd cluster");
          },
      },
      op);
}

// The ops' names for the log, in the order of the proto::Op alternatives.
constexpr const char* kOpNames[] = {
    "ping",         "create_registry",  "register",          "unregister",         "unregister_all",
    "update_value", "put_meta",         "delete_meta",       "unregister_match",   "lookup_consistent",
    "register_on_behalf", "register_queued", "open_mailbox", "send_message", "set_static",
    "unset_static", "reload", "get_status", "get_cluster_status",
};
static_assert(std::size(kOpNames) == std::variant_size_v<proto::Op>, "every op has a name for the log");

// "put_meta on registry 'svc', key 'k'": as much as the op names.
// A name or key from the request, fit for one log line: at most 64 bytes,
// control bytes and quotes escaped (they come from the client).
std::string quoted(const std::string& s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += s.size() > kMax ? "'..." : "'";
  return out;
}

// A refusal about a registry names it: "registry 'svc': registry not found",
// unless the handler's message already does.
proto::OpResult naming_registry(const proto::Op& op, proto::OpResult res) {
  std::visit(
      [&](const auto& o) {
        std::string name;
        if constexpr (requires { o.registry; }) name = o.registry;
        if constexpr (requires { o.name; }) name = o.name;
        if (!name.empty() && res.message.find("'" + name + "'") == std::string::npos)
          res = refusal(res.status, "registry '" + name + "': " + res.message);
      },
      op);
  return res;
}

std::string describe(const proto::Op& op) {
  std::string text = kOpNames[op.index()];
  std::visit(
      [&](const auto& o) {
        if constexpr (requires { o.registry; }) text += " on registry " + quoted(o.registry);
        if constexpr (requires { o.name; }) text += " on registry " + quoted(o.name);
        if constexpr (requires { o.key; }) text += ", key " + quoted(o.key);
      },
      op);
  return text;
}

}  // namespace

std::expected<void, proto::OpResult> authorize(OpContext& ctx, const Caller& caller, const proto::Op& op) {
  // The kernel named the caller when it connected; once that process is gone
  // its pid can be recycled, and every op would act for (or settle against)
  // whoever holds the pid now.
  if (caller.exited && !std::holds_alternative<proto::Ping>(op))
    return std::unexpected(refusal(proto::Status::permission_denied,
                                   "this connection was opened by pid " + std::to_string(caller.pid) +
                                       ", which has exited; a connection acts only for the live process that "
                                       "opened it (connect again from this process)"));
  const Settings& settings = ctx.config.settings;
  // Meta and static entries of a registry that does not exist: the handler
  // answers not_found, which tells the caller nothing it may not know.
  const auto administer = [&](const std::string& registry) -> std::expected<void, proto::OpResult> {
    auto rdr = own_reader(ctx);
    if (!rdr) return std::unexpected(std::move(rdr.error()));
    auto view = (*rdr)->registry(registry);
    if (!view) return {};
    return may_administer(settings, caller, registry, view->creator_uid());
  };
  return std::visit(
      Overloaded{
          [&](const proto::CreateRegistry& o) -> std::expected<void, proto::OpResult> {
            if (ctx.writer.find_registry(o.name)) return {};
            return may_create(settings, caller, o.name);
          },
          [&](const proto::RegisterKey& o) { return may_register(settings, caller, o.registry); },
          [&](const proto::RegisterOnBehalf& o) { return may_register(settings, caller, o.registry); },
          [&](const proto::RegisterQueued& o) { return may_register(settings, caller, o.registry); },
          [&](const proto::PutMeta& o) { return administer(o.registry); },
          [&](const proto::DeleteMeta& o) { return administer(o.registry); },
          [&](const proto::SetStatic& o) { return administer(o.registry); },
          [&](const proto::UnsetStatic& o) { return administer(o.registry); },
          [&](const proto::Reload&) { return may_reload(settings, caller); },
          [&](const proto::LookupConsistent&) { return may_read_entries(settings, caller); },
          [](const auto&) -> std::expected<void, proto::OpResult> { return {}; },
      },
      op);
}

std::vector<proto::OpResult> OpTable::execute(const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds,
                                              const std::vector<proto::Op>& ops,
                                              const std::shared_ptr<MailboxSink>& connection) {
  Caller caller = Caller::of(peer, passed_pidfds);
  caller.exited = sys::pidfd_exited(peer.pidfd.get());
  Request req{caller, connection};
  std::vector<proto::OpResult> out;
  out.reserve(ops.size());
  if (ops.size() == 1) {
    out.push_back(run(req, ops.front()));
    return out;
  }
  // The writes of a batch wake the registries' watchers once, before the
  // reply (a thousand registrations cost one futex wake, not a thousand).
  struct WakesOnce {
    shm::SegmentWriter& w;
    explicit WakesOnce(shm::SegmentWriter& writer) : w(writer) { w.defer_wakes(); }
    ~WakesOnce() { w.flush_wakes(); }
  } wakes(ctx_.writer);
  for (const proto::Op& op : ops) out.push_back(run(req, op));
  return out;
}

std::optional<std::vector<proto::OpResult>> OpTable::execute_or_park(const Peer& peer,
                                                                     std::span<const sys::UniqueFd> passed_pidfds,
                                                                     const std::vector<proto::Op>& ops,
                                                                     const std::shared_ptr<MailboxSink>& connection,
                                                                     Later later) {
  if (ctx_.cluster == nullptr) return execute(peer, passed_pidfds, ops, connection);
  Caller caller = Caller::of(peer, passed_pidfds);
  caller.exited = sys::pidfd_exited(peer.pidfd.get());
  std::size_t cluster_ops = 0;
  for (const proto::Op& op : ops)
    if (touches_cluster(ctx_, caller, op)) ++cluster_ops;
  if (cluster_ops == 0) return execute(peer, passed_pidfds, ops, connection);
  if (ops.size() > 1)
    return std::vector<proto::OpResult>(
        ops.size(), refusal(proto::Status::invalid_argument,
                            "a request that writes a cluster registry holds that one op alone (this one has " +
                                std::to_string(ops.size()) + " ops, " + std::to_string(cluster_ops) +
                                " of them on cluster registries); nothing was run"));
  Request req{caller, connection};
  auto now = start_parked(req, ops.front(), std::move(later));
  if (!now) return std::nullopt;
  return std::vector<proto::OpResult>{std::move(*now)};
}

std::optional<proto::OpResult> OpTable::start_parked(Request& req, const proto::Op& op, Later later) {
  if (shutdown_.halting())
    return refusal(proto::Status::segment_corrupt, "the broker found its segment corrupt and is restarting");
  if (auto allowed = authorize(ctx_, req.caller, op); !allowed) return std::move(allowed.error());
  const auto finish = [this, later = std::move(later), what = describe(op), pid = req.caller.pid](proto::OpResult r) {
    if (r.status == proto::Status::segment_corrupt)
      shutdown_.broken_invariant(what + " from pid " + std::to_string(pid) + ": " + r.message);
    later(std::vector<proto::OpResult>{std::move(r)});
  };
  try {
    auto now = start_cluster_op(ctx_, req, op, finish);
    if (now && now->status == proto::Status::registry_not_found) *now = naming_registry(op, std::move(*now));
    return now;
  } catch (const std::exception& e) {
    return refusal(proto::Status::internal_error, std::string("internal error: ") + e.what());
  }
}

proto::OpResult OpTable::run(Request& req, const proto::Op& op) {
  if (shutdown_.halting())
    return refusal(proto::Status::segment_corrupt, "the broker found its segment corrupt and is restarting");
  if (auto allowed = authorize(ctx_, req.caller, op); !allowed) return std::move(allowed.error());
  proto::OpResult res;
  try {
    res = dispatch(ctx_, req, op);
  } catch (const std::exception& e) {
    // Handlers run inside the io_context: an exception (out of memory) must
    // become an error reply, not unwind through io_context::run.
    return refusal(proto::Status::internal_error, std::string("internal error: ") + e.what());
  }
  if (res.status == proto::Status::registry_not_found) res = naming_registry(op, std::move(res));
  if (res.status == proto::Status::segment_corrupt)
    shutdown_.broken_invariant(describe(op) + " from pid " + std::to_string(req.caller.pid) + ": " + res.message);
  return res;
}

void OpTable::connection_closed(const MailboxSink& connection) noexcept { ctx_.mailboxes.close(&connection); }

// The broker watches every process that owns entries, under its identity.
bool OpTable::holds_state(const Peer& peer, const MailboxSink& connection) const {
  if (ctx_.mailboxes.is_open(&connection)) return true;
  const auto watched = ctx_.owners.watched_identity(peer.pid);
  return watched && watched->value == peer.identity.value;
}

}  // namespace shmreg::broker
