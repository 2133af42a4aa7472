// The broker's link to etcd (see cluster_link.hpp).
#include "cluster_link.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "shmreg/cluster/etcd_client.hpp"
#include "cluster_status.hpp"
#include "shmreg/cluster/lease_keeper.hpp"

namespace shmreg::broker {

namespace {

using cluster::Clock;
using cluster::Deadline;

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// The worker's pause between two looks at the lease and the retry queue.
constexpr std::chrono::milliseconds kTick{250};

}  // namespace

cluster::ClientOptions client_options(const ClusterSection& c) {
  cluster::ClientOptions o;
  o.endpoints = c.endpoints;
  o.attempt_timeout = c.attempt_timeout;
  o.tls = cluster::TlsFiles{c.ca_file, c.cert_file, c.key_file};
  return o;
}

struct ClusterLink::Impl {
  Impl(boost::asio::io_context& i, ClusterSection c, const BrokerLog& l, LeaseLost lost, cluster::EtcdClient cl)
      : io(i), cfg(std::move(c)), log(l), on_lost(std::move(lost)), client(std::move(cl)), next_token(wall_ns() / 1000) {}

  // -- constant after construction
  boost::asio::io_context& io;
  const ClusterSection cfg;
  const BrokerLog& log;
  const LeaseLost on_lost;
  const std::uint64_t started_ns = wall_ns();

  // -- worker thread only
  cluster::EtcdClient client;
  std::optional<cluster::LeaseKeeper> keeper;
  cluster::LeaseId lease = 0;
  Clock::time_point granted_at{};
  // A lease given up while etcd could not be reached: revoked once it can,
  // so that its keys do not outlive the entries withdrawn here.
  cluster::LeaseId abandoned = 0;
  std::uint64_t next_token;

  // -- guarded by mu
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  std::deque<std::vector<ClusterEntry>> retry;
  bool stopping = false;
  LinkStatus st;

  std::thread worker;

  void run();
  void maintain(Deadline deadline);
  void check_lease();
  void grant(Deadline deadline);
  void retry_removals(Deadline deadline);
  void push(std::function<void()> job);
  void set_error(const std::string& e) {
    std::lock_guard lk(mu);
    st.last_error = e;
  }
  ClaimOutcome do_claim(const ClusterEntry& e, Deadline deadline);
  cluster::Status do_release(const std::vector<ClusterEntry>& entries, Deadline deadline);
  cluster::Status do_release_some(const std::vector<ClusterEntry>& entries, Deadline deadline);
  cluster::Status do_release_values(const ClusterEntry& e, const std::set<std::string, std::less<>>& values,
                                    Deadline deadline);
  Deadline write_deadline() const { return cluster::deadline_in(cfg.write_deadline); }
};

void ClusterLink::Impl::push(std::function<void()> job) {
  {
    std::lock_guard lk(mu);
    jobs.push_back(std::move(job));
  }
  cv.notify_one();
}

void ClusterLink::Impl::run() {
  std::unique_lock lk(mu);
  while (!stopping) {
    if (jobs.empty()) cv.wait_for(lk, kTick);
    if (stopping) break;
    std::function<void()> job;
    if (!jobs.empty()) {
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    lk.unlock();
    if (job) job();
    else maintain(write_deadline());
    lk.lock();
  }
}

// The lease first (a lost one is reported, a missing one granted), then the
// removals owed: a claim that follows a removal of the same name finds it done.
void ClusterLink::Impl::maintain(Deadline deadline) {
  check_lease();
  if (lease == 0) grant(deadline);
  if (lease != 0) retry_removals(deadline);
}

// Lost when etcd says so, and also when no refresh has been confirmed for
// a whole TTL: etcd may have let the lease expire without this host hearing
// of it, and another host may hold its names by now.
void ClusterLink::Impl::check_lease() {
  if (!keeper) return;
  const cluster::LeaseKeeper::State ks = keeper->state();
  const Clock::time_point confirmed = ks.refreshes > 0 ? std::max(ks.last_refresh, granted_at) : granted_at;
  const bool expired_here = Clock::now() - confirmed >= cfg.lease_ttl;
  if (!ks.lost && !expired_here) {
    std::lock_guard lk(mu);
    if (ks.refreshes > 0)
      st.ms_since_refresh =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ks.last_refresh).count();
    if (ks.ttl_seconds > 0) st.lease_ttl_s = ks.ttl_seconds;
    if (ks.last_error) st.last_error = ks.last_error->message;
    return;
  }
  keeper.reset();
  log("cluster: lease " + std::to_string(lease) + " is gone (" +
      (ks.lost ? std::string("etcd says so") : "no refresh confirmed for " + std::to_string(cfg.lease_ttl.count()) + " s") +
      "); withdrawing this host's cluster entries");
  if (!ks.lost) abandoned = lease;
  lease = 0;
  {
    std::lock_guard lk(mu);
    st.lease = 0;
    ++st.leases_lost;
    retry.clear();
  }
  boost::asio::post(io, on_lost);
}

void ClusterLink::Impl::grant(Deadline deadline) {
  if (abandoned != 0) {
    auto r = client.lease_revoke(abandoned, deadline);
    if (!r && r.error().code != cluster::Errc::lease_not_found) return set_error(r.error().message);
    abandoned = 0;
  }
  const Clock::time_point asked = Clock::now();
  auto l = client.lease_grant(cfg.lease_ttl.count(), deadline);
  if (!l) return set_error(l.error().message);
  auto hosts = client.put(hosts_key(cfg.prefix, cfg.host),
                          host_value(cfg.host, l->id, static_cast<std::uint32_t>(::getpid()), started_ns), l->id,
                          deadline);
  if (!hosts) {
    (void)client.lease_revoke(l->id, deadline);
    return set_error(hosts.error().message);
  }
  auto k = cluster::LeaseKeeper::start(client.options(), l->id,
                                       std::chrono::duration_cast<std::chrono::milliseconds>(cfg.lease_ttl) / 3);
  if (!k) return set_error(k.error().message);
  keeper.emplace(std::move(*k));
  lease = l->id;
  granted_at = asked;
  log("cluster: host '" + cfg.host + "' holds lease " + std::to_string(lease) + " (TTL " +
      std::to_string(l->ttl_seconds) + " s)");
  std::lock_guard lk(mu);
  st.lease = lease;
  st.lease_ttl_s = l->ttl_seconds;
  st.last_error.clear();
}

void ClusterLink::Impl::retry_removals(Deadline deadline) {
  for (;;) {
    std::vector<ClusterEntry> e;
    {
      std::lock_guard lk(mu);
      if (retry.empty()) return;
      e = retry.front();
    }
    if (auto r = do_release(e, deadline); !r) {
      // To the back of the queue: a removal etcd keeps refusing must not
      // hold up the deaths queued after it.
      std::lock_guard lk(mu);
      if (!retry.empty()) {
        retry.push_back(std::move(retry.front()));
        retry.pop_front();
      }
      return set_error(r.error().message);
    }
    std::lock_guard lk(mu);
    retry.pop_front();
  }
}

ClaimOutcome ClusterLink::Impl::do_claim(const ClusterEntry& e, Deadline deadline) {
  ClaimOutcome out;
  const auto unavailable = [&](const std::string& why) {
    out.kind = ClaimOutcome::Kind::unavailable;
    out.message = why;
    set_error(why);
    return out;
  };
  if (Clock::now() >= deadline) return unavailable("the write deadline passed before etcd could be asked");
  maintain(deadline);
  if (lease == 0) {
    std::lock_guard lk(mu);
    out.kind = ClaimOutcome::Kind::unavailable;
    out.message = "this broker holds no etcd lease: " + st.last_error;
    return out;
  }
  const std::string value = entry_value(ClusterHolder{cfg.host, e.pid, e.uid, e.value});
  if (e.duplicate) {
    out.etcd_key = dup_key(cfg.prefix, e.registry, e.key, cfg.host, e.pid, next_token++);
    auto r = client.put(out.etcd_key, value, lease, deadline);
    if (!r) return unavailable(r.error().message);
    out.kind = ClaimOutcome::Kind::created;
    out.fresh = true;
    return out;
  }
  out.etcd_key = unique_key(cfg.prefix, e.registry, e.key);
  auto r = client.create_if_absent(out.etcd_key, value, lease, deadline);
  if (!r) {
    if (r.error().code == cluster::Errc::cluster_unavailable) return unavailable(r.error().message);
    out.kind = ClaimOutcome::Kind::failed;
    out.message = r.error().message;
    return out;
  }
  if (r->created) {
    out.kind = ClaimOutcome::Kind::created;
    out.fresh = true;
    return out;
  }
  auto holder = parse_entry_value(r->holder.value);
  // Our own write, found by a retry on another endpoint, or left by this
  // host's previous broker for a process still alive: ours, moved to our lease.
  if (holder && holder->host == cfg.host && holder->pid == e.pid) {
    if (r->holder.lease == lease) {
      out.kind = ClaimOutcome::Kind::created;
      return out;
    }
    cluster::Txn move;
    move.compare.push_back(cluster::Compare{out.etcd_key, cluster::Compare::Target::mod_revision,
                                            cluster::Compare::Op::equal, r->holder.mod_revision, {}});
    move.success.push_back(cluster::PutOp{out.etcd_key, value, lease});
    auto m = client.txn(move, deadline);
    if (!m) return unavailable(m.error().message);
    if (m->succeeded) {
      out.kind = ClaimOutcome::Kind::created;
      return out;
    }
  }
  out.kind = ClaimOutcome::Kind::taken;
  out.holder = holder ? *holder : ClusterHolder{"(unreadable holder)", 0, 0, {}};
  return out;
}

// etcd refuses a transaction of more than --max-txn-ops (128 by default)
// compares or operations; an entry takes at most one of each.
constexpr std::size_t kEntriesPerTxn = 64;

cluster::Status ClusterLink::Impl::do_release(const std::vector<ClusterEntry>& entries, Deadline deadline) {
  for (std::size_t at = 0; at < entries.size(); at += kEntriesPerTxn) {
    const auto end = entries.begin() + static_cast<std::ptrdiff_t>(std::min(entries.size(), at + kEntriesPerTxn));
    if (auto r = do_release_some({entries.begin() + static_cast<std::ptrdiff_t>(at), end}, deadline); !r) return r;
  }
  return {};
}

// One transaction: every unique key compared with the value this host
// wrote, and deleted with the ranges of duplicate entries. When a compare
// fails (a key is no longer ours), each key goes on its own, by its compare.
cluster::Status ClusterLink::Impl::do_release_some(const std::vector<ClusterEntry>& entries, Deadline deadline) {
  cluster::Txn all;
  std::vector<std::pair<std::string, std::string>> unique;  // key, the value we wrote
  for (const ClusterEntry& e : entries) {
    const std::string value = entry_value(ClusterHolder{cfg.host, e.pid, e.uid, e.value});
    if (!e.etcd_key.empty() || !e.duplicate) {
      const std::string key = e.etcd_key.empty() ? unique_key(cfg.prefix, e.registry, e.key) : e.etcd_key;
      unique.emplace_back(key, value);
      all.compare.push_back(cluster::Compare{key, cluster::Compare::Target::value, cluster::Compare::Op::equal, 0,
                                             value});
      all.success.push_back(cluster::DeleteOp{key, {}});
    } else {
      const std::string from = dup_owner_prefix(cfg.prefix, e.registry, e.key, cfg.host, e.pid);
      const bool listed = std::any_of(all.success.begin(), all.success.end(), [&](const cluster::TxnOp& op) {
        return std::get<cluster::DeleteOp>(op).key == from;
      });
      if (!listed) all.success.push_back(cluster::DeleteOp{from, cluster::prefix_range_end(from)});
    }
  }
  auto r = client.txn(all, deadline);
  if (!r) return std::unexpected(r.error());
  if (r->succeeded) return {};
  for (const auto& [key, value] : unique)
    if (auto one = client.delete_if_value(key, value, deadline); !one) return std::unexpected(one.error());
  cluster::Txn ranges;
  for (const auto& op : all.success)
    if (!std::get<cluster::DeleteOp>(op).range_end.empty()) ranges.success.push_back(op);
  if (ranges.success.empty()) return {};
  if (auto rr = client.txn(ranges, deadline); !rr) return std::unexpected(rr.error());
  return {};
}

// The duplicate entries' keys whose values match, each compared with the
// revision read, in one transaction; read again once if one changed between.
cluster::Status ClusterLink::Impl::do_release_values(const ClusterEntry& e,
                                                     const std::set<std::string, std::less<>>& values,
                                                     Deadline deadline) {
  if (!e.duplicate) {
    ClusterEntry one = e;
    one.value = *values.begin();
    return do_release({one}, deadline);
  }
  const std::string from = dup_owner_prefix(cfg.prefix, e.registry, e.key, cfg.host, e.pid);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = client.get_prefix(from, cluster::ReadMode::linearizable, deadline);
    if (!r) return std::unexpected(r.error());
    // Transactions of at most kEntriesPerTxn keys; any one whose compare
    // failed makes the whole read and delete run once more.
    std::vector<cluster::Txn> txns(1);
    for (const cluster::KeyValue& kv : r->kvs) {
      auto holder = parse_entry_value(kv.value);
      if (!holder || !values.contains(holder->value)) continue;
      if (txns.back().success.size() == kEntriesPerTxn) txns.emplace_back();
      txns.back().compare.push_back(cluster::Compare{kv.key, cluster::Compare::Target::mod_revision,
                                                     cluster::Compare::Op::equal, kv.mod_revision, {}});
      txns.back().success.push_back(cluster::DeleteOp{kv.key, {}});
    }
    bool all_done = true;
    for (const cluster::Txn& t : txns) {
      if (t.success.empty()) continue;
      auto done = client.txn(t, deadline);
      if (!done) return std::unexpected(done.error());
      all_done = all_done && done->succeeded;
    }
    if (all_done) return {};
  }
  return {};
}

std::expected<std::unique_ptr<ClusterLink>, std::string> ClusterLink::start(boost::asio::io_context& io,
                                                                             const ClusterSection& config,
                                                                             const BrokerLog& log,
                                                                             LeaseLost on_lease_lost) {
  auto client = cluster::EtcdClient::make(client_options(config));
  if (!client) return std::unexpected("cluster: " + client.error().message);
  auto impl = std::make_unique<Impl>(io, config, log, std::move(on_lease_lost), std::move(*client));
  impl->st.host = config.host;
  impl->st.endpoints = config.endpoints;
  impl->st.lease_ttl_s = config.lease_ttl.count();
  Impl* raw = impl.get();
  impl->worker = std::thread([raw] {
    raw->maintain(raw->write_deadline());
    raw->run();
  });
  return std::unique_ptr<ClusterLink>(new ClusterLink(std::move(impl)));
}

ClusterLink::ClusterLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClusterLink::~ClusterLink() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_one();
  if (impl_->worker.joinable()) impl_->worker.join();
}

const ClusterSection& ClusterLink::config() const noexcept { return impl_->cfg; }

void ClusterLink::claim(ClusterEntry e, std::function<void(ClaimOutcome)> done) {
  Impl* impl = impl_.get();
  const Deadline deadline = impl->write_deadline();
  impl->push([impl, e = std::move(e), done = std::move(done), deadline]() mutable {
    ClaimOutcome out = impl->do_claim(e, deadline);
    boost::asio::post(impl->io, [done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void ClusterLink::release(std::vector<ClusterEntry> e, std::function<void(ReleaseOutcome)> done) {
  Impl* impl = impl_.get();
  const Deadline deadline = impl->write_deadline();
  impl->push([impl, e = std::move(e), done = std::move(done), deadline]() mutable {
    ReleaseOutcome out;
    if (Clock::now() >= deadline) {
      out.message = "the write deadline passed before etcd could be asked";
    } else {
      impl->maintain(deadline);
      auto r = impl->do_release(e, deadline);
      out.ok = r.has_value();
      if (!r) out.message = r.error().message;
    }
    boost::asio::post(impl->io, [done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void ClusterLink::release_values(ClusterEntry e, std::set<std::string, std::less<>> values,
                                 std::function<void(ReleaseOutcome)> done) {
  Impl* impl = impl_.get();
  const Deadline deadline = impl->write_deadline();
  impl->push([impl, e = std::move(e), values = std::move(values), done = std::move(done), deadline]() mutable {
    ReleaseOutcome out;
    if (Clock::now() >= deadline) {
      out.message = "the write deadline passed before etcd could be asked";
    } else {
      impl->maintain(deadline);
      auto r = impl->do_release_values(e, values, deadline);
      out.ok = r.has_value();
      if (!r) out.message = r.error().message;
    }
    boost::asio::post(impl->io, [done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void ClusterLink::release_later(std::vector<ClusterEntry> e) {
  {
    std::lock_guard lk(impl_->mu);
    impl_->retry.push_back(std::move(e));
  }
  impl_->cv.notify_one();
}

void ClusterLink::describe(std::function<void(std::string)> done) {
  Impl* impl = impl_.get();
  const Deadline deadline = impl->write_deadline();
  impl->push([this, impl, done = std::move(done), deadline]() mutable {
    impl->check_lease();
    std::string text = describe_cluster(impl->client, impl->cfg, impl->lease, status(), deadline);
    boost::asio::post(impl->io, [done = std::move(done), text = std::move(text)]() mutable { done(std::move(text)); });
  });
}

LinkStatus ClusterLink::status() const {
  std::lock_guard lk(impl_->mu);
  LinkStatus s = impl_->st;
  s.pending_removals = impl_->retry.size();
  return s;
}

}  // namespace shmreg::broker
