#include "shmreg/cluster/lease_keeper.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace shmreg::cluster {

struct LeaseKeeper::Impl {
  Impl(EtcdClient c, LeaseId lease, std::chrono::milliseconds every)
      : client(std::move(c)), id(lease), interval(every) {}

  // Constant after construction.
  EtcdClient client;  // used by the thread only
  const LeaseId id;
  const std::chrono::milliseconds interval;

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mu
  State state;            // guarded by mu
  std::thread thread;

  void run() {
    std::unique_lock lock(mu);
    while (!stopping && !state.lost) {
      lock.unlock();
      auto refreshed = client.lease_keep_alive(id, deadline_in(interval));
      lock.lock();
      if (refreshed) {
        state.ttl_seconds = refreshed->ttl_seconds;
        state.last_refresh = Clock::now();
        ++state.refreshes;
        state.last_error.reset();
      } else {
        state.lost = refreshed.error().code == Errc::lease_not_found;
        state.last_error = std::move(refreshed.error());
      }
      wake.wait_for(lock, interval, [&] { return stopping; });
    }
  }
};

Result<LeaseKeeper> LeaseKeeper::start(const ClientOptions& options, LeaseId id, std::chrono::milliseconds interval) {
  if (interval <= std::chrono::milliseconds::zero()) {
    return fail(Errc::invalid_argument, "etcd lease keeper: the interval must be positive");
  }
  auto client = EtcdClient::make(options);
  if (!client) return std::unexpected(std::move(client.error()));
  auto impl = std::make_unique<Impl>(std::move(*client), id, interval);
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  return LeaseKeeper(std::move(impl));
}

LeaseKeeper::LeaseKeeper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LeaseKeeper::LeaseKeeper(LeaseKeeper&&) noexcept = default;
LeaseKeeper& LeaseKeeper::operator=(LeaseKeeper&& other) noexcept {
  if (this != &other) {
    LeaseKeeper old(std::move(*this));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

LeaseKeeper::~LeaseKeeper() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

LeaseKeeper::State LeaseKeeper::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

}  // namespace shmreg::cluster
