// Select specs: Elixir's Registry.select/2 match specifications, in JSON. The
// client evaluates them over the segment; they never cross the wire.
//
// A spec is a JSON array of clauses, tried in order for every entry; the first
// clause that matches the entry gives the entry's one result:
//
//   [{"match":  {"key": K, "pid": P, "value": V},
//     "guards": [g, ...],
//     "return": R}, ...]
//
//   K  a pattern over the key, seen as a JSON string (never parsed): "_", a
//      variable, a string, or {"$literal": string}
//   P  a pattern over the owner's pid, seen as a JSON integer: "_", a
//      variable, or a non-negative integer
//   V  a pattern over the value, as in shmreg/proto/pattern.hpp: the value
//      parsed as JSON; a value that is not JSON only matches "_"
//   g  guards as in shmreg/proto/pattern.hpp, over the variables that K, P
//      and V bind
//   R  the result: "$n" (a bound variable), "$_" (the whole entry as
//      {"key": .., "pid": .., "value": ..}), "$$" (the bound variables as an
//      array, in order of their numbers), {"$literal": v}, or arrays and
//      objects of these (object member names are literal); anything else is
//      itself
//
// "match" members default to "_", "guards" to [] and "return" to "$_". A
// variable binds across K, P and V: {"key": "$1", "value": {"name": "$1"}}
// matches entries whose value names their key. In "$_" the value is the
// parsed JSON, or a JSON string holding its bytes when it is not JSON. Text
// that is not UTF-8 (keys, non-JSON values) comes out with U+FFFD in place of
// the bad bytes. Anything malformed is an error at compile time, with the
// reason, never a silent no-match. docs/queries.md has the full reference.
//
// Thread-safety: a compiled SelectSpec is immutable; share it freely.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmreg::client_detail {

class SelectSpec {
 public:
  static std::expected<SelectSpec, std::string> compile(std::string_view spec_json);

  SelectSpec(const SelectSpec&);
  SelectSpec& operator=(const SelectSpec&);
  SelectSpec(SelectSpec&&) noexcept;
  SelectSpec& operator=(SelectSpec&&) noexcept;
  ~SelectSpec();

  // The result of the first clause the entry matches, as compact JSON text;
  // nullopt when no clause does.
  std::optional<std::string> select(std::string_view key, std::uint32_t pid, std::string_view value) const;
  // True when some clause matches the entry (what count_select counts).
  bool matches(std::string_view key, std::uint32_t pid, std::string_view value) const;
  // When every clause names its key literally: those keys, each once, so that
  // a caller may look them up instead of scanning a registry (an empty spec
  // gives none: it matches nothing). Else nullptr.
  const std::vector<std::string>* literal_keys() const noexcept;

  struct Impl;

 private:
  explicit SelectSpec(std::shared_ptr<const Impl> impl) noexcept;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace shmreg::client_detail
