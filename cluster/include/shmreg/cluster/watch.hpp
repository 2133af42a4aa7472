// Watch: one etcd watch stream of a key prefix, from a revision, read
// synchronously with a deadline.
//
//   auto snapshot = client.get_prefix(prefix, ReadMode::linearizable, deadline);
//   auto watch = Watch::open(client.options(), prefix, snapshot->header.revision + 1, deadline);
//   for (;;) {
//     auto events = watch->next(deadline_in(1s));
//     if (!events) { /* compacted or watch_closed: re-read, re-watch */ }
//     for (const auto& e : *events) apply(e);   // in revision order
//   }
//
// Starting at the initial read's revision + 1 leaves no gap: every change
// after the read is delivered, each once, in order, puts and deletes alike
// with their revisions (kv.mod_revision). A watch that cannot go on says so
// once, as an error of next(): compacted (the start revision is gone;
// compact_revision() is the oldest still there) or watch_closed (the member
// went away or ended the stream). The caller then re-reads and re-watches;
// Watch never reconnects by itself, so that no event is lost or doubled
// unseen.
//
// A member that stops answering without closing the connection (a frozen
// process, a cut cable) is not noticed by a watch, which only waits: pair it
// with lease keep-alives, which fail over and time out.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shmreg/cluster/errc.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/types.hpp"

namespace shmreg::cluster {

class Watch {
 public:
  // Opens the watch on the first endpoint that accepts it (failing over
  // like EtcdClient's calls) and returns once etcd has created it.
  // start_revision 0: from now on.
  static Result<Watch> open(const ClientOptions& options, const std::string& prefix, std::int64_t start_revision,
                            Deadline deadline);

  Watch(Watch&&) noexcept;
  Watch& operator=(Watch&&) noexcept;
  ~Watch();

  // The events that arrived by deadline, in revision order; empty when none
  // did. After an error the watch is over: every later call repeats it.
  Result<std::vector<WatchEvent>> next(Deadline deadline);

  // After compacted: the oldest revision etcd still has.
  std::int64_t compact_revision() const noexcept;
  // The store's revision in the last message (events or progress).
  std::int64_t revision() const noexcept;
  // The endpoint the stream is on.
  const std::string& endpoint() const noexcept;

 private:
  struct Impl;
  explicit Watch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::cluster
