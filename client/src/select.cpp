// Select specs (see select.hpp), on the pattern machinery of proto/src/pattern.cpp.
#include "select.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "shmreg/proto/pattern_machinery.hpp"

namespace shmreg::client_detail {

using nlohmann::json;

// One clause of a spec, held by SelectSpec::Impl (so not in the anonymous
// namespace below: a member's type must have the same linkage).
struct SelectClause {
  json key = "_";
  json pid = "_";
  json value = "_";
  json guards = json::array();
  json result = "$_";
  bool value_is_wildcard = true;
};

namespace {

using Clause = SelectClause;
namespace pi = proto::pattern_internal;

constexpr int kMaxTemplateDepth = 64;

std::string describe(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_string_starting_with_dollar(const json& j) {
  return j.is_string() && !j.get_ref<const std::string&>().empty() && j.get_ref<const std::string&>()[0] == '$';
}

// A key is a string: its pattern is "_", a variable, a string or a wrapped one.
std::expected<void, std::string> check_key_pattern(const json& k) {
  if (k.is_string()) return {};
  if (pi::is_literal_wrapper(k) && k.at("$literal").is_string()) return {};
  return std::unexpected("a key is matched as a string, so its pattern is \"_\", a variable or a string, not " +
                         describe(k));
}

bool is_pid_number(const json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0);
}

// A pid is a non-negative integer: its pattern is "_", a variable or one.
std::expected<void, std::string> check_pid_pattern(const json& p) {
  if (pi::is_wildcard_pattern(p) || pi::variable_index(p) != 0 || is_pid_number(p)) return {};
  if (pi::is_literal_wrapper(p) && is_pid_number(p.at("$literal"))) return {};
  return std::unexpected("a pid is matched as an integer, so its pattern is \"_\", a variable or an integer, not " +
                         describe(p));
}

std::expected<void, std::string> check_result(const json& r, const std::set<int>& bound, int depth) {
  if (depth > kMaxTemplateDepth) return std::unexpected(std::string("\"return\" nests too deep"));
  if (is_string_starting_with_dollar(r)) {
    const auto& s = r.get_ref<const std::string&>();
    if (s == "$_" || s == "$$") return {};
    const int v = pi::variable_index(r);
    if (v == 0)
      return std::unexpected("'" + s + "' in \"return\" is not $1..$99, $_ or $$; write {\"$literal\": \"" + s +
                             "\"} for the string itself");
    if (!bound.count(v)) return std::unexpected("\"return\" uses " + s + ", which \"match\" does not bind");
    return {};
  }
  if (pi::is_literal_wrapper(r)) return {};
  if (r.is_object() || r.is_array()) {
    for (const auto& child : r)
      if (auto ok = check_result(child, bound, depth + 1); !ok) return ok;
  }
  return {};
}

std::expected<Clause, std::string> compile_clause(const json& c) {
  if (!c.is_object()) return std::unexpected("a clause is an object {\"match\", \"guards\", \"return\"}, got " + describe(c));
  for (auto it = c.begin(); it != c.end(); ++it)
    if (it.key() != "match" && it.key() != "guards" && it.key() != "return")
      return std::unexpected("unknown clause member \"" + it.key() + "\" (expected match, guards, return)");
  Clause out;
  auto m = c.find("match");
  if (m == c.end()) return std::unexpected(std::string("a clause needs \"match\" ({} matches every entry)"));
  if (!m->is_object()) return std::unexpected("\"match\" is an object {\"key\", \"pid\", \"value\"}, got " + describe(*m));
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (it.key() == "key") out.key = it.value();
    else if (it.key() == "pid") out.pid = it.value();
    else if (it.key() == "value") out.value = it.value();
    else return std::unexpected("unknown \"match\" member \"" + it.key() + "\" (expected key, pid, value)");
  }
  // Key, pid, value: the order in which variables bind, for the checks too.
  std::set<int> bound;
  if (auto ok = check_key_pattern(out.key); !ok) return std::unexpected(ok.error());
  if (auto ok = pi::check_pattern(out.key, bound); !ok) return std::unexpected("invalid key pattern: " + ok.error());
  if (auto ok = check_pid_pattern(out.pid); !ok) return std::unexpected(ok.error());
  if (auto ok = pi::check_pattern(out.pid, bound); !ok) return std::unexpected("invalid pid pattern: " + ok.error());
  if (auto ok = pi::check_pattern(out.value, bound); !ok)
    return std::unexpected("invalid value pattern: " + ok.error());
  out.value_is_wildcard = pi::is_wildcard_pattern(out.value);
  if (auto g = c.find("guards"); g != c.end()) {
    if (!g->is_array()) return std::unexpected(std::string("\"guards\" must be a JSON array of guards"));
    for (const auto& guard : *g)
      if (auto ok = pi::check_guard(guard, bound); !ok) return std::unexpected("invalid guard: " + ok.error());
    out.guards = *g;
  }
  if (auto r = c.find("return"); r != c.end()) {
    if (auto ok = check_result(*r, bound, 0); !ok) return std::unexpected(ok.error());
    out.result = *r;
  }
  return out;
}

// The key, pid and value of one entry as JSON; the value is parsed on first
// use, since many specs never look at it.
class EntryJson {
 public:
  EntryJson(std::string_view key, std::uint32_t pid, std::string_view value)
      : key_(std::string(key)), pid_(pid), raw_value_(value) {}
  const json& key() const { return key_; }
  const json& pid() const { return pid_; }
  // Null when the value is not JSON.
  const json* value() {
    if (!parsed_) {
      parsed_ = true;
      if (!pi::nests_too_deep(raw_value_)) value_ = json::parse(raw_value_, nullptr, false);
      else value_ = json(json::value_t::discarded);
    }
    return value_.is_discarded() ? nullptr : &value_;
  }
  json whole() {
    const json* v = value();
    return json{{"key", key_}, {"pid", pid_}, {"value", v != nullptr ? *v : json(std::string(raw_value_))}};
  }

 private:
  json key_;
  json pid_;
  std::string_view raw_value_;
  json value_;
  bool parsed_ = false;
};

json build_result(const json& r, const pi::Bindings& b, EntryJson& e) {
  if (r.is_string()) {
    const auto& s = r.get_ref<const std::string&>();
    if (s == "$_") return e.whole();
    if (s == "$$") {
      json vars = json::array();
      for (const json* v : b)
        if (v != nullptr) vars.push_back(*v);
      return vars;
    }
    if (const int v = pi::variable_index(r); v != 0) return *b[v];
    return r;
  }
  if (pi::is_literal_wrapper(r)) return r.at("$literal");
  if (r.is_object()) {
    json o = json::object();
    for (auto it = r.begin(); it != r.end(); ++it) o[it.key()] = build_result(it.value(), b, e);
    return o;
  }
  if (r.is_array()) {
    json a = json::array();
    for (const auto& x : r) a.push_back(build_result(x, b, e));
    return a;
  }
  return r;
}

}  // namespace

struct SelectSpec::Impl {
  std::vector<Clause> clauses;
  bool keys_are_literal = true;
  std::vector<std::string> keys;  // with keys_are_literal

  // The first clause the entry matches, with its bindings; nullptr if none.
  const Clause* first_match(EntryJson& e, pi::Bindings& b) const {
    for (const Clause& c : clauses) {
      b.fill(nullptr);
      if (!pi::match_pattern(c.key, e.key(), b) || !pi::match_pattern(c.pid, e.pid(), b)) continue;
      if (!c.value_is_wildcard) {
        const json* v = e.value();
        if (v == nullptr || !pi::match_pattern(c.value, *v, b)) continue;
      }
      if (!pi::guards_hold(c.guards, b)) continue;
      return &c;
    }
    return nullptr;
  }
};

SelectSpec::SelectSpec(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}
SelectSpec::SelectSpec(const SelectSpec&) = default;
SelectSpec& SelectSpec::operator=(const SelectSpec&) = default;
SelectSpec::SelectSpec(SelectSpec&&) noexcept = default;
SelectSpec& SelectSpec::operator=(SelectSpec&&) noexcept = default;
SelectSpec::~SelectSpec() = default;

std::expected<SelectSpec, std::string> SelectSpec::compile(std::string_view spec_json) {
  if (pi::nests_too_deep(spec_json)) return std::unexpected(std::string("select spec nests too deep"));
  const json spec = json::parse(spec_json, nullptr, false);
  if (spec.is_discarded()) return std::unexpected("select spec is not valid JSON: " + std::string(spec_json));
  if (!spec.is_array())
    return std::unexpected(std::string("a select spec is a JSON array of clauses {\"match\", \"guards\", \"return\"}"));
  auto impl = std::make_shared<Impl>();
  std::set<std::string> seen;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    auto clause = compile_clause(spec[i]);
    if (!clause) return std::unexpected("clause " + std::to_string(i + 1) + ": " + clause.error());
    const json& k = clause->key;
    const json* literal = nullptr;
    if (pi::is_literal_wrapper(k)) literal = &k.at("$literal");
    else if (!pi::is_wildcard_pattern(k) && pi::variable_index(k) == 0) literal = &k;
    if (literal == nullptr) impl->keys_are_literal = false;
    else if (seen.insert(literal->get<std::string>()).second) impl->keys.push_back(literal->get<std::string>());
    impl->clauses.push_back(std::move(*clause));
  }
  if (!impl->keys_are_literal) impl->keys.clear();
  return SelectSpec(std::move(impl));
}

std::optional<std::string> SelectSpec::select(std::string_view key, std::uint32_t pid, std::string_view value) const {
  if (impl_->clauses.empty()) return std::nullopt;
  EntryJson e(key, pid, value);
  pi::Bindings b{};
  const Clause* c = impl_->first_match(e, b);
  if (c == nullptr) return std::nullopt;
  return build_result(c->result, b, e).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool SelectSpec::matches(std::string_view key, std::uint32_t pid, std::string_view value) const {
  if (impl_->clauses.empty()) return false;
  EntryJson e(key, pid, value);
  pi::Bindings b{};
  return impl_->first_match(e, b) != nullptr;
}

const std::vector<std::string>* SelectSpec::literal_keys() const noexcept {
  return impl_->keys_are_literal ? &impl_->keys : nullptr;
}

}  // namespace shmreg::client_detail
