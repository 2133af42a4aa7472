// Placement of client and server on CPUs (see pinning.hpp).
#include "pinning.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace shmreg::bench {

std::string_view to_string(Placement p) noexcept {
  switch (p) {
    case Placement::any: return "any";
    case Placement::same: return "same";
    case Placement::split: return "split";
  }
  return "?";
}

std::optional<Placement> placement_from(std::string_view s) noexcept {
  for (Placement p : {Placement::any, Placement::same, Placement::split})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

namespace {

// The CPUs this process may run on, as found at start.
const cpu_set_t& initial_cpus() {
  static const cpu_set_t set = [] {
    cpu_set_t s;
    CPU_ZERO(&s);
    if (::sched_getaffinity(0, sizeof s, &s) != 0) CPU_SET(0, &s);
    return s;
  }();
  return set;
}

}  // namespace

bool pin_process(pid_t pid, int cpu) noexcept {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  return ::sched_setaffinity(pid, sizeof s, &s) == 0;
}

PlacementGuard::PlacementGuard(Placement p, pid_t server) : server_(server) {
  (void)initial_cpus();
  if (p == Placement::any) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &initial_cpus())) cpus.push_back(c);
  if (p == Placement::split && cpus.size() < 2) {
    error_ = "placement 'split' needs two CPUs";
    return;
  }
  server_cpu_ = p == Placement::same ? cpus.front() : cpus[1];
  if (!pin_process(0, cpus.front()) || (server_ > 0 && !pin_process(server_, server_cpu_)))
    error_ = std::string("sched_setaffinity: ") + std::strerror(errno);
}

PlacementGuard::~PlacementGuard() {
  ::sched_setaffinity(0, sizeof(cpu_set_t), &initial_cpus());
  if (server_ > 0) ::sched_setaffinity(server_, sizeof(cpu_set_t), &initial_cpus());
}

}  // namespace shmreg::bench
