// Typed reads out of one parsed TOML document for config_file.cpp: each read
// stores a value that is valid, or records a problem at the value's place in
// the file ("out of range 1..64", "expected an integer") and leaves the
// default. So one pass over a file finds every problem in it.
//
// Thread-safety: one reader per parse.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "config_file.hpp"
#include "settings.hpp"

namespace shmreg::broker {

// "a" + "b" → "a.b"; "" + "b" → "b".
[[nodiscard]] std::string key_path(const std::string& parent, std::string_view key);

class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  void problem(const toml::source_region& at, std::string key, std::string reason);
  // Reports each key of table that is not in known as unknown.
  void only_keys(const toml::table& table, const std::string& path, std::initializer_list<std::string_view> known);

  // False, with a problem at the table, when key is absent: "missing: <why>".
  bool present(const toml::table& t, std::string_view key, const std::string& path, std::string_view why);

  // Each read: absent key → false and out untouched; present and valid →
  // stored, true; present and invalid → a problem, false.
  bool integer(const toml::table& t, std::string_view key, const std::string& path, std::uint64_t min,
               std::uint64_t max, std::uint64_t& out);
  template <class T>
  bool integer(const toml::table& t, std::string_view key, const std::string& path, std::uint64_t min,
               std::uint64_t max, T& out) {
    std::uint64_t v = 0;
    if (!integer(t, key, path, min, max, v)) return false;
    out = static_cast<T>(v);
    return true;
  }
  // An integer of bytes or a string with a K/M/G suffix ("64M").
  bool size(const toml::table& t, std::string_view key, const std::string& path, std::uint64_t min,
            std::uint64_t max, std::uint64_t& out);
  template <class T>
  bool size(const toml::table& t, std::string_view key, const std::string& path, std::uint64_t min,
            std::uint64_t max, T& out) {
    std::uint64_t v = 0;
    if (!size(t, key, path, min, max, v)) return false;
    out = static_cast<T>(v);
    return true;
  }
  // An integer of milliseconds or a string with a unit ("10ms", "2s", "1m").
  bool duration(const toml::table& t, std::string_view key, const std::string& path, std::uint64_t min_ms,
                std::uint64_t max_ms, std::chrono::milliseconds& out);
  bool string(const toml::table& t, std::string_view key, const std::string& path, std::string& out);
  // An array of "*", users ("alice", "1000") and groups ("@dba", "@1001").
  bool access(const toml::table& t, std::string_view key, const std::string& path, AccessList& out);
  // An array of tables ([[registry]]); false (and maybe a problem) if absent or not one.
  const toml::array* tables(const toml::table& t, std::string_view key, const std::string& path);

  [[nodiscard]] bool ok() const noexcept { return problems_.empty(); }
  // The problems in the order of the file (a table iterates by key, not by place).
  [[nodiscard]] std::vector<ConfigProblem> take();

 private:
  bool wrong_type(const toml::node& n, const std::string& path, std::string_view expected);
  bool in_range(const toml::node& n, const std::string& path, std::uint64_t v, std::uint64_t min, std::uint64_t max,
                std::string_view unit);
  bool principal(const toml::node& n, const std::string& path, AccessList& out);

  std::string file_;
  std::vector<ConfigProblem> problems_;
};

}  // namespace shmreg::broker
