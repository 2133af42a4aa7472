#include "config_registry.hpp"

#include <algorithm>
#include <map>

#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/meta_codec.hpp"
#include "shmreg/shm/spec_rules.hpp"

namespace shmreg::broker {

namespace {

SourcePos pos_of(const toml::node& n) {
  return SourcePos{static_cast<std::uint32_t>(n.source().begin.line),
                   static_cast<std::uint32_t>(n.source().begin.column)};
}

void read_name(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  if (!r.present(t, "name", path, "every [[registry]] needs a name") || !r.string(t, "name", path, reg.name)) return;
  if (!shm::valid_registry_name(reg.name)) {
    r.problem(t.get("name")->source(), path + ".name",
              "'" + reg.name + "' is not a registry name (1.." + std::to_string(shm::kMaxNameLen) +
                  " bytes, no spaces or control characters)");
    reg.name.clear();
  }
}

void read_kind(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  std::string kind;
  if (!r.string(t, "keys", path, kind)) return;
  if (kind == "unique") reg.kind = shm::RegistryKind::unique;
  else if (kind == "duplicate") reg.kind = shm::RegistryKind::duplicate;
  else r.problem(t.get("keys")->source(), path + ".keys", "'" + kind + "' is neither \"unique\" nor \"duplicate\"");
}

void read_meta(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  const toml::node* n = t.get("meta");
  if (n == nullptr) return;
  const toml::table* m = n->as_table();
  if (m == nullptr) {
    r.problem(n->source(), path + ".meta", "expected a table of strings ({ tier = \"1\" })");
    return;
  }
  shm::MetaPairs pairs;
  bool good = true;
  for (const auto& [k, v] : *m) {
    const auto s = v.value_exact<std::string>();
    if (!s) {
      r.problem(v.source(), path + ".meta." + std::string(k.str()), "expected a string");
      good = false;
      continue;
    }
    pairs.emplace_back(std::string(k.str()), *s);
  }
  if (!good) return;
  if (!shm::check_meta(pairs)) {
    r.problem(n->source(), path + ".meta",
              "meta does not fit: keys must be 1.." + std::to_string(shm::kMaxMetaKey) +
                  " bytes, and all pairs within one meta block of " + std::to_string(shm::kMetaBlockSize) + " bytes");
    return;
  }
  reg.meta = std::move(pairs);
}

void read_reservations(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  const toml::array* list = r.tables(t, "reserve", path);
  if (list == nullptr) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::table& res = *list->get(i)->as_table();
    const std::string at = path + ".reserve[" + std::to_string(i) + "]";
    r.only_keys(res, at, {"prefix", "owners"});
    Reservation rv;
    rv.where = pos_of(res);
    if (r.present(res, "prefix", at, "a reservation needs a prefix") && r.string(res, "prefix", at, rv.prefix) &&
        (rv.prefix.empty() || rv.prefix.size() > reg.max_key))
      r.problem(res.get("prefix")->source(), at + ".prefix",
                "a prefix is 1.." + std::to_string(reg.max_key) + " bytes (the registry's max_key)");
    if (r.present(res, "owners", at, "a reservation needs owners ([\"postgres\", \"@dba\"])"))
      r.access(res, "owners", at, rv.owners);
    reg.reserve.push_back(std::move(rv));
  }
}

void read_statics(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  const toml::array* list = r.tables(t, "static", path);
  if (list == nullptr) return;
  if (reg.kind != shm::RegistryKind::unique && !list->empty())
    r.problem(list->source(), path + ".static", "static entries need a registry with keys = \"unique\"");
  if (list->size() > reg.capacity)
    r.problem(list->source(), path + ".static",
              std::to_string(list->size()) + " static entries exceed the capacity " + std::to_string(reg.capacity));
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::table& st = *list->get(i)->as_table();
    const std::string at = path + ".static[" + std::to_string(i) + "]";
    r.only_keys(st, at, {"key", "value"});
    StaticEntry e;
    e.where = pos_of(st);
    const bool has_key = r.present(st, "key", at, "a static entry needs a key") && r.string(st, "key", at, e.key);
    if (r.present(st, "value", at, "a static entry needs a value")) r.string(st, "value", at, e.value);
    if (has_key && (e.key.empty() || e.key.size() > reg.max_key))
      r.problem(st.get("key")->source(), at + ".key",
                "a key is 1.." + std::to_string(reg.max_key) + " bytes (the registry's max_key)");
    if (e.value.size() > reg.max_value)
      r.problem(st.get("value")->source(), at + ".value",
                std::to_string(e.value.size()) + " bytes exceed the registry's max_value " +
                    std::to_string(reg.max_value));
    if (!e.key.empty()) {
      if (auto [it, fresh] = seen.emplace(e.key, i); !fresh)
        r.problem(st.get("key")->source(), at + ".key",
                  "duplicate static key '" + e.key + "' (also " + path + ".static[" + std::to_string(it->second) + "])");
    }
    reg.statics.push_back(std::move(e));
  }
}

void read_scope(ConfigReader& r, const toml::table& t, const std::string& path, DeclaredRegistry& reg) {
  std::string scope;
  if (!r.string(t, "scope", path, scope)) return;
  if (scope == "host") reg.scope = RegistryScope::host;
  else if (scope == "cluster") reg.scope = RegistryScope::cluster;
  else r.problem(t.get("scope")->source(), path + ".scope", "'" + scope + "' is neither \"host\" nor \"cluster\"");
}

DeclaredRegistry read_registry(ConfigReader& r, const toml::table& t, const std::string& path,
                               const BrokerSection& defaults) {
  r.only_keys(t, path,
              {"name", "keys", "partitions", "max_key", "max_value", "capacity", "meta", "register", "admin", "reserve",
               "static", "scope"});
  DeclaredRegistry reg;
  reg.where = pos_of(t);
  reg.max_key = defaults.default_max_key;
  reg.max_value = defaults.default_max_value;
  reg.capacity = defaults.default_capacity;
  read_name(r, t, path, reg);
  read_kind(r, t, path, reg);
  read_scope(r, t, path, reg);
  r.integer(t, "partitions", path, 1, shm::kMaxPartitions, reg.partitions);
  r.integer(t, "max_key", path, 1, shm::kMaxKeyLen, reg.max_key);
  r.integer(t, "max_value", path, 0, shm::kMaxValueLen, reg.max_value);
  r.integer(t, "capacity", path, 1, shm::kMaxRecordsPerRegistry, reg.capacity);
  read_meta(r, t, path, reg);
  r.access(t, "register", path, reg.register_access);
  r.access(t, "admin", path, reg.admin);
  read_reservations(r, t, path, reg);
  read_statics(r, t, path, reg);
  return reg;
}

}  // namespace

void read_registries(ConfigReader& r, const toml::array& regs, const BrokerSection& defaults,
                     std::vector<DeclaredRegistry>& out) {
  if (regs.size() > shm::kMaxRegistries)
    r.problem(regs.source(), "registry",
              std::to_string(regs.size()) + " registries exceed the segment's " + std::to_string(shm::kMaxRegistries));
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < regs.size(); ++i) {
    const std::string path = "registry[" + std::to_string(i) + "]";
    DeclaredRegistry reg = read_registry(r, *regs.get(i)->as_table(), path, defaults);
    if (!reg.name.empty()) {
      if (auto [it, fresh] = seen.emplace(reg.name, i); !fresh)
        r.problem(regs.get(i)->as_table()->get("name")->source(), path + ".name",
                  "duplicate registry name '" + reg.name + "' (also registry[" + std::to_string(it->second) + "])");
    }
    out.push_back(std::move(reg));
  }
}

}  // namespace shmreg::broker
