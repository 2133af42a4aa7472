#include "shmreg/cluster/etcd_client.hpp"

#include <map>
#include <mutex>

#include "codec.hpp"
#include "failover.hpp"
#include "http_connection.hpp"

namespace shmreg::cluster {

using detail::Json;

struct EtcdClient::Impl {
  ClientOptions options;
  std::mutex mu;
  std::vector<detail::HttpConnection> connections;  // one per endpoint; guarded by mu
  std::size_t current = 0;                          // the endpoint that answered last; guarded by mu

  // POSTs request to target on the endpoints in turn until one answers
  // with a reply that decode (Json -> T, throwing ReplyError) accepts.
  template <class Decode>
  auto call(std::string_view name, std::string_view target, const Json& request, Deadline deadline,
            Decode decode) -> Result<decltype(decode(Json{}))> {
    std::lock_guard lock(mu);
    const std::string body = request.dump();
    std::optional<decltype(decode(Json{}))> decoded;
    auto served = detail::try_endpoints(
        name, options.endpoints, current, options.attempt_timeout, deadline,
        [&](std::size_t i, Deadline attempt_deadline) -> detail::AttemptResult {
          auto& conn = connections[i];
          Json reply;
          auto judged = detail::judge_reply(name, conn.endpoint(), conn.post(target, body, attempt_deadline), reply);
          if (!std::holds_alternative<std::monostate>(judged)) return judged;
          try {
            decoded.emplace(decode(reply));
          } catch (const detail::ReplyError& e) {
            conn.close();
            return detail::AttemptFailed{true, "an unexpected reply: " + std::string(e.what())};
          }
          return std::monostate{};
        });
    if (!served) return std::unexpected(std::move(served.error()));
    current = *served;
    return std::move(*decoded);
  }
};

EtcdClient::EtcdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdClient::EtcdClient(EtcdClient&&) noexcept = default;
EtcdClient& EtcdClient::operator=(EtcdClient&&) noexcept = default;
EtcdClient::~EtcdClient() = default;

const ClientOptions& EtcdClient::options() const noexcept { return impl_->options; }

Result<EtcdClient> EtcdClient::make(ClientOptions options) {
  if (options.endpoints.empty()) return fail(Errc::invalid_argument, "etcd client: no endpoint given");
  if (options.attempt_timeout <= std::chrono::milliseconds::zero()) {
    return fail(Errc::invalid_argument, "etcd client: attempt_timeout must be positive");
  }
  if (options.max_reply_bytes < 1024) {
    return fail(Errc::invalid_argument, "etcd client: max_reply_bytes must be at least 1024");
  }
  auto impl = std::make_unique<Impl>();
  std::shared_ptr<detail::TlsContext> tls;
  for (const auto& url : options.endpoints) {
    auto endpoint = detail::parse_endpoint(url);
    if (!endpoint) return std::unexpected(std::move(endpoint.error()));
    if (endpoint->tls && !tls) {
      auto made = detail::make_tls_context(options.tls);
      if (!made) return std::unexpected(std::move(made.error()));
      tls = std::move(*made);
    }
    impl->connections.emplace_back(std::move(*endpoint), options.max_reply_bytes, endpoint->tls ? tls : nullptr);
  }
  impl->options = std::move(options);
  return EtcdClient(std::move(impl));
}

Result<RangeResult> EtcdClient::get(const std::string& key, ReadMode mode, Deadline deadline) {
  if (key.empty()) return fail(Errc::invalid_argument, "etcd range: the key is empty");
  return impl_->call("range", "/v3/kv/range", detail::range_request(key, {}, mode), deadline, detail::read_range);
}

Result<RangeResult> EtcdClient::get_prefix(const std::string& prefix, ReadMode mode, Deadline deadline) {
  const std::string key = prefix.empty() ? std::string(1, '\0') : prefix;
  return impl_->call("range", "/v3/kv/range", detail::range_request(key, detail::prefix_range_end(prefix), mode),
                     deadline, detail::read_range);
}

Result<TxnResult> EtcdClient::txn(const Txn& txn, Deadline deadline) {
  return impl_->call("txn", "/v3/kv/txn", detail::txn_request(txn), deadline, detail::read_txn);
}

Result<CreateResult> EtcdClient::create_if_absent(const std::string& key, const std::string& value, LeaseId lease,
                                                  Deadline deadline) {
  if (key.empty()) return fail(Errc::invalid_argument, "etcd txn: the key is empty");
  Txn t{{Compare{key, Compare::Target::create_revision, Compare::Op::equal, 0, {}}},
        {PutOp{key, value, lease}},
        {RangeOp{key, {}}}};
  auto r = txn(t, deadline);
  if (!r) return std::unexpected(std::move(r.error()));
  CreateResult out{r->header, r->succeeded, {}};
  if (!r->succeeded) {
    // The key went between the compare and the range: both ran at one
    // revision, so this cannot be, unless the reply is not etcd's.
    if (r->responses.size() != 1 || r->responses[0].kvs.size() != 1) {
      return fail(Errc::bad_reply, "etcd txn: create_if_absent failed its compare but the reply holds no key");
    }
    out.holder = std::move(r->responses[0].kvs[0]);
  }
  return out;
}

Result<CompareDeleteResult> EtcdClient::delete_if_mod_revision(const std::string& key, std::int64_t mod_revision,
                                                               Deadline deadline) {
  auto r = txn(Txn{{Compare{key, Compare::Target::mod_revision, Compare::Op::equal, mod_revision, {}}},
                   {DeleteOp{key, {}}},
                   {}},
               deadline);
  if (!r) return std::unexpected(std::move(r.error()));
  return CompareDeleteResult{r->header, r->succeeded && !r->responses.empty() && r->responses[0].deleted > 0};
}

Result<CompareDeleteResult> EtcdClient::delete_if_value(const std::string& key, const std::string& value,
                                                        Deadline deadline) {
  auto r = txn(Txn{{Compare{key, Compare::Target::value, Compare::Op::equal, 0, value}}, {DeleteOp{key, {}}}, {}},
               deadline);
  if (!r) return std::unexpected(std::move(r.error()));
  return CompareDeleteResult{r->header, r->succeeded && !r->responses.empty() && r->responses[0].deleted > 0};
}

Result<ResponseHeader> EtcdClient::put(const std::string& key, const std::string& value, LeaseId lease,
                                       Deadline deadline) {
  if (key.empty()) return fail(Errc::invalid_argument, "etcd put: the key is empty");
  Json req = {{"key", detail::base64_encode(key)}, {"value", detail::base64_encode(value)}};
  if (lease != 0) req["lease"] = detail::int64_string(lease);
  return impl_->call("put", "/v3/kv/put", req, deadline, detail::read_header);
}

Status EtcdClient::compact(std::int64_t revision, Deadline deadline) {
  auto r = impl_->call("compaction", "/v3/kv/compaction", {{"revision", detail::int64_string(revision)}}, deadline,
                       detail::read_header);
  if (!r) return std::unexpected(std::move(r.error()));
  return {};
}

Result<Lease> EtcdClient::lease_grant(std::int64_t ttl_seconds, Deadline deadline) {
  if (ttl_seconds < 1) return fail(Errc::invalid_argument, "etcd lease grant: the TTL must be at least 1 second");
  auto r = impl_->call("lease grant", "/v3/lease/grant", {{"TTL", detail::int64_string(ttl_seconds)}}, deadline,
                       detail::read_lease);
  if (r && r->id == 0) return fail(Errc::bad_reply, "etcd lease grant: the reply has no lease ID");
  return r;
}

Result<Lease> EtcdClient::lease_keep_alive(LeaseId id, Deadline deadline) {
  // A stream of one request: the reply is {"result": {...}} (or an error).
  auto r = impl_->call("lease keep-alive", "/v3/lease/keepalive", {{"ID", detail::int64_string(id)}}, deadline,
                       [id](const Json& reply) {
                         auto lease = detail::read_lease(detail::object_field(reply, "result"));
                         if (lease.id != id) throw detail::ReplyError("the reply is about another lease");
                         return lease;
                       });
  if (r && r->ttl_seconds <= 0) {
    return fail(Errc::lease_not_found, "etcd lease keep-alive: lease " + std::to_string(id) + " has expired or was revoked");
  }
  return r;
}

Status EtcdClient::lease_revoke(LeaseId id, Deadline deadline) {
  auto r = impl_->call("lease revoke", "/v3/lease/revoke", {{"ID", detail::int64_string(id)}}, deadline,
                       detail::read_header);
  if (!r) return std::unexpected(std::move(r.error()));
  return {};
}

Result<LeaseTimeToLive> EtcdClient::lease_time_to_live(LeaseId id, Deadline deadline) {
  auto r = impl_->call("lease time-to-live", "/v3/lease/timetolive",
                       {{"ID", detail::int64_string(id)}, {"keys", true}}, deadline, [id](const Json& reply) {
                         auto ttl = detail::read_time_to_live(reply);
                         if (ttl.id != id) throw detail::ReplyError("the reply is about another lease");
                         return ttl;
                       });
  // etcd answers a TTL of -1 for a lease it does not have.
  if (r && r->ttl_seconds < 0) {
    return fail(Errc::lease_not_found, "etcd lease time-to-live: lease " + std::to_string(id) + " has expired or was revoked");
  }
  return r;
}

ClusterStatus EtcdClient::status(Deadline deadline) {
  // Each endpoint is asked on its own (no failover: its own answer is the
  // point), each within attempt_timeout; the member list comes from the
  // first that answers.
  ClusterStatus out;
  std::lock_guard lock(impl_->mu);
  std::map<std::uint64_t, int> votes;
  for (auto& conn : impl_->connections) {
    EndpointStatus st;
    st.endpoint = conn.endpoint().url;
    const Deadline attempt = std::min(deadline, Clock::now() + impl_->options.attempt_timeout);
    Json reply;
    auto judged = detail::judge_reply("status", conn.endpoint(), conn.post("/v3/maintenance/status", "{}", attempt), reply);
    if (auto* failed = std::get_if<detail::AttemptFailed>(&judged)) {
      st.error = failed->reason;
    } else if (auto* error = std::get_if<Error>(&judged)) {
      st.error = error->message;
    } else {
      try {
        detail::read_endpoint_status(reply, st);
        st.healthy = true;
        if (st.leader_id != 0) ++votes[st.leader_id];
      } catch (const detail::ReplyError& e) {
        st.error = "an unexpected reply: " + std::string(e.what());
      }
    }
    if (st.healthy && out.members.empty()) {
      Json members;
      auto listed = conn.post("/v3/cluster/member/list", "{}", attempt);
      if (std::holds_alternative<std::monostate>(detail::judge_reply("member list", conn.endpoint(), listed, members))) {
        try {
          out.members = detail::read_members(members);
        } catch (const detail::ReplyError&) {
          out.members.clear();  // the next endpoint that answers may list them
        }
      }
    }
    out.endpoints.push_back(std::move(st));
  }
  int best = 0;
  for (const auto& [leader, n] : votes) {
    if (n > best) {
      best = n;
      out.leader_id = leader;
    }
  }
  return out;
}

}  // namespace shmreg::cluster
