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

// A reader's last words and exit, counted as torn or as an unexpected exit.
std::string Readers::ended(std::size_t i, Totals& totals) {
  ended_[i] = true;
  const auto line = readers_[i].read_stdout_line(std::chrono::seconds(1));
  const auto status = readers_[i].wait();
  const std::string said = line ? *line : std::string("(nothing)");
  if (said.starts_with("reader torn"))
    ++totals.torn;
  else
    ++totals.unexpected_exits;
  return "reader " + std::to_string(readers_[i].pid()) + " " +
         (status ? test::describe_wait_status(*status) : std::string("did not exit")) + ": " + said;
}

std::vector<std::string> Readers::check(Totals& totals) {
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < readers_.size(); ++i)
    if (!ended_[i] && !readers_[i].running()) problems.push_back(ended(i, totals));
  return problems;
}

std::vector<std::string> Readers::finish(Totals& totals) {
  std::vector<std::string> problems = check(totals);
  for (auto& r : readers_) r.close_stdin();
  for (std::size_t i = 0; i < readers_.size(); ++i) {
    if (ended_[i]) continue;
    ended_[i] = true;
    const auto line = readers_[i].read_stdout_line();
    const auto status = readers_[i].wait();
    const bool clean = line && line->starts_with("reader lookups=") && status && WIFEXITED(*status) &&
                       WEXITSTATUS(*status) == 0;
    if (!clean) {
      ++(line && line->starts_with("reader torn") ? totals.torn : totals.unexpected_exits);
      problems.push_back("reader " + std::to_string(readers_[i].pid()) + ": " + (line ? *line : "(nothing)"));
      continue;
    }
    totals.reader_lookups += std::strtoull(line->c_str() + std::string_view("reader lookups=").size(), nullptr, 10);
  }
  return problems;
}

}  // namespace shmreg::chaos
