// Match patterns and guards over JSON values, with Elixir Registry semantics.
//
// Values in a registry are bytes. When a value is JSON, `match` and
// `unregister_match` select entries with a pattern and optional guards, both
// written as JSON text (they cross the wire, hence this module lives in proto/):
//
//   pattern  "_"                 matches anything (also a value that is not JSON)
//            "$1", "$2", ...     binds a variable; a variable used twice must
//                                match equal values
//            {"k": p, ...}       an object that has at least these keys, each
//                                matching its pattern (subset match)
//            [p1, p2, ...]       an array of exactly this length, position by position
//            {"$literal": v}     v itself, even if it is "_" or "$1"
//            anything else       equal to the value (numbers compare by value:
//                                1 matches 1.0)
//   guards   a JSON array of guard expressions that must all hold:
//            ["<"|">"|"<="|">="|"=="|"!=", a, b]  a, b: a bound variable or a literal;
//                                numbers compare numerically, strings bytewise;
//                                an ordering between other types is false
//            ["is_number"|"is_integer"|"is_float"|"is_string"|"is_boolean"|
//             "is_null"|"is_list"|"is_map", a]
//            ["and", g...], ["or", g...], ["not", g]
//
// A pattern or guard that is not JSON, or not well formed (unknown guard,
// wrong arity, a guard on a variable the pattern does not bind), is an error at
// compile time, never a silent no-match.
//
// Thread-safety: a compiled Matcher is immutable; share it freely.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

namespace shmreg::proto {

class Matcher {
 public:
  // Compiles pattern and guards (guards may be empty: no guard).
  static std::expected<Matcher, std::string> compile(std::string_view pattern_json, std::string_view guards_json);

  Matcher(const Matcher&);
  Matcher& operator=(const Matcher&);
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

  // True when value (raw bytes) matches the pattern and satisfies the guards.
  bool matches(std::string_view value) const;
  // True for the pattern "_" with no guards: every value matches.
  bool matches_everything() const noexcept;

  struct Impl;

 private:
  explicit Matcher(std::shared_ptr<const Impl> impl) noexcept;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace shmreg::proto
