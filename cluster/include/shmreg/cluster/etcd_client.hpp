// EtcdClient: synchronous calls to an etcd v3 cluster over its JSON gateway
// (HTTP/1.1, Boost.Beast), with endpoint failover and a deadline on every
// call. docs/cluster.md says why this transport and what each call promises.
//
//   auto client = EtcdClient::make({.endpoints = {"http://10.0.0.1:2379", "http://10.0.0.2:2379"}});
//   auto lease = client->lease_grant(5, deadline_in(2s));
//   auto r = client->create_if_absent("/shmreg/prod/services/db", "node-a:412", lease->id, deadline_in(2s));
//   if (r && !r->created) { /* r->holder names who has it */ }
//
// Failover: a call goes to the endpoint that answered last; when it refuses,
// times out (options.attempt_timeout), answers "no leader" or answers
// garbage, the call moves to the next endpoint, round after round, until one
// answers or the deadline passes. Then it fails with cluster_unavailable (or
// bad_reply, when one endpoint answered garbage), naming every endpoint and
// its last error.
//
// A conditional write retried on another endpoint after a timeout may have
// been applied by the first: create_if_absent then reports the key as held,
// and the holder's lease (holder.lease) is the caller's own. Compare it.
//
// Thread-safety: calls on one client are serialized by an internal mutex
// (one connection); use one client per thread for parallel calls. Watch and
// LeaseKeeper (watch.hpp, lease_keeper.hpp) have connections of their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "shmreg/cluster/errc.hpp"
#include "shmreg/cluster/types.hpp"

namespace shmreg::cluster {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline deadline_in(std::chrono::milliseconds d) { return Clock::now() + d; }

// Files for https endpoints: PEM, read when the client is made.
struct TlsFiles {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate; empty: none
  std::string key_file;   // its private key
};

struct ClientOptions {
  // "http://host:port" (or https://); at least one.
  std::vector<std::string> endpoints;
  // The longest one endpoint may take to answer before the call moves on.
  std::chrono::milliseconds attempt_timeout{1000};
  // Bound on one reply's body (and on one watch message); larger is bad_reply.
  std::size_t max_reply_bytes = std::size_t{4} << 20;
  TlsFiles tls;
};

class EtcdClient {
 public:
  // invalid_argument when an endpoint is not http(s)://host:port, when
  // there is none, or when a TLS file cannot be loaded.
  static Result<EtcdClient> make(ClientOptions options);

  EtcdClient(EtcdClient&&) noexcept;
  EtcdClient& operator=(EtcdClient&&) noexcept;
  ~EtcdClient();

  const ClientOptions& options() const noexcept;

  // --- Reads.
  Result<RangeResult> get(const std::string& key, ReadMode mode, Deadline deadline);
  // Every key that starts with prefix (every key when prefix is empty).
  Result<RangeResult> get_prefix(const std::string& prefix, ReadMode mode, Deadline deadline);

  // --- Writes.
  // The register primitive: creates key = value attached to lease (0: none)
  // if the key is absent (create_revision == 0); else returns its holder.
  Result<CreateResult> create_if_absent(const std::string& key, const std::string& value, LeaseId lease,
                                        Deadline deadline);
  // Deletes key if its mod_revision is still mod_revision.
  Result<CompareDeleteResult> delete_if_mod_revision(const std::string& key, std::int64_t mod_revision,
                                                     Deadline deadline);
  // Deletes key if its value is still value.
  Result<CompareDeleteResult> delete_if_value(const std::string& key, const std::string& value,
                                              Deadline deadline);
  Result<TxnResult> txn(const Txn& txn, Deadline deadline);
  // Unconditional; the header's revision is the put's.
  Result<ResponseHeader> put(const std::string& key, const std::string& value, LeaseId lease,
                             Deadline deadline);
  // Compacts the history up to revision (watches from before it then fail
  // with compacted).
  Status compact(std::int64_t revision, Deadline deadline);

  // --- Leases. TTLs in seconds, as etcd counts them (at least 1; etcd
  // raises a TTL below its minimum to that minimum).
  Result<Lease> lease_grant(std::int64_t ttl_seconds, Deadline deadline);
  // One refresh; lease_not_found when it has expired or was revoked.
  Result<Lease> lease_keep_alive(LeaseId id, Deadline deadline);
  Status lease_revoke(LeaseId id, Deadline deadline);
  Result<LeaseTimeToLive> lease_time_to_live(LeaseId id, Deadline deadline);

  // --- The cluster: the members, the leader, and each configured
  // endpoint's answer (each asked with attempt_timeout, within deadline).
  // Never fails as a whole: an endpoint that does not answer is unhealthy;
  // the members are listed by the first endpoint that answers (none: empty).
  ClusterStatus status(Deadline deadline);

 private:
  struct Impl;
  explicit EtcdClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::cluster
