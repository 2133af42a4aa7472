// ClusterMirror: the entries other hosts hold in cluster registries, kept in
// this broker's segment as remote owners' entries (shm/layout.hpp,
// kIdentityRemote), so that lookups of remote names are local snapshot reads.
//
// How. A thread of its own reads the whole prefix P/ at one revision R
// (cluster_mirror_keys.hpp says which keys count), then watches P/ from R+1,
// which leaves no gap. It decodes what it reads and hands it to the broker's
// event loop (asio::post on the io_context it is given), where the segment
// is written, so that the segment keeps its one writer thread:
//  - a read is applied as a reconcile: every remote entry of the segment that
//    the read does not hold goes, every one it holds is put (unchanged
//    entries cost nothing), so the same code serves the start, a broker
//    restart over a segment that already holds mirrored entries, and a
//    compaction or broken watch (then it reads again and watches again);
//  - a put event puts the entry; a delete event removes the entry that key
//    put (the mirror remembers which, per etcd key).
// Keys of its own host are skipped (they are local entries already), and so
// are keys of registries that are not cluster registries of this broker; a
// key or value that does not fit the schema is logged (at most once per
// key and revision) and skipped, never fatal. When etcd cannot be reached it
// retries with backoff; the segment meanwhile keeps the last snapshot.
//
// Thread-safety: construct, start() and stop() on the event loop's thread;
// the segment is written only from handlers posted to that loop. stop()
// (also in the destructor) joins the thread; handlers it posted before may
// still run on the loop and only touch the segment and the mirror's map,
// which live as long as the broker's writer.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster_mirror_keys.hpp"
#include "log.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

// What the mirror needs from the broker's [cluster] configuration; plain,
// so that the config side can fill it.
struct ClusterMirrorConfig {
  struct Registry {
    std::string name;
    shm::RegistryKind kind = shm::RegistryKind::unique;
  };
  cluster::ClientOptions client;
  std::string prefix = "/shmreg";  // P: starts with '/', no trailing '/'
  std::string host;                // this broker's host: its keys are skipped
  std::vector<Registry> registries;  // the cluster registries (scope = "cluster")
  // Bound on one read or watch open; then a retry after `backoff`.
  std::chrono::milliseconds call_timeout{3000};
  std::chrono::milliseconds backoff{500};
};

// Counters for tests and status; read on the event loop's thread.
struct ClusterMirrorStats {
  std::uint64_t reads = 0;    // whole reads applied (start, re-reads)
  std::uint64_t events = 0;   // watch events applied
  std::uint64_t skipped = 0;  // keys or values that did not fit the schema
  std::int64_t revision = 0;  // the last revision applied
};

class ClusterMirror {
 public:
  ClusterMirror(boost::asio::io_context& io, shm::SegmentWriter& writer, const BrokerLog& log,
                ClusterMirrorConfig config);
  ~ClusterMirror();
  ClusterMirror(const ClusterMirror&) = delete;
  ClusterMirror& operator=(const ClusterMirror&) = delete;

  // Starts the reading thread. False (and logged) when the client options
  // are invalid.
  [[nodiscard]] bool start();
  void stop();
  const ClusterMirrorStats& stats() const noexcept { return stats_; }

 private:
  // One decoded change, as the thread hands it to the loop.
  struct Change {
    std::string etcd_key;
    std::int64_t revision = 0;
    bool deleted = false;
    MirrorEntry entry;  // when !deleted
  };
  // What one etcd key put in the segment.
  struct Mirrored {
    std::uint32_t registry = 0;
    std::string key, host, value;
    std::uint32_t pid = 0;
    std::uint64_t version = 0;
  };

  void run();
  bool read_and_watch(cluster::EtcdClient& client);
  // Decodes one kv; false when it is not an entry to mirror (logged if bad).
  bool decode(const cluster::KeyValue& kv, Change& out);
  void wait_backoff();
  // On the loop.
  void apply_snapshot(std::vector<Change> changes, std::int64_t revision);
  void apply_events(std::vector<Change> changes);
  void put(const Change& c);
  void remove(const std::string& etcd_key);
  void log_async(std::string line);

  boost::asio::io_context& io_;
  shm::SegmentWriter& writer_;
  const BrokerLog& log_;
  const ClusterMirrorConfig config_;
  std::unordered_map<std::string, shm::RegistryKind> kinds_;  // constant after construction

  // Guarded by the loop's thread.
  std::unordered_map<std::string, Mirrored> mirrored_;
  ClusterMirrorStats stats_;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace shmreg::broker
