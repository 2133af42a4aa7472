// The crash loop's model: every owner process the loop started, whether it
// still runs, and what it holds for sure. A registration is confirmed once
// the owner reported that its call returned success; one in flight when the
// broker died is not, so it may be present or absent while its owner lives,
// but every entry of a dead owner, confirmed or not, must go once the broker
// has been up for the reap window after the death.
//
// Owners are known by their serial in the run, never by pid: pids are
// recycled on purpose. Dead owners whose entries a settle point saw gone are
// retired (kept only as a serial), so that the model stays small over a
// long run and an entry that comes back from the dead is still recognised.
//
// Thread-safety: the driver's thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmreg::chaos {

using Clock = std::chrono::steady_clock;

// library: the agent through libshmreg; cli_exec: `shmreg register ... --
// CMD`, the entry living as long as CMD; cli_hold: `shmreg register ...`
// holding the entry itself until SIGTERM, when it unregisters and exits.
enum class OwnerKind { library, cli_exec, cli_hold };

std::string_view kind_name(OwnerKind k);

struct OwnerRecord {
  std::uint64_t serial = 0;
  pid_t pid = 0;
  OwnerKind kind = OwnerKind::library;
  bool churn = false;
  bool alive = true;  // false once the loop reaped the process
  bool done = false;  // every registration it was given has been confirmed or failed
  std::set<std::pair<std::string, std::string>> confirmed;  // (registry, key)
  Clock::time_point died_at{};
};

class Model {
 public:
  OwnerRecord& add(std::uint64_t serial, pid_t pid, OwnerKind kind, bool churn);
  // One "chaos SERIAL ..." line of an owner (agent.hpp). Returns false for a
  // line that is not one; a failed registration is appended to failures.
  bool apply_report(std::string_view line, std::vector<std::string>& failures);
  void died(std::uint64_t serial, Clock::time_point when);
  // The broker answers again (started, or resumed) from `when` on.
  void broker_available(Clock::time_point when) { available_since_ = when; }
  // When a dead owner's entries must be gone: the reap window after both its
  // death and the broker's last start or resume.
  Clock::time_point reap_deadline(const OwnerRecord& o, Clock::duration window) const;
  void retire(std::uint64_t serial);

  OwnerRecord* find(std::uint64_t serial);
  bool retired(std::uint64_t serial) const { return retired_.contains(serial); }
  std::map<std::uint64_t, OwnerRecord>& owners() { return owners_; }
  const std::map<std::uint64_t, OwnerRecord>& owners() const { return owners_; }
  // Serials of the owners still alive, in order.
  std::vector<std::uint64_t> alive() const;
  std::size_t alive_count() const { return alive_count_; }
  // Registrations confirmed so far, over the whole run.
  std::uint64_t confirmed_total() const { return confirmed_total_; }

 private:
  std::map<std::uint64_t, OwnerRecord> owners_;
  std::set<std::uint64_t> retired_;
  std::size_t alive_count_ = 0;
  std::uint64_t confirmed_total_ = 0;
  Clock::time_point available_since_{};
};

}  // namespace shmreg::chaos
