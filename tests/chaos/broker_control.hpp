// The crash loop's hand on the broker: start (and start again after a
// kill), SIGKILL (also while it is held with SIGSTOP), and SIGSTOP for a
// while with SIGCONT after, each counted and told to the model, which dates
// the reap window from the broker's last start or resume.
//
// Thread-safety: the driver's thread only.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "broker_process.hpp"
#include "model.hpp"
#include "owners.hpp"
#include "totals.hpp"

namespace shmreg::chaos {

class BrokerControl {
 public:
  BrokerControl(test::BrokerProcess& broker, std::string log_path, std::vector<std::string> args, Model& model,
                Totals& totals)
      : broker_(broker), log_path_(std::move(log_path)), args_(std::move(args)), model_(model), totals_(totals) {}

  // Starts the broker and waits until it answers a ping; the error carries
  // its log.
  std::expected<void, std::string> start();
  // SIGKILL, after a SIGSTOP when stopped_first; the broker is down after.
  void kill(bool stopped_first);
  // Starts a broker and SIGKILLs it `after` later, mid-start (attaching and
  // repairing the segment, reaping owners that died meanwhile) or, if it was
  // quick, once it serves. Only while the loop's broker is down.
  void kill_while_starting(Clock::duration after);
  // SIGSTOP, then SIGCONT after d, the owners' reports read meanwhile.
  void stop_for(Owners& owners, Clock::duration d);
  bool up() const { return up_; }
  // True when the broker the loop started is gone without its kill.
  bool ended_unasked() const { return up_ && !broker_.running(); }
  pid_t pid() const { return broker_.pid(); }
  // The last lines of the log of every broker of the run.
  std::string log_tail(std::size_t lines) const;
  // Every line of that log that names pid (at most `lines`, the last ones):
  // what the brokers did to the owners a failure names.
  std::string log_lines_naming(pid_t pid, std::size_t lines) const;
  // How many times a broker of the run repaired, at start, a write that a
  // kill had cut short.
  std::uint64_t repairs_at_attach() const;

 private:
  test::BrokerProcess& broker_;
  std::string log_path_;  // the broker's stderr, shared by every broker of the run
  std::vector<std::string> args_;
  Model& model_;
  Totals& totals_;
  bool up_ = false;
};

}  // namespace shmreg::chaos
