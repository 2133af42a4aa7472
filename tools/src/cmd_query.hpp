// The CLI's read-side query commands: match, count-match, select,
// count-select and values. Like lookup, they read the segment alone and work
// while the broker is down. Exit codes follow main.cpp's contract: 0 success,
// 1 none found (match, select, values), 2 usage or any other error, including
// a malformed pattern, guard or spec (with the reason on stderr).
//
// Thread-safety: for main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace shmreg::tools {

class QueryCommands {
 public:
  // Adds the subcommands to app; their arguments land in this object, which
  // must outlive app's parse.
  explicit QueryCommands(CLI::App& app);
  QueryCommands(const QueryCommands&) = delete;
  QueryCommands& operator=(const QueryCommands&) = delete;

  // After app.parse: the exit code of the query command that was given, or
  // nullopt if none of them was.
  std::optional<int> run(const std::string& ns, const std::string& socket, bool json) const;

 private:
  CLI::App* match_ = nullptr;
  CLI::App* count_match_ = nullptr;
  CLI::App* select_ = nullptr;
  CLI::App* count_select_ = nullptr;
  CLI::App* values_ = nullptr;
  std::string reg_, key_, pattern_, guards_, spec_;
  std::uint32_t pid_ = 0;
};

}  // namespace shmreg::tools
