// The pattern machinery behind pattern.hpp: binding variables, checking and
// matching patterns, evaluating guards. The client's select specs are built
// on it so that match patterns, guards and select specs keep one meaning.
// Building blocks for those two users, not an API for applications.
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <array>
#include <expected>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

namespace shmreg::proto::pattern_internal {

inline constexpr int kMaxVariable = 99;

// bindings[n] points at the JSON that "$n" matched, or is null while unbound.
using Bindings = std::array<const nlohmann::json*, kMaxVariable + 1>;

// "$1".."$99" -> 1..99; anything else -> 0.
int variable_index(const nlohmann::json& j);
bool is_wildcard_pattern(const nlohmann::json& j);
// {"$literal": v}
bool is_literal_wrapper(const nlohmann::json& j);

// Checks a pattern and adds the variables it binds to bound; the error says why.
std::expected<void, std::string> check_pattern(const nlohmann::json& pattern, std::set<int>& bound);
// Checks one guard expression against the variables bound before it.
std::expected<void, std::string> check_guard(const nlohmann::json& guard, const std::set<int>& bound);

// Matches value against pattern, binding variables as it goes (a variable
// bound earlier must match an equal value).
bool match_pattern(const nlohmann::json& pattern, const nlohmann::json& value, Bindings& bindings);
// True when every guard of the array holds.
bool guards_hold(const nlohmann::json& guards, const Bindings& bindings);

// True when raw JSON text nests deeper than the matcher accepts for values;
// such text is treated as not JSON.
bool nests_too_deep(std::string_view text);

}  // namespace shmreg::proto::pattern_internal
