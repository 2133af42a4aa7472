// LeaseKeeper: a thread that keeps one etcd lease alive, refreshing it at a
// fixed interval through a client of its own, until it is destroyed or the
// lease is found gone.
//
//   auto keeper = LeaseKeeper::start(options, lease.id, std::chrono::seconds(ttl) / 3);
//   ...
//   if (keeper->state().lost) { /* the lease expired: its keys are gone */ }
//
// A refresh that fails for want of an endpoint is retried at the next tick;
// one that learns the lease is gone (lease_not_found) stops the thread and
// sets lost, for good. The keeper never revokes the lease: its owner does,
// with EtcdClient::lease_revoke, when it leaves in an orderly way.
//
// Thread-safety: state() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "shmreg/cluster/errc.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/types.hpp"

namespace shmreg::cluster {

class LeaseKeeper {
 public:
  struct State {
    bool lost = false;                 // lease_not_found: the lease and its keys are gone
    std::int64_t ttl_seconds = 0;      // the TTL the last refresh set
    Clock::time_point last_refresh{};  // when etcd last confirmed the lease (epoch: never)
    std::uint64_t refreshes = 0;       // confirmed refreshes so far
    std::optional<Error> last_error;   // the last refresh's failure, until one succeeds
  };

  // invalid_argument for bad options or an interval that is not positive.
  // Each refresh has the interval as its deadline.
  static Result<LeaseKeeper> start(const ClientOptions& options, LeaseId id, std::chrono::milliseconds interval);

  LeaseKeeper(LeaseKeeper&&) noexcept;
  LeaseKeeper& operator=(LeaseKeeper&&) noexcept;
  // Stops the thread (waits for a refresh under way, at most one interval).
  ~LeaseKeeper();

  State state() const;

 private:
  struct Impl;
  explicit LeaseKeeper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::cluster
