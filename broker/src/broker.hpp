// shmreg-broker: the one writer of a namespace's segment, started and wired.
//
// The Broker owns the segment writer and listens on the namespace's Unix
// socket. Each connection is a Session (session.hpp), authenticated through
// the kernel (peer.hpp); its requests go through the one OpTable
// (op_table.hpp) to the handlers of each op family (ops.hpp). OwnerWatches
// (owner_watches.hpp) holds one pidfd per owner process and reaps its
// entries when it dies. Entries belong to processes, not connections: a
// closed connection removes nothing.
//
// Startup order (run()): open and check the runtime directory
// (runtime_dir.hpp), lock the namespace (namespace_lock.hpp), attach (only a
// file that passes its check) or create the segment, reconcile recorded
// owners (re-arm the live, reap the dead or recycled), apply the
// configuration (reload.hpp: declared registries and statics; exit 2 when
// the segment cannot take it), listen (the socket made 0666 by bind itself),
// then tell systemd READY=1. SIGTERM or SIGINT stop it with exit 0; a broken
// invariant (shutdown.hpp) with a non-zero exit; SIGHUP reloads the
// configuration (RELOADING=1 and READY=1 around it). The segment stays, so lookups keep working while no
// broker runs.
//
// Limits (config.hpp, ConnectionLimits): connections per uid are counted at
// accept; one timer sweeps every session's frame deadline and idle timeout; a
// spare descriptor lets the broker accept and close a connection when it is
// out of descriptors, instead of spinning on accept.
//
// Thread-safety: single-threaded; everything runs on one io_context.
#pragma once

#include <memory>

#include "config.hpp"

namespace shmreg::broker {

class Broker {
 public:
  explicit Broker(BrokerConfig config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Runs until SIGTERM/SIGINT or a broken invariant; returns the process
  // exit code.
  [[nodiscard]] int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::broker
