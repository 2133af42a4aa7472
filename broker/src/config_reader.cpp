#include "config_reader.hpp"

#include <algorithm>
#include <limits>

#include "config_values.hpp"

namespace shmreg::broker {

namespace {

// Bytes as a file would write them: "64M" when exact, else the number.
std::string bytes_text(std::uint64_t v) {
  constexpr std::pair<unsigned, char> kUnits[] = {{30, 'G'}, {20, 'M'}, {10, 'K'}};
  for (const auto& [shift, unit] : kUnits)
    if (v != 0 && v % (std::uint64_t{1} << shift) == 0) return std::to_string(v >> shift) + unit;
  return std::to_string(v);
}

// "is out of range 1..64", or "is below the minimum 0" where only a minimum matters.
std::string out_of_range(const std::string& value, std::uint64_t min, std::uint64_t max, std::string_view unit) {
  const auto shown = [&](std::uint64_t v) {
    return unit == "bytes" ? bytes_text(v) : std::to_string(v) + std::string(unit);
  };
  if (max >= std::uint64_t{std::numeric_limits<std::int64_t>::max()})
    return value + " is below the minimum " + shown(min);
  return value + " is out of range " + shown(min) + ".." + shown(max);
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "a value";
}

// Edits (insert, delete, replace) from a to b, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string key_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

void ConfigReader::problem(const toml::source_region& at, std::string key, std::string reason) {
  problems_.push_back(ConfigProblem{file_, static_cast<std::uint32_t>(at.begin.line),
                                    static_cast<std::uint32_t>(at.begin.column), std::move(key), std::move(reason)});
}

std::vector<ConfigProblem> ConfigReader::take() {
  std::ranges::stable_sort(problems_, {}, [](const ConfigProblem& p) { return std::pair{p.line, p.column}; });
  return std::move(problems_);
}

void ConfigReader::only_keys(const toml::table& table, const std::string& path,
                             std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : table) {
    if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
    std::string_view nearest;
    for (std::string_view name : known)
      if (edit_distance(k.str(), name) <= 2 &&
          (nearest.empty() || edit_distance(k.str(), name) < edit_distance(k.str(), nearest)))
        nearest = name;
    std::string expected;
    for (std::string_view name : known) expected += (expected.empty() ? "" : ", ") + std::string(name);
    problem(k.source(), key_path(path, k.str()),
            nearest.empty() ? "unknown key (known here: " + expected + ")"
                            : "unknown key (did you mean '" + std::string(nearest) + "'?)");
  }
}

bool ConfigReader::present(const toml::table& t, std::string_view key, const std::string& path,
                           std::string_view why) {
  if (t.get(key) != nullptr) return true;
  problem(t.source(), key_path(path, key), "missing: " + std::string(why));
  return false;
}

bool ConfigReader::wrong_type(const toml::node& n, const std::string& path, std::string_view expected) {
  problem(n.source(), path, "expected " + std::string(expected) + ", not " + type_name(n));
  return false;
}

bool ConfigReader::in_range(const toml::node& n, const std::string& path, std::uint64_t v, std::uint64_t min,
                            std::uint64_t max, std::string_view unit) {
  if (v >= min && v <= max) return true;
  const std::string shown = unit == "bytes" ? bytes_text(v) : std::to_string(v) + std::string(unit);
  problem(n.source(), path, out_of_range(shown, min, max, unit));
  return false;
}

bool ConfigReader::integer(const toml::table& t, std::string_view key, const std::string& parent, std::uint64_t min,
                           std::uint64_t max, std::uint64_t& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const std::string path = key_path(parent, key);
  const auto v = n->value_exact<std::int64_t>();
  if (!v) return wrong_type(*n, path, "an integer");
  if (*v < 0) {
    problem(n->source(), path, out_of_range(std::to_string(*v), min, max, ""));
    return false;
  }
  if (!in_range(*n, path, static_cast<std::uint64_t>(*v), min, max, "")) return false;
  out = static_cast<std::uint64_t>(*v);
  return true;
}

bool ConfigReader::size(const toml::table& t, std::string_view key, const std::string& parent, std::uint64_t min,
                        std::uint64_t max, std::uint64_t& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const std::string path = key_path(parent, key);
  std::uint64_t bytes = 0;
  if (const auto i = n->value_exact<std::int64_t>()) {
    if (*i < 0) {
      problem(n->source(), path, out_of_range(std::to_string(*i), min, max, "bytes"));
      return false;
    }
    bytes = static_cast<std::uint64_t>(*i);
  } else if (const auto s = n->value_exact<std::string>()) {
    const auto parsed = parse_size(*s);
    if (!parsed) {
      problem(n->source(), path, "'" + *s + "' is not a size (bytes, or a number with K, M or G: \"64M\")");
      return false;
    }
    bytes = *parsed;
  } else {
    return wrong_type(*n, path, "a size (bytes, or a string such as \"64M\")");
  }
  if (!in_range(*n, path, bytes, min, max, "bytes")) return false;
  out = bytes;
  return true;
}

bool ConfigReader::duration(const toml::table& t, std::string_view key, const std::string& parent, std::uint64_t min_ms,
                            std::uint64_t max_ms, std::chrono::milliseconds& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const std::string path = key_path(parent, key);
  std::uint64_t ms = 0;
  if (const auto i = n->value_exact<std::int64_t>()) {
    if (*i < 0) {
      problem(n->source(), path, out_of_range(std::to_string(*i) + "ms", min_ms, max_ms, "ms"));
      return false;
    }
    ms = static_cast<std::uint64_t>(*i);
  } else if (const auto s = n->value_exact<std::string>()) {
    const auto parsed = parse_duration(*s);
    if (!parsed) {
      problem(n->source(), path, "'" + *s + "' is not a duration (a number with ms, s or m: \"10ms\", \"2s\")");
      return false;
    }
    ms = static_cast<std::uint64_t>(parsed->count());
  } else {
    return wrong_type(*n, path, "a duration (milliseconds, or a string such as \"10s\")");
  }
  if (!in_range(*n, path, ms, min_ms, max_ms, "ms")) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  return true;
}

bool ConfigReader::string(const toml::table& t, std::string_view key, const std::string& parent, std::string& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const auto s = n->value_exact<std::string>();
  if (!s) return wrong_type(*n, key_path(parent, key), "a string");
  out = *s;
  return true;
}

bool ConfigReader::principal(const toml::node& n, const std::string& path, AccessList& out) {
  const auto s = n.value_exact<std::string>();
  if (!s) return wrong_type(n, path, "a string (\"*\", a user, or \"@group\")");
  const std::string& text = *s;
  if (text == "*") {
    out.who.push_back(Principal{Principal::Kind::anyone, 0, text});
    return true;
  }
  if (text.starts_with('@')) {
    const auto gid = resolve_group(std::string_view(text).substr(1), false);
    if (!gid) {
      problem(n.source(), path, "unknown group '" + text.substr(1) + "'");
      return false;
    }
    out.who.push_back(Principal{Principal::Kind::group, *gid, text});
    return true;
  }
  const auto uid = resolve_user(text);
  if (!uid) {
    problem(n.source(), path, "unknown user '" + text + "'");
    return false;
  }
  out.who.push_back(Principal{Principal::Kind::user, *uid, text});
  return true;
}

bool ConfigReader::access(const toml::table& t, std::string_view key, const std::string& parent, AccessList& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const std::string path = key_path(parent, key);
  const toml::array* a = n->as_array();
  if (a == nullptr) return wrong_type(*n, path, "an array of users and groups ([\"root\", \"@adm\"])");
  AccessList list;
  bool good = true;
  for (std::size_t i = 0; i < a->size(); ++i)
    good = principal(*a->get(i), path + "[" + std::to_string(i) + "]", list) && good;
  if (!good) return false;
  out = std::move(list);
  return true;
}

const toml::array* ConfigReader::tables(const toml::table& t, std::string_view key, const std::string& path) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  const toml::array* a = n->as_array();
  if (a == nullptr || (!a->empty() && !a->is_array_of_tables())) {
    wrong_type(*n, key_path(path, key), "an array of tables ([[" + key_path(path, key) + "]])");
    return nullptr;
  }
  return a;
}

}  // namespace shmreg::broker
