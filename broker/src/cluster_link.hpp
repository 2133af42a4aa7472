// The broker's link to etcd for cluster registries (docs/cluster.md): the
// EtcdClient, the broker's lease (granted with [cluster] lease_ttl, with
// P/hosts/<host> put under it and a LeaseKeeper refreshing it), and the
// writes of cluster names, which happen in etcd BEFORE the segment.
//
// Every etcd call runs on the link's own worker thread, one at a time, in
// the order asked; its outcome comes back to the broker's io_context by
// asio::post. The event loop never waits on etcd, so host-local requests are
// served at full speed whatever etcd does.
//
// Removals that must not be lost (the entries of a dead owner, whose local
// entries go at once: reap) are kept in a retry queue and tried again until
// etcd takes them; a compare on the value written means a retry never
// deletes a key another host or process holds by then.
//
// The lease: granted at start and whenever there is none; if the keeper
// learns it is gone (etcd unreachable past the TTL, or revoked), on_lease_lost
// runs on the loop (the broker withdraws its owners' cluster entries) and a
// new lease is granted once etcd answers again.
//
// Thread-safety: every public member is called on the io_context's thread;
// callbacks run there too. The destructor stops the worker (waiting for the
// call under way, at most its deadline).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster_keys.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "log.hpp"
#include "settings_cluster.hpp"

namespace shmreg::broker {

// One entry of a cluster registry as this broker writes it to etcd.
struct ClusterEntry {
  std::string registry;
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  bool duplicate = false;  // a duplicate registry: one key per entry
  // Set: release this key alone (the one a claim wrote), not every key of
  // pid under key.
  std::string etcd_key;
};

struct ClaimOutcome {
  enum class Kind { created, taken, unavailable, failed };
  Kind kind = Kind::failed;
  ClusterHolder holder;  // taken: who holds the name
  std::string etcd_key;  // created: the key written
  bool fresh = false;    // created: by this call (not found already ours)
  std::string message;   // unavailable, failed: etcd's error
};

struct ReleaseOutcome {
  bool ok = false;
  std::string message;  // !ok: etcd's error
};

// What `shmreg cluster status` shows of the link.
struct LinkStatus {
  std::string host;
  std::vector<std::string> endpoints;
  std::int64_t lease = 0;  // 0: none now
  std::int64_t lease_ttl_s = 0;
  std::int64_t ms_since_refresh = -1;  // -1: never refreshed
  std::size_t pending_removals = 0;
  std::uint64_t leases_lost = 0;
  std::string last_error;
};

// The etcd client's options for [cluster]: endpoints, attempt timeout, TLS
// files. The link and the mirror (cluster_mirror.hpp) each make a client of
// their own from it.
[[nodiscard]] cluster::ClientOptions client_options(const ClusterSection& c);

class ClusterLink {
 public:
  // Runs on the loop when the lease was found gone.
  using LeaseLost = std::function<void()>;

  // Makes the client (invalid endpoints or TLS files: an error) and starts
  // the worker, which grants the lease in the background.
  static std::expected<std::unique_ptr<ClusterLink>, std::string> start(boost::asio::io_context& io,
                                                                        const ClusterSection& config,
                                                                        const BrokerLog& log, LeaseLost on_lease_lost);
  ~ClusterLink();
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;

  [[nodiscard]] const ClusterSection& config() const noexcept;

  // Writes e to etcd under the lease, within [cluster] write_deadline: a
  // unique name only if absent (held by this host and e.pid under this
  // lease counts as created: a retry that finds its own write), a duplicate
  // entry as a key of its own. done runs on the loop.
  void claim(ClusterEntry e, std::function<void(ClaimOutcome)> done);
  // Removes the keys of entries (a duplicate registry's entry: every key of
  // its pid under its key) that are still theirs, in one transaction when
  // all are, within the write deadline. done runs on the loop.
  void release(std::vector<ClusterEntry> entries, std::function<void(ReleaseOutcome)> done);
  // Removes the keys of e.pid's entries under e.key whose values are among
  // values (a unique registry: e's key, if its value is one), within the
  // write deadline: unregister_match. done runs on the loop.
  void release_values(ClusterEntry e, std::set<std::string, std::less<>> values,
                      std::function<void(ReleaseOutcome)> done);
  // As release, but tried until etcd takes it (owner death); no answer.
  // Dropped when the lease is lost: the keys went with it.
  void release_later(std::vector<ClusterEntry> entries);

  [[nodiscard]] LinkStatus status() const;
  // The cluster as etcd describes it now (cluster_status.hpp), asked within
  // the write deadline on the worker; done gets the JSON on the loop.
  void describe(std::function<void(std::string)> done);

 private:
  struct Impl;
  explicit ClusterLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::broker
