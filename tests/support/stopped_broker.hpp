// StoppedBroker: a process held with SIGSTOP for one scope, for the tests of
// what a client does when the broker accepts connections (the kernel does
// that for it, into the listen backlog) but never answers.
//
// The constructor returns once the kernel reports the process stopped, so
// that no request sent afterwards can be answered; the destructor (or
// resume()) sends SIGCONT, so that a failed test never leaves a broker
// stopped for its TearDown to wait on.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>

#include "child_process.hpp"

namespace shmreg::test {

class StoppedBroker {
 public:
  explicit StoppedBroker(pid_t pid) : pid_(pid) {
    stopped_ = ::kill(pid_, SIGSTOP) == 0 && wait_until([&] { return state() == 'T'; });
  }
  ~StoppedBroker() { resume(); }
  StoppedBroker(const StoppedBroker&) = delete;
  StoppedBroker& operator=(const StoppedBroker&) = delete;

  // Whether the kernel reported the process stopped.
  bool stopped() const { return stopped_; }
  void resume() {
    if (pid_ > 0) (void)::kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  // The state letter of /proc/<pid>/stat ('T': stopped by a signal).
  char state() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto close = line.rfind(')');  // the command name may hold anything
    return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
  }

  pid_t pid_;
  bool stopped_ = false;
};

}  // namespace shmreg::test
