// The lookups family of the CLI; docs/queries.md has the pattern and
// select-spec languages.
//   lookup REG KEY [--consistent]   PID<TAB>VALUE per entry; exit 1 if none
//   keys REG PID                    the keys PID holds; exit 1 if none
//   count REG                       the number of entries
//   list REG                        KEY<TAB>PID<TAB>VALUE per entry, by key; exit 1 if none
//   match REG KEY PATTERN [GUARDS]  PID<TAB>VALUE per matching entry; exit 1 if none
//   count-match REG KEY PATTERN [GUARDS]
//   select REG SPEC                 one JSON result per entry; exit 1 if none
//   count-select REG SPEC
//   values REG KEY PID              PID's values under KEY; exit 1 if none
// PID is "static" for an entry the namespace owns (`shmreg set`; pid 0, and
// "static": true, in --json), and HOST:PID for an entry of another host in a
// cluster registry ("host": HOST beside "pid" in --json). All but lookup --consistent read the segment
// alone, so they work while the broker is down. A malformed pattern, guard or
// spec exits 2 with the reason on stderr.
#include <algorithm>
#include <iostream>
#include <tuple>
#include <vector>

#include "commands.hpp"
#include "json_bytes.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

// One entry per line, PID<TAB>VALUE (or VALUE alone without with_pid); JSON:
// an array of entries without their key.
int print_entries(const Globals& g, const std::vector<Entry>& entries, bool with_pid) {
  if (g.json) {
    json arr = json::array();
    for (const auto& e : entries) arr.push_back(entry_json(e, false));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& e : entries) {
      if (with_pid) std::cout << owner_text(e) << '\t';
      std::cout << escaped(e.value) << '\n';
    }
  }
  return entries.empty() ? kExitNotFound : kExitOk;
}

// What the lookup commands take; each command fills the fields it names.
struct LookupArgs {
  std::string reg, key, pattern, guards, spec;
  std::uint32_t pid = 0;
  bool consistent = false;
};

// The entries that read finds in REG, printed by print_entries.
template <class Read>
int print_read_entries(const Globals& g, const LookupArgs& a, bool with_pid, Read read) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  auto entries = read(*r);
  if (!entries) return report_error(g, entries.error());
  return print_entries(g, *entries, with_pid);
}

int run_lookup(const Globals& g, const LookupArgs& a) {
  if (a.consistent) {
    auto c = open_client(g);
    if (!c) return c.error();
    auto entries = c->lookup_consistent(a.reg, a.key);
    if (!entries) return report_error(g, entries.error());
    return print_entries(g, *entries, true);
  }
  return print_read_entries(g, a, true, [&](const Registry& r) { return r.lookup(a.key); });
}

int run_keys(const Globals& g, const LookupArgs& a) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  auto keys = r->keys(a.pid);
  if (!keys) return report_error(g, keys.error());
  if (g.json) {
    json arr = json::array();
    for (const auto& k : *keys) {
      // A key that is not UTF-8 is an object {"key_base64": ...} in the array.
      json one;
      put_bytes(one, "key", k);
      arr.push_back(one.contains("key") ? one["key"] : one);
    }
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& k : *keys) std::cout << escaped(k) << '\n';
  }
  return keys->empty() ? kExitNotFound : kExitOk;
}

int run_list(const Globals& g, const LookupArgs& a) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  auto entries = r->list();
  if (!entries) return report_error(g, entries.error());
  // The registry is walked in hash order; people and diffs read key order.
  std::sort(entries->begin(), entries->end(), [](const Entry& x, const Entry& y) {
    return std::tie(x.key, x.host, x.pid, x.version) < std::tie(y.key, y.host, y.pid, y.version);
  });
  if (g.json) {
    json arr = json::array();
    for (const auto& e : *entries) arr.push_back(entry_json(e, true));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& e : *entries)
      std::cout << escaped(e.key) << '\t' << owner_text(e) << '\t' << escaped(e.value) << '\n';
  }
  return entries->empty() ? kExitNotFound : kExitOk;
}

int run_match(const Globals& g, const LookupArgs& a) {
  return print_read_entries(g, a, true, [&](const Registry& r) { return r.match(a.key, pattern_json(a.pattern), a.guards); });
}

int run_values(const Globals& g, const LookupArgs& a) {
  return print_read_entries(g, a, false, [&](const Registry& r) { return r.values(a.key, a.pid); });
}

int run_select(const Globals& g, const LookupArgs& a) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  auto results = r->select(a.spec);
  if (!results) return report_error(g, results.error());
  if (g.json) {
    // Each result is JSON text already; parsing it back nests it as JSON.
    json arr = json::array();
    for (const auto& text : *results) arr.push_back(json::parse(text, nullptr, false));
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& text : *results) std::cout << text << '\n';
  }
  return results->empty() ? kExitNotFound : kExitOk;
}

enum class Counted { all, matching, selected };

// count, count-match and count-select: the number alone, or a JSON object
// naming what was counted.
int run_count(const Globals& g, const LookupArgs& a, Counted what) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  auto n = what == Counted::all        ? r->count()
           : what == Counted::matching ? r->count_match(a.key, pattern_json(a.pattern), a.guards)
                                       : r->count_select(a.spec);
  if (!n) return report_error(g, n.error());
  if (g.json) {
    json out = {{"registry", a.reg}, {"count", *n}};
    if (what == Counted::matching) out["key"] = a.key;
    std::cout << to_json_text(out) << "\n";
  } else {
    std::cout << *n << "\n";
  }
  return kExitOk;
}

// A command over REG with arguments of its own; the caller adds the rest.
template <class RunWithArgs>
CommandTable::Added<LookupArgs> add_registry_command(CommandTable& table, const std::string& name,
                                                     const std::string& help, RunWithArgs run) {
  auto added = table.add<LookupArgs>(name, help, std::move(run));
  added.cmd->add_option("REG", added.args.reg, "registry name")->required();
  return added;
}

void add_entry_lookups(CommandTable& table) {
  auto [lookup, la] = add_registry_command(table, "lookup", "print PID<TAB>VALUE per entry; exit 1 if none",
                                           run_lookup);
  lookup->add_option("KEY", la.key, "key")->required();
  lookup->add_flag("--consistent", la.consistent,
                   "ask the broker, which returns only entries whose owners it has just checked alive");

  auto [keys, ka] = add_registry_command(table, "keys", "print the keys PID holds in REG; exit 1 if none", run_keys);
  keys->add_option("PID", ka.pid, "process id")->required();

  add_registry_command(table, "count", "print the number of entries in REG",
                       [](const Globals& g, const LookupArgs& a) { return run_count(g, a, Counted::all); });
  add_registry_command(table, "list", "print KEY<TAB>PID<TAB>VALUE per entry, sorted by key; exit 1 if none", run_list);
}

void add_queries(CommandTable& table) {
  auto [match, ma] = add_registry_command(
      table, "match", "print PID<TAB>VALUE per entry under KEY whose value matches; exit 1 if none", run_match);
  match->add_option("KEY", ma.key, "key")->required();
  match->add_option("PATTERN", ma.pattern, "JSON pattern: \"_\" (or a bare _) matches all, \"$1\" binds")->required();
  match->add_option("GUARDS", ma.guards, "JSON array of guards, e.g. '[[\">\", \"$1\", 1]]'");

  auto [count_match, cma] =
      add_registry_command(table, "count-match", "print how many entries under KEY match",
                           [](const Globals& g, const LookupArgs& a) { return run_count(g, a, Counted::matching); });
  count_match->add_option("KEY", cma.key, "key")->required();
  count_match->add_option("PATTERN", cma.pattern, "JSON pattern: \"_\" (or a bare _) matches all")->required();
  count_match->add_option("GUARDS", cma.guards, "JSON array of guards");

  auto [select, sa] = add_registry_command(
      table, "select", "print one JSON result per selected entry (--json: an array); exit 1 if none", run_select);
  select->add_option("SPEC", sa.spec, "select spec: [{\"match\": {...}, \"guards\": [...], \"return\": ...}]")
      ->required();

  auto [count_select, csa] =
      add_registry_command(table, "count-select", "print how many entries SPEC selects",
                           [](const Globals& g, const LookupArgs& a) { return run_count(g, a, Counted::selected); });
  count_select->add_option("SPEC", csa.spec, "select spec")->required();

  auto [values, va] = add_registry_command(
      table, "values", "print the values PID holds under KEY, one per line; exit 1 if none", run_values);
  values->add_option("KEY", va.key, "key")->required();
  values->add_option("PID", va.pid, "process id")->required();
}

}  // namespace

void add_lookups_commands(CommandTable& table) {
  add_entry_lookups(table);
  add_queries(table);
}

}  // namespace shmreg::tools
