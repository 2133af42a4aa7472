// One pidfd per owner process: the broker's half of "entries leave when their
// owner dies" (invariants 3, 7 and 8).
//
// Every process with entries in the segment is watched through its pidfd,
// wrapped in an Asio stream_descriptor waiting for readability; readable
// means dead, and reap() then removes all of that pid's entries in one write.
// A watch is keyed by pid and remembers the process identity it was taken
// for, so a recycled pid is told apart from the owner it replaced.
//
// Watch before insert: a registration takes the duplicate of the owner's
// pidfd it will watch with (watch_fd_for) BEFORE its first entry exists, so
// that running out of descriptors fails the op instead of leaving entries
// nobody watches; ensure_watched() then arms it.
//
// Restart: reconcile() walks the owners the segment records, re-arms a watch
// for each one still alive with the same identity and reaps the others.
//
// Static entries (pid 0) belong to the namespace, not to a process: pid 0 is
// never watched nor reaped, and is always alive.
//
// A remove_owner that fails is a broken invariant (shutdown.hpp): the owner
// table no longer matches the entries. While the broker halts, nothing is
// reaped.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "caller.hpp"
#include "log.hpp"
#include "shmreg/shm/writer.hpp"
#include "shutdown.hpp"
#include "watched_identities.hpp"

namespace shmreg::broker {

class OwnerWatches final : public WatchedIdentities {
 public:
  static constexpr pid_t kStaticOwnerPid = 0;
  enum class Liveness { alive, dead, unknown };

  // REQUIRES: every argument outlives this object.
  OwnerWatches(boost::asio::io_context& io, shm::SegmentWriter& writer, const BrokerLog& log, Shutdown& shutdown)
      : io_(io), writer_(writer), log_(log), shutdown_(shutdown) {}

  // At startup. False when an owner's liveness could not be established (then
  // the broker must not start: it would either reap the living or watch nobody).
  [[nodiscard]] bool reconcile();

  // A duplicate of owner's pidfd to watch it with, taken before its first
  // entry is inserted; empty when owner is already watched. Fails (with a
  // message) when the broker is out of descriptors: the op must fail too.
  [[nodiscard]] std::expected<sys::UniqueFd, std::string> watch_fd_for(const Owner& owner);

  // Makes sure owner is watched (with fd when given), so that its death
  // reaps its entries.
  void ensure_watched(const Owner& owner, sys::UniqueFd fd = sys::UniqueFd());

  // Removes every entry of pid, and the watch of it. False when the broker
  // is halting (a reap that failed sets it so): nothing more may be written.
  bool reap(pid_t pid, const char* why);

  // Reaps pid first if the broker watches it, or the segment records it,
  // under another identity than owner's: that process is dead, its exit just
  // not handled yet. Every op that writes or removes the entries of a named
  // owner runs it first, so that no process acts on the entries of an
  // earlier process with its pid.
  void settle(const Owner& owner);

  // Whether the owner recorded under pid is alive now, from the watch or, for
  // an owner not watched, from a fresh pidfd checked against the segment.
  [[nodiscard]] Liveness liveness(pid_t pid);

  [[nodiscard]] std::optional<ProcessIdentity> watched_identity(pid_t pid) const override;

  // Runs before each reap removes pid's entries (the cluster link queues
  // the removal of their etcd keys: cluster_host.hpp).
  void before_reap(std::function<void(pid_t)> fn) { before_reap_ = std::move(fn); }

  // sd_notify STATUS= line: owners watched and reaped so far.
  void publish_status() const;

 private:
  struct Watch {
    std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd;
    ProcessIdentity identity;
    std::uint64_t token = 0;  // tells a replaced watch's late wake-up from the current one
  };
  void watch(pid_t pid, sys::UniqueFd pidfd, ProcessIdentity identity);
  void arm(pid_t pid, std::uint64_t token);
  // One recorded owner at startup: re-armed, reaped, or (false) unknowable.
  [[nodiscard]] bool reconcile_one(const shm::OwnerRecord& o, std::size_t& kept, std::size_t& reaped);

  boost::asio::io_context& io_;
  shm::SegmentWriter& writer_;
  const BrokerLog& log_;
  Shutdown& shutdown_;
  std::unordered_map<pid_t, Watch> watches_;
  std::uint64_t next_token_ = 1;
  std::uint64_t reaped_owners_ = 0;
  std::function<void(pid_t)> before_reap_;
};

}  // namespace shmreg::broker
