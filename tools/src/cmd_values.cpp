// The values family of the CLI: an entry's value, and a registry's meta.
//   update REG KEY VALUE --pid PID [--expect-version V]
//         sets the value of PID's entry under KEY (a unique registry); exit 1
//         if PID has none, 4 on a version conflict.
//   meta REG [KEY]                KEY<TAB>VALUE per pair, or KEY's value; exit 1 if none
//   put-meta REG KEY VALUE
//   delete-meta REG KEY           exit 0 also if the pair was not there
// A shmreg process owns no entries once it exits, so update acts for the
// process named with --pid: typically the child of `shmreg register ... --
// CMD`, the holder of `shmreg register` without CMD, or a shell that
// registered itself with `shmreg register --pid $$`. meta reads the segment
// alone; the others talk to the broker.
#include <iostream>

#include "commands.hpp"
#include "json_bytes.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

struct UpdateArgs {
  std::string reg, key, value;
  std::uint32_t pid = 0;
  std::uint64_t expect_version = 0;
  CLI::Option* expect_version_option = nullptr;
  bool base64 = false;
};

int run_update(const Globals& g, const UpdateArgs& given) {
  UpdateArgs a = given;
  auto value = value_argument(given.value, given.base64);
  if (!value) return value.error();
  a.value = std::move(*value);
  if (a.pid == 0) return usage_error(kNeedOwnerPid);
  auto c = open_client(g);
  if (!c) return c.error();
  json out = {{"registry", a.reg}, {"key", a.key}, {"pid", a.pid}};
  put_bytes(out, "value", a.value);
  if (a.expect_version_option->count() > 0) {
    auto version = c->set_value(a.reg, a.key, a.value, a.expect_version, ProcessRef::pid(a.pid));
    if (!version) return report_error(g, version.error());
    out["version"] = *version;
  } else {
    const std::string next = a.value;
    auto r = c->update_value(a.reg, a.key, [&next](std::string_view) { return next; }, ProcessRef::pid(a.pid));
    if (!r) return report_error(g, r.error());
    out["version"] = r->version;
    put_bytes(out, "old_value", r->old_value);
  }
  if (g.json)
    std::cout << to_json_text(out) << "\n";
  else
    std::cout << "updated " << a.key << " in " << a.reg << " for pid " << a.pid << " (version "
              << out["version"].get<std::uint64_t>() << ")\n";
  return kExitOk;
}

void add_update(CommandTable& table) {
  auto [c, a] = table.add<UpdateArgs>("update",
                                      "set the value of PID's entry under KEY (a unique registry); "
                                      "exit 1 if PID has none, 4 on a version conflict",
                                      run_update);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("VALUE", a.value, "the new value")->required();
  add_base64_flag(c, a.base64);
  c->add_option("--pid", a.pid, "the owner of the entry");
  a.expect_version_option =
      c->add_option("--expect-version", a.expect_version, "update only if the entry is at this version");
}

struct MetaArgs {
  std::string reg, key;
  CLI::Option* key_option = nullptr;
};

int print_meta_value(const Globals& g, const Registry& r, const std::string& key) {
  auto v = r.meta(key);
  if (!v) return report_error(g, v.error());
  if (!*v) return kExitNotFound;
  if (g.json) {
    json out = {{"key", key}};
    put_bytes(out, "value", **v);
    std::cout << to_json_text(out) << "\n";
  } else {
    std::cout << escaped(**v) << "\n";
  }
  return kExitOk;
}

int run_meta(const Globals& g, const MetaArgs& a) {
  auto r = open_registry(g, a.reg);
  if (!r) return r.error();
  if (a.key_option->count() > 0) return print_meta_value(g, *r, a.key);
  auto all = r->meta();
  if (!all) return report_error(g, all.error());
  if (g.json) {
    json obj = json::object();
    // A value that is not UTF-8 is under "KEY_base64" (json_bytes.hpp).
    for (const auto& [k, v] : *all) put_bytes(obj, k, v);
    std::cout << to_json_text(obj) << "\n";
  } else {
    for (const auto& [k, v] : *all) std::cout << escaped(k) << '\t' << escaped(v) << '\n';
  }
  return all->empty() ? kExitNotFound : kExitOk;
}

struct PutMetaArgs {
  std::string reg, key, value;
};

int run_put_meta(const Globals& g, const PutMetaArgs& a) {
  auto c = open_client(g);
  if (!c) return c.error();
  if (auto r = c->put_meta(a.reg, a.key, a.value); !r) return report_error(g, r.error());
  if (g.json) std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"value", a.value}}) << "\n";
  return kExitOk;
}

struct DeleteMetaArgs {
  std::string reg, key;
};

int run_delete_meta(const Globals& g, const DeleteMetaArgs& a) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto deleted = c->delete_meta(a.reg, a.key);
  if (!deleted) return report_error(g, deleted.error());
  if (g.json) std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"deleted", *deleted}}) << "\n";
  return kExitOk;
}

void add_meta_commands(CommandTable& table) {
  auto [meta, ma] = table.add<MetaArgs>(
      "meta", "print KEY<TAB>VALUE per meta pair of REG, or the value of KEY; exit 1 if none", run_meta);
  meta->add_option("REG", ma.reg, "registry name")->required();
  ma.key_option = meta->add_option("KEY", ma.key, "meta key");

  auto [put, pa] = table.add<PutMetaArgs>("put-meta", "set a meta pair of REG", run_put_meta);
  put->add_option("REG", pa.reg, "registry name")->required();
  put->add_option("KEY", pa.key, "meta key (1-255 bytes)")->required();
  put->add_option("VALUE", pa.value, "meta value")->required();

  auto [del, da] = table.add<DeleteMetaArgs>(
      "delete-meta", "remove a meta pair of REG (exit 0 also if it was not there)", run_delete_meta);
  del->add_option("REG", da.reg, "registry name")->required();
  del->add_option("KEY", da.key, "meta key")->required();
}

}  // namespace

void add_values_commands(CommandTable& table) {
  add_update(table);
  add_meta_commands(table);
}

}  // namespace shmreg::tools
