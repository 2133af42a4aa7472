// ClusterMirror (cluster_mirror.hpp): the reading thread and the writes it
// posts to the broker's event loop.
#include "cluster_mirror.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "cluster_keys.hpp"
#include "shmreg/cluster/watch.hpp"

namespace shmreg::broker {

namespace asio = boost::asio;

namespace {

// A key from etcd as a log line may show it: bytes outside printable ASCII
// as \xNN, at most 200 of them (the rest counted).
std::string printable(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : raw.substr(0, 200)) {
    const auto b = static_cast<unsigned char>(ch);
    if (b >= 0x20 && b < 0x7f && b != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  if (raw.size() > 200) out += "... (" + std::to_string(raw.size()) + " bytes)";
  return out;
}

// How often a put held back by a local holder of its key is tried again.
constexpr std::chrono::milliseconds kHeldRetry{250};

}  // namespace

// Touched only on the loop, except `stopped`, which stop() sets from
// whichever thread calls it.
struct ClusterMirror::Applier {
  // What one etcd key put in the segment.
  struct Mirrored {
    std::uint32_t registry = 0;
    std::string key, host, value;
    std::uint32_t pid = 0;
    std::uint64_t version = 0;
  };
  Applier(asio::io_context& io, shm::SegmentWriter& w, const BrokerLog& l) : writer(w), log(l), retry(io) {}

  void apply_snapshot(std::vector<Change> changes, std::int64_t revision);
  void apply_events(std::vector<Change> changes);
  void put(const Change& c);
  void remove(const std::string& etcd_key);
  // Puts again, every kHeldRetry, what `held` keeps (see there).
  void arm_retry(std::shared_ptr<Applier> self);

  shm::SegmentWriter& writer;
  const BrokerLog& log;
  std::unordered_map<std::string, Mirrored> mirrored;
  // Puts refused for a reason that may pass: a process of this host holds
  // the unique key in the segment (etcd serializes the name, so that holder
  // is on its way out: its etcd key is deleted before its entry, or its
  // lease is lost and its entries are being withdrawn), or the registry,
  // the owner or host table or the segment is full. Each is tried again
  // until it lands, or until a later change of its etcd key or a re-read
  // replaces it. Without this the remote name would be missing here until
  // the next re-read, which may never come.
  std::unordered_map<std::string, Change> held;
  asio::steady_timer retry;
  bool retry_armed = false;
  ClusterMirrorStats stats;
  std::atomic<bool> stopped{false};
};

ClusterMirror::ClusterMirror(asio::io_context& io, shm::SegmentWriter& writer, const BrokerLog& log,
                             ClusterMirrorConfig config)
    : io_(io), log_(log), config_(std::move(config)), applier_(std::make_shared<Applier>(io, writer, log)) {
  for (const auto& r : config_.registries) kinds_.emplace(r.name, r.kind);
}

ClusterMirror::~ClusterMirror() { stop(); }

const ClusterMirrorStats& ClusterMirror::stats() const noexcept { return applier_->stats; }

template <class Fn>
void ClusterMirror::on_loop(Fn fn) {
  asio::post(io_, [applier = applier_, fn = std::move(fn)]() mutable {
    if (applier->stopped) return;
    fn(*applier);
    applier->arm_retry(applier);
  });
}

bool ClusterMirror::start() {
  if (thread_.joinable()) return true;
  if (auto probe = cluster::EtcdClient::make(config_.client); !probe) {
    log_("cluster mirror: cannot use the etcd endpoints: " + probe.error().message);
    return false;
  }
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void ClusterMirror::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  applier_->stopped = true;
}

void ClusterMirror::wait_backoff() {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, config_.backoff, [this] { return stopping_.load(); });
}

void ClusterMirror::log_async(std::string line) {
  on_loop([line = std::move(line)](Applier& a) { a.log("cluster mirror: " + line); });
}

// -- the thread ------------------------------------------------------------------------

void ClusterMirror::run() {
  auto client = cluster::EtcdClient::make(config_.client);
  if (!client) return;  // start() checked the same options
  while (!stopping_) {
    if (read_and_watch(*client)) continue;
    wait_backoff();
  }
}

bool ClusterMirror::decode(const cluster::KeyValue& kv, Change& out) {
  bool is_entry = false;
  auto where = parse_mirror_key(config_.prefix, kv.key, is_entry);
  if (!is_entry && where) return false;  // P/hosts/ and anything else that is not an entry
  auto skip = [&](const std::string& why) {
    log_async("skipped " + printable(kv.key) + " at revision " + std::to_string(kv.mod_revision) + ": " + why);
    on_loop([](Applier& a) { ++a.stats.skipped; });
    return false;
  };
  if (!where) return skip(where.error());
  const auto kind = kinds_.find(where->registry);
  if (kind == kinds_.end()) return false;  // not a cluster registry here
  if (kind->second != where->kind) return skip("the registry's kind here is the other one");
  auto entry = parse_mirror_entry(std::move(*where), kv.value);
  if (!entry) return skip(entry.error());
  if (entry->host == config_.host) return false;  // our own: a local entry already
  out.etcd_key = kv.key;
  out.revision = kv.mod_revision;
  out.deleted = false;
  out.entry = std::move(*entry);
  return true;
}

// One read of P/, applied as a reconcile, then the watch from the read's
// revision + 1 until it fails or the mirror stops. False when etcd could not
// be read (the caller backs off); true when the watch ended (read again now).
bool ClusterMirror::read_and_watch(cluster::EtcdClient& client) {
  const std::string prefix = config_.prefix + "/";
  // P/names/ and P/dups/ only, in one transaction (one revision): whatever
  // else lies under P (P/hosts/, or anything another writer put there)
  // never counts against the reply's size limit.
  const auto whole = [](std::string from) {
    std::string end = cluster::prefix_range_end(from);
    return cluster::RangeOp{std::move(from), std::move(end)};
  };
  cluster::Txn both;
  both.success = {whole(prefix + "names/"), whole(prefix + "dups/")};
  auto read = client.txn(both, cluster::deadline_in(config_.call_timeout));
  if (!read || read->responses.size() != 2) {
    // The first failure, then one line a minute while etcd stays away.
    if (failed_reads_++ % 120 == 0)
      log_async("cannot read " + prefix + "names/ and " + prefix + "dups/: " +
                (read ? std::string("an answer without both ranges") : read.error().message) +
                "; the segment keeps the last snapshot (" + std::to_string(failed_reads_) + " reads failed)");
    return false;
  }
  if (failed_reads_ != 0) log_async("read " + prefix + " again after " + std::to_string(failed_reads_) + " failures");
  failed_reads_ = 0;
  std::vector<Change> changes;
  for (const cluster::TxnOpResult& range : read->responses)
    for (const cluster::KeyValue& kv : range.kvs) {
      Change c;
      if (decode(kv, c)) changes.push_back(std::move(c));
    }
  const std::int64_t revision = read->header.revision;
  on_loop([changes = std::move(changes), revision](Applier& a) mutable {
    a.apply_snapshot(std::move(changes), revision);
  });
  auto watch = cluster::Watch::open(config_.client, prefix, revision + 1, cluster::deadline_in(config_.call_timeout));
  if (!watch) {
    log_async("cannot watch " + prefix + ": " + watch.error().message);
    return false;
  }
  while (!stopping_) {
    auto events = watch->next(cluster::deadline_in(std::chrono::milliseconds(200)));
    if (!events) {
      log_async("the watch of " + prefix + " ended (" + events.error().message +
                "): reading again");
      return true;
    }
    if (events->empty()) continue;
    std::vector<Change> batch;
    for (const cluster::WatchEvent& e : *events) {
      Change c;
      if (e.type == cluster::WatchEvent::Type::del) {
        c.etcd_key = e.kv.key;
        c.revision = e.kv.mod_revision;
        c.deleted = true;
        batch.push_back(std::move(c));
      } else if (decode(e.kv, c)) {
        batch.push_back(std::move(c));
      } else {
        // Now not an entry to mirror (garbage, or our own host): whatever an
        // earlier value of this key put must go.
        c.etcd_key = e.kv.key;
        c.revision = e.kv.mod_revision;
        c.deleted = true;
        batch.push_back(std::move(c));
      }
    }
    on_loop([batch = std::move(batch)](Applier& a) mutable { a.apply_events(std::move(batch)); });
  }
  return true;
}

// -- on the loop ---------------------------------------------------------------------------

void ClusterMirror::Applier::put(const Change& c) {
  const MirrorEntry& e = c.entry;
  auto reg = writer.find_registry(e.where.registry);
  if (!reg) {
    log("cluster mirror: " + c.etcd_key + ": no registry '" + e.where.registry + "' in the segment");
    return;
  }
  const shm::RemoteOwner owner{e.host, e.pid, e.uid};
  if (auto old = mirrored.find(c.etcd_key); old != mirrored.end()) {
    const Mirrored& m = old->second;
    if (m.host == e.host && m.pid == e.pid && m.value == e.value && m.registry == *reg) return;
    // A unique key changes holder or value in one put_remote; a duplicate
    // entry is one etcd key, so its old entry goes first.
    if (e.where.kind == shm::RegistryKind::duplicate || m.host != e.host || m.pid != e.pid) remove(c.etcd_key);
  }
  std::uint32_t holder = 0;
  auto put = writer.put_remote(*reg, e.where.key, e.value, owner, &holder);
  if (!put) {
    const bool local_holder = put.error() == shm::Errc::already_registered;
    // Room may come: a local holder going, entries or hosts leaving.
    const bool may_pass = local_holder || put.error() == shm::Errc::registry_full ||
                          put.error() == shm::Errc::owner_table_full || put.error() == shm::Errc::segment_full;
    // Logged once per etcd key and change, not at every retry.
    if (!held.contains(c.etcd_key) || held.at(c.etcd_key).revision != c.revision)
      log("cluster mirror: cannot mirror " + c.etcd_key + " (" + e.host + " pid " + std::to_string(e.pid) +
          "): " + std::string(shm::to_string(put.error())) +
          (local_holder ? " by local pid " + std::to_string(holder) : "") +
          (may_pass ? "; tried again every 250 ms" : ""));
    if (may_pass) held.insert_or_assign(c.etcd_key, c);
    return;
  }
  held.erase(c.etcd_key);
  mirrored[c.etcd_key] = Mirrored{*reg, e.where.key, e.host, e.value, e.pid, put->version};
}

void ClusterMirror::Applier::arm_retry(std::shared_ptr<Applier> self) {
  if (retry_armed || held.empty() || stopped) return;
  retry_armed = true;
  retry.expires_after(kHeldRetry);
  retry.async_wait([self = std::move(self)](const boost::system::error_code& ec) {
    Applier& a = *self;
    a.retry_armed = false;
    if (ec || a.stopped) return;
    std::vector<Change> again;
    for (const auto& [key, change] : a.held) again.push_back(change);
    a.writer.defer_wakes();
    for (const Change& c : again) a.put(c);
    a.writer.flush_wakes();
    a.arm_retry(self);
  });
}

void ClusterMirror::Applier::remove(const std::string& etcd_key) {
  held.erase(etcd_key);
  const auto it = mirrored.find(etcd_key);
  if (it == mirrored.end()) return;
  const Mirrored& m = it->second;
  (void)writer.remove_remote(m.registry, m.key, shm::RemoteOwner{m.host, m.pid, 0}, m.version);
  mirrored.erase(it);
}

void ClusterMirror::Applier::apply_events(std::vector<Change> changes) {
  writer.defer_wakes();
  for (const Change& c : changes) {
    if (c.deleted)
      remove(c.etcd_key);
    else
      put(c);
    stats.revision = std::max(stats.revision, c.revision);
    ++stats.events;
  }
  writer.flush_wakes();
}

// The segment's remote entries become exactly the read's: the ones that
// match an entry of the read (registry, key, host, pid, value) stay as they
// are, the rest go, and what the read has beyond them is put.
void ClusterMirror::Applier::apply_snapshot(std::vector<Change> changes, std::int64_t revision) {
  using Match = std::tuple<std::uint32_t, std::string, std::string, std::uint32_t, std::string>;
  std::multimap<Match, std::uint64_t> present;  // -> version
  for (shm::RemoteEntryView& e : writer.remote_entries())
    present.emplace(Match{e.registry, std::move(e.key), std::move(e.host), e.pid, std::move(e.value)}, e.version);
  writer.defer_wakes();
  mirrored.clear();
  held.clear();
  std::vector<const Change*> missing;
  for (const Change& c : changes) {
    const MirrorEntry& e = c.entry;
    auto reg = writer.find_registry(e.where.registry);
    const auto it = reg ? present.find(Match{*reg, e.where.key, e.host, e.pid, e.value}) : present.end();
    if (it == present.end()) {
      missing.push_back(&c);
      continue;
    }
    mirrored[c.etcd_key] = Mirrored{*reg, e.where.key, e.host, e.value, e.pid, it->second};
    present.erase(it);
  }
  for (const auto& [m, version] : present)
    (void)writer.remove_remote(std::get<0>(m), std::get<1>(m), shm::RemoteOwner{std::get<2>(m), std::get<3>(m), 0},
                                version);
  for (const Change* c : missing) put(*c);
  writer.flush_wakes();
  stats.revision = revision;
  ++stats.reads;
}

}  // namespace shmreg::broker
