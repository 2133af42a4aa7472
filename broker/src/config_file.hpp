// The broker's configuration file (docs/config.md): TOML text in, Settings
// out, or every problem found, each with its file:line:column, its key and
// the reason.
//
// The file is checked on its own here: types, ranges, names of users and
// groups (resolved to ids through the system's user database), duplicate
// registries and static keys. Checking it against the settings in force and
// the live segment is the reload's job (reload.hpp).
//
// Thread-safety: free functions without shared state; user and group
// look-ups use the reentrant getpwnam_r / getgrnam_r family.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "settings.hpp"

namespace shmreg::broker {

// One thing wrong with a file. line 0: not at a place in the file (it
// cannot be read, say).
struct ConfigProblem {
  std::string file;
  std::uint32_t line = 0, column = 0;
  std::string key;  // dotted path: "limits.entries", "registry[1].capacity"; "" when none
  std::string reason;

  // "file:line:column: key: reason", leaving out what is unknown.
  [[nodiscard]] std::string text() const;
};

using LoadResult = std::expected<Settings, std::vector<ConfigProblem>>;

// Reads the file at path and parses it; Settings::path is path.
[[nodiscard]] LoadResult load_settings(const std::string& path);

// Parses TOML text; file_for_messages names it in problems and becomes
// Settings::path. Every problem of the file is reported, not just the
// first, except after a TOML syntax error, which ends the parse.
[[nodiscard]] LoadResult parse_settings(std::string_view toml, const std::string& file_for_messages);

}  // namespace shmreg::broker
