// Placement of a benchmark's client and server on CPUs.
//
// any:   nobody is pinned; the scheduler decides (the default of a deployment).
// same:  client and server pinned to one CPU: a round trip is two context switches.
// split: client on one CPU and server on another: a round trip is two cross-CPU
//        wake-ups (on a VM, each can be a halted vCPU being woken by the host).
//
// Thread-safety: a PlacementGuard pins the thread that made it; make and drop
// it on the benchmark thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace shmreg::bench {

enum class Placement { any, same, split };

std::string_view to_string(Placement p) noexcept;
std::optional<Placement> placement_from(std::string_view s) noexcept;

// Applies a placement to the calling thread and to the server process for the
// guard's lifetime; restores both to every CPU allowed at start on destruction.
class PlacementGuard {
 public:
  PlacementGuard(Placement p, pid_t server);
  ~PlacementGuard();
  PlacementGuard(const PlacementGuard&) = delete;
  PlacementGuard& operator=(const PlacementGuard&) = delete;
  // Empty on success, else why it could not be applied.
  const std::string& error() const noexcept { return error_; }
  // The CPU the server was pinned to, or -1 (placement any).
  int server_cpu() const noexcept { return server_cpu_; }

 private:
  pid_t server_;
  int server_cpu_ = -1;
  std::string error_;
};

// Pins another process to one CPU (for helpers that must share the server's).
bool pin_process(pid_t pid, int cpu) noexcept;

}  // namespace shmreg::bench
