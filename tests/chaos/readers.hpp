// The crash loop's readers: shmreg-chaos-agent processes in reader mode
// (agent.hpp), looking keys up through libshmreg from the first burst to the
// last, whatever happens to the broker. A reader that ends before the loop
// closes its stdin was handed a torn entry (it says so) or broke.
//
// Thread-safety: the driver's thread only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "owners.hpp"
#include "totals.hpp"

namespace shmreg::chaos {

class Readers {
 public:
  Readers(const RunPaths& paths, unsigned count);
  // Counts and describes every reader that has ended; the others run on.
  std::vector<std::string> check(Totals& totals);
  // Closes their stdin and collects each one's counts and exit.
  std::vector<std::string> finish(Totals& totals);

 private:
  std::optional<std::string> collect(std::size_t i, bool asked, Totals& totals);
  std::vector<test::Subprocess> readers_;
  std::vector<bool> ended_;
};

}  // namespace shmreg::chaos
