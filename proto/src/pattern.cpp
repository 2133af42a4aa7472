// Match patterns and guards (see pattern.hpp), over nlohmann-json.
#include "shmreg/proto/pattern.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>

#include "shmreg/proto/pattern_machinery.hpp"

namespace shmreg::proto {

namespace {

using nlohmann::json;

constexpr int kMaxVar = 99;
constexpr int kMaxDepth = 64;

// "$1".."$99" -> 1..99; anything else -> 0.
int var_index(const json& j) {
  if (!j.is_string()) return 0;
  const auto& s = j.get_ref<const std::string&>();
  if (s.size() < 2 || s.size() > 3 || s[0] != '$' || s[1] == '0') return 0;
  int n = 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return 0;
    n = n * 10 + (s[i] - '0');
  }
  return n;
}

bool is_literal_wrapper(const json& j) { return j.is_object() && j.size() == 1 && j.contains("$literal"); }
bool is_wildcard(const json& j) { return j.is_string() && j.get_ref<const std::string&>() == "_"; }

std::expected<void, std::string> check_pattern(const json& p, std::set<int>& bound, int depth) {
  if (depth > kMaxDepth) return std::unexpected(std::string("pattern nests too deep"));
  if (p.is_string()) {
    const auto& s = p.get_ref<const std::string&>();
    if (!s.empty() && s[0] == '$') {
      const int v = var_index(p);
      if (v == 0)
        return std::unexpected("'" + s + "' is not a variable ($1..$99); write {\"$literal\": \"" + s +
                               "\"} for the string itself");
      bound.insert(v);
    }
    return {};
  }
  if (is_literal_wrapper(p)) return {};
  if (p.is_object() || p.is_array()) {
    for (const auto& child : p) {
      if (auto ok = check_pattern(child, bound, depth + 1); !ok) return ok;
    }
  }
  return {};
}

const std::set<std::string>& comparison_ops() {
  static const std::set<std::string> ops = {"<", ">", "<=", ">=", "==", "!="};
  return ops;
}
const std::set<std::string>& type_ops() {
  static const std::set<std::string> ops = {"is_number", "is_integer", "is_float", "is_string",
                                            "is_boolean", "is_null",   "is_list",  "is_map"};
  return ops;
}

std::expected<void, std::string> check_operand(const json& a, const std::set<int>& bound) {
  if (a.is_string() && !a.get_ref<const std::string&>().empty() && a.get_ref<const std::string&>()[0] == '$') {
    const int v = var_index(a);
    if (v == 0) return std::unexpected("'" + a.get<std::string>() + "' is not a variable ($1..$99)");
    if (!bound.count(v)) return std::unexpected("guard uses " + a.get<std::string>() + ", which the pattern does not bind");
  }
  return {};
}

std::expected<void, std::string> check_guard(const json& g, const std::set<int>& bound, int depth) {
  if (depth > kMaxDepth) return std::unexpected(std::string("guard nests too deep"));
  if (!g.is_array() || g.empty() || !g[0].is_string())
    return std::unexpected("a guard is [op, args...], got " + g.dump());
  const std::string op = g[0].get<std::string>();
  const std::size_t args = g.size() - 1;
  if (comparison_ops().count(op)) {
    if (args != 2) return std::unexpected("'" + op + "' takes 2 arguments");
    for (std::size_t i = 1; i <= 2; ++i)
      if (auto ok = check_operand(g[i], bound); !ok) return ok;
    return {};
  }
  if (type_ops().count(op)) {
    if (args != 1) return std::unexpected("'" + op + "' takes 1 argument");
    return check_operand(g[1], bound);
  }
  if (op == "and" || op == "or") {
    if (args < 1) return std::unexpected("'" + op + "' takes at least 1 guard");
    for (std::size_t i = 1; i < g.size(); ++i)
      if (auto ok = check_guard(g[i], bound, depth + 1); !ok) return ok;
    return {};
  }
  if (op == "not") {
    if (args != 1) return std::unexpected(std::string("'not' takes 1 guard"));
    return check_guard(g[1], bound, depth + 1);
  }
  return std::unexpected("unknown guard '" + op + "'");
}

// Nesting depth of raw JSON text, counting brackets outside strings. Values
// nested deeper than kMaxValueDepth are treated as not JSON, so that comparing
// them cannot recurse without bound.
constexpr int kMaxValueDepth = 128;
bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxValueDepth) return true;
    } else if (c == ']' || c == '}') --depth;
  }
  return false;
}

using Bindings = std::array<const json*, kMaxVar + 1>;

bool equal(const json& a, const json& b) { return a == b; }

bool match(const json& p, const json& v, Bindings& b) {
  if (is_wildcard(p)) return true;
  if (const int var = var_index(p); var != 0) {
    if (b[var] != nullptr) return equal(*b[var], v);
    b[var] = &v;
    return true;
  }
  if (is_literal_wrapper(p)) return equal(p.at("$literal"), v);
  if (p.is_object()) {
    if (!v.is_object()) return false;
    for (auto it = p.begin(); it != p.end(); ++it) {
      auto found = v.find(it.key());
      if (found == v.end() || !match(it.value(), *found, b)) return false;
    }
    return true;
  }
  if (p.is_array()) {
    if (!v.is_array() || v.size() != p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (!match(p[i], v[i], b)) return false;
    return true;
  }
  return equal(p, v);
}

const json& operand(const json& a, const Bindings& b) {
  if (const int var = var_index(a); var != 0) return *b[var];
  if (is_literal_wrapper(a)) return a.at("$literal");
  return a;
}

// -1, 0, 1, or 2 when the two cannot be ordered.
int order(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) {
      const double x = a.get<double>(), y = b.get<double>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_number_unsigned() && b.is_number_unsigned()) {
      const auto x = a.get<std::uint64_t>(), y = b.get<std::uint64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const long double x = a.is_number_unsigned() ? static_cast<long double>(a.get<std::uint64_t>())
                                                 : static_cast<long double>(a.get<std::int64_t>());
    const long double y = b.is_number_unsigned() ? static_cast<long double>(b.get<std::uint64_t>())
                                                 : static_cast<long double>(b.get<std::int64_t>());
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return 2;
}

bool eval(const json& g, const Bindings& b) {
  const std::string& op = g[0].get_ref<const std::string&>();
  if (op == "and") {
    for (std::size_t i = 1; i < g.size(); ++i)
      if (!eval(g[i], b)) return false;
    return true;
  }
  if (op == "or") {
    for (std::size_t i = 1; i < g.size(); ++i)
      if (eval(g[i], b)) return true;
    return false;
  }
  if (op == "not") return !eval(g[1], b);
  if (type_ops().count(op)) {
    const json& a = operand(g[1], b);
    if (op == "is_number") return a.is_number();
    if (op == "is_integer") return a.is_number_integer();
    if (op == "is_float") return a.is_number_float();
    if (op == "is_string") return a.is_string();
    if (op == "is_boolean") return a.is_boolean();
    if (op == "is_null") return a.is_null();
    if (op == "is_list") return a.is_array();
    return a.is_object();
  }
  const json& x = operand(g[1], b);
  const json& y = operand(g[2], b);
  if (op == "==") return equal(x, y);
  if (op == "!=") return !equal(x, y);
  const int c = order(x, y);
  if (c == 2) return false;
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

}  // namespace

struct Matcher::Impl {
  json pattern;
  json guards;  // array, possibly empty
  bool everything = false;
};

Matcher::Matcher(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}
Matcher::Matcher(const Matcher&) = default;
Matcher& Matcher::operator=(const Matcher&) = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

std::expected<Matcher, std::string> Matcher::compile(std::string_view pattern_json, std::string_view guards_json) {
  auto impl = std::make_shared<Impl>();
  impl->pattern = json::parse(pattern_json, nullptr, false);
  if (impl->pattern.is_discarded()) return std::unexpected("pattern is not valid JSON: " + std::string(pattern_json));
  std::set<int> bound;
  if (auto ok = check_pattern(impl->pattern, bound, 0); !ok) return std::unexpected("invalid pattern: " + ok.error());
  impl->guards = json::array();
  const bool no_guards = guards_json.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (!no_guards) {
    impl->guards = json::parse(guards_json, nullptr, false);
    if (impl->guards.is_discarded()) return std::unexpected("guards are not valid JSON: " + std::string(guards_json));
    if (!impl->guards.is_array()) return std::unexpected(std::string("guards must be a JSON array of guards"));
    for (const auto& g : impl->guards)
      if (auto ok = check_guard(g, bound, 0); !ok) return std::unexpected("invalid guard: " + ok.error());
  }
  impl->everything = is_wildcard(impl->pattern) && impl->guards.empty();
  return Matcher(std::move(impl));
}

bool Matcher::matches_everything() const noexcept { return impl_->everything; }

bool Matcher::matches(std::string_view value) const {
  if (impl_->everything) return true;
  json v = too_deep(value) ? json(json::value_t::discarded) : json::parse(value, nullptr, false);
  if (v.is_discarded()) {
    // A value that is not JSON only matches "_" (guards can then bind nothing).
    if (!is_wildcard(impl_->pattern)) return false;
    v = json(nullptr);
  }
  Bindings b{};
  if (!match(impl_->pattern, v, b)) return false;
  for (const auto& g : impl_->guards)
    if (!eval(g, b)) return false;
  return true;
}

// The same functions, for select.cpp (shmreg/proto/pattern_machinery.hpp).
namespace pattern_internal {

static_assert(std::is_same_v<Bindings, proto::Bindings> && kMaxVariable == kMaxVar,
              "select specs and match patterns must bind variables the same way");

int variable_index(const json& j) { return var_index(j); }
bool is_wildcard_pattern(const json& j) { return is_wildcard(j); }
bool is_literal_wrapper(const json& j) { return proto::is_literal_wrapper(j); }
std::expected<void, std::string> check_pattern(const json& pattern, std::set<int>& bound) {
  return proto::check_pattern(pattern, bound, 0);
}
std::expected<void, std::string> check_guard(const json& guard, const std::set<int>& bound) {
  return proto::check_guard(guard, bound, 0);
}
bool match_pattern(const json& pattern, const json& value, Bindings& bindings) {
  return match(pattern, value, bindings);
}
bool guards_hold(const json& guards, const Bindings& bindings) {
  for (const auto& g : guards)
    if (!eval(g, bindings)) return false;
  return true;
}
bool nests_too_deep(std::string_view text) { return too_deep(text); }

}  // namespace pattern_internal

}  // namespace shmreg::proto
