// The owner processes of the crash loop: starting them (through libshmreg or
// the CLI, with a dead owner's pid when the kernel lets the loop choose),
// signalling and reaping them, and reading their reports into the model.
//
// Every owner is a shmreg-chaos-agent (agent.hpp) exec'd with its stdout on
// one FIFO that the loop reads; its stderr goes to a shared log. A dead
// owner's pid is recycled on purpose: as root the loop writes pid - 1 to
// /proc/sys/kernel/ns_last_pid just before the fork, so that the kernel hands
// that pid out next (other processes of the host may take it first; then the
// owner gets another one, and only pids that really matched are counted).
//
// Thread-safety: the driver's thread only (owners are forked from it).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "child_process.hpp"
#include "model.hpp"
#include "shmreg/sys/unique_fd.hpp"
#include "stopped_broker.hpp"
#include "totals.hpp"

namespace shmreg::chaos {

// Where the run's processes and files are.
struct RunPaths {
  std::string ns, socket, dir;
  std::string agent, cli;  // the binaries
  std::string fifo;        // the owners' reports
  std::string owners_log;  // the owners' stderr
};

class Owners {
 public:
  Owners(RunPaths paths, Model& model, Totals& totals);
  ~Owners();
  Owners(const Owners&) = delete;
  Owners& operator=(const Owners&) = delete;

  // Starts one owner with `keys` unique keys (a CLI owner has one). With
  // reuse_pid, it is given the pid of an owner reaped not long ago, if any.
  void start(OwnerKind kind, unsigned keys, bool churn, bool reuse_pid, std::mt19937_64& rng);
  // Sends sig to every owner named, then reaps each: they are dead on return.
  void kill(const std::vector<std::uint64_t>& serials, int sig);
  void kill_all() { kill(model_.alive(), SIGKILL); }
  std::vector<std::uint64_t> alive() const { return model_.alive(); }
  // Reads the reports waiting in the FIFO (waiting up to `wait` for the
  // first), then reaps the owners that ended unasked.
  void pump(Clock::duration wait = Clock::duration::zero());
  void pump_for(Clock::duration d);
  // Pumps until every live owner is done; false if one is not by the timeout
  // (its serial and pid are then in problems()).
  bool wait_done(Clock::duration timeout);

  // The churning owners, held with SIGSTOP while the holder lives, so that a
  // settle point sees a quiet segment.
  std::vector<std::unique_ptr<test::StoppedBroker>> hold_churners();
  std::size_t churners() const;

  // What went wrong with owners since the last call: failed registrations,
  // owners that ended unasked. The counts are in Totals.
  std::vector<std::string> take_problems();

 private:
  pid_t pick_reusable(std::mt19937_64& rng);
  void read_reports();
  void reap_unasked();
  void reaped(std::uint64_t serial, pid_t pid);

  RunPaths paths_;
  Model& model_;
  Totals& totals_;
  std::map<std::uint64_t, test::Subprocess> processes_;
  std::deque<pid_t> reusable_;
  std::unordered_set<pid_t> seen_pids_;
  bool can_force_pid_ = true;
  sys::UniqueFd fifo_read_, fifo_hold_;
  std::string partial_;
  std::vector<std::string> problems_;
  std::uint64_t next_serial_ = 1;
};

}  // namespace shmreg::chaos
