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
// Thread-safety: the segment is written only from handlers posted to the
// loop. stop() (also in the destructor) joins the thread and marks the
// loop's side stopped, so that handlers still queued do nothing; they hold
// that side (Applier) by a shared pointer, so it outlives the mirror while
// one waits. The writer and the log must outlive the loop's handlers (the
// broker's do: they are destroyed after its io_context has stopped).
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
  // On the loop's thread only.
  const ClusterMirrorStats& stats() const noexcept;

 private:
  // One decoded change, as the thread hands it to the loop.
  struct Change {
    std::string etcd_key;
    std::int64_t revision = 0;
    bool deleted = false;
    MirrorEntry entry;  // when !deleted
  };
  // The loop's side: what writes the segment, and what each etcd key put there.
  struct Applier;

  void run();
  bool read_and_watch(cluster::EtcdClient& client);
  // Decodes one kv; false when it is not an entry to mirror (logged if bad).
  bool decode(const cluster::KeyValue& kv, Change& out);
  void wait_backoff();
  // Runs fn(Applier&) on the loop, unless the mirror has stopped by then.
  template <class Fn>
  void on_loop(Fn fn);
  void log_async(std::string line);

  boost::asio::io_context& io_;
  const BrokerLog& log_;
  const ClusterMirrorConfig config_;
  std::unordered_map<std::string, shm::RegistryKind> kinds_;  // constant after construction
  std::shared_ptr<Applier> applier_;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
  std::uint64_t failed_reads_ = 0;  // the thread's: reads failed in a row
};

}  // namespace shmreg::broker
