#include "readers.hpp"

#include <sys/wait.h>

#include <cstdlib>

namespace shmreg::chaos {

Readers::Readers(const RunPaths& paths, unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    readers_.push_back(test::Subprocess::spawn({paths.agent, "reader", paths.ns, paths.socket},
                                               {.stderr_path = paths.owners_log, .stdout_pipe = true,
                                                .stdin_pipe = true}));
    ended_.push_back(false);
  }
}

// A reader's last words and exit. Only one that the loop asked to end (its
// stdin closed), printed its counts and exited 0 is fine; its lookups are
// added to the totals.
std::optional<std::string> Readers::collect(std::size_t i, bool asked, Totals& totals) {
  ended_[i] = true;
  constexpr std::string_view kCounts = "reader lookups=";
  const auto line = readers_[i].read_stdout_line(asked ? test::kTimeout : std::chrono::milliseconds(1000));
  const auto status = readers_[i].wait();
  const bool exited_0 = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  if (asked && exited_0 && line && line->starts_with(kCounts)) {
    totals.reader_lookups += std::strtoull(line->c_str() + kCounts.size(), nullptr, 10);
    return std::nullopt;
  }
  ++(line && line->starts_with("reader torn") ? totals.torn : totals.unexpected_exits);
  return "reader " + std::to_string(readers_[i].pid()) + " " +
         (status ? test::describe_wait_status(*status) : std::string("did not exit")) +
         (asked ? "" : " unasked") + ": " + (line ? *line : std::string("(said nothing)"));
}

std::vector<std::string> Readers::check(Totals& totals) {
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < readers_.size(); ++i)
    if (!ended_[i] && !readers_[i].running())
      if (auto p = collect(i, false, totals)) problems.push_back(*p);
  return problems;
}

std::vector<std::string> Readers::finish(Totals& totals) {
  std::vector<std::string> problems = check(totals);
  for (auto& r : readers_) r.close_stdin();
  for (std::size_t i = 0; i < readers_.size(); ++i)
    if (!ended_[i])
      if (auto p = collect(i, true, totals)) problems.push_back(*p);
  return problems;
}

}  // namespace shmreg::chaos
