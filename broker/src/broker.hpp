// shmreg-broker's core: the one writer of a namespace's segment.
//
// The Broker owns the SegmentWriter, listens on the namespace's Unix socket,
// authenticates every connection through the kernel (peer.hpp), applies the
// operations it receives, and watches one pidfd per owner process: when the
// pidfd turns readable the owner is dead and all its entries go in one step.
// Entries belong to processes, not connections: a closed connection removes
// nothing.
//
// Startup order (run()): lock the namespace, attach or create the segment,
// reconcile recorded owners (re-arm the live, reap the dead or recycled),
// listen, then tell systemd READY=1. SIGTERM or SIGINT stop it with exit 0;
// the segment stays, so lookups keep working while no broker runs.
//
// Thread-safety: single-threaded; everything runs on one io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

struct BrokerConfig {
  std::string ns = "default";
  std::string socket_path;
  std::size_t segment_size = shm::kDefaultSegmentSize;
  std::uint32_t owner_capacity = 8192;
  std::chrono::milliseconds grace{10};
  // Defaults for create requests that leave a limit at 0.
  std::uint32_t default_max_key = 128;
  std::uint32_t default_max_value = 256;
  std::uint32_t default_capacity = 4096;
  bool verbose = false;
};

class Broker {
 public:
  explicit Broker(BrokerConfig config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::broker
