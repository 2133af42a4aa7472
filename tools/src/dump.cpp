// `shmreg dump` and `shmreg fsck` (see dump.hpp).
#include "dump.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

std::string text(const json& j, int indent = -1) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

std::optional<shm::SegmentReader> open_reader(const std::string& ns_flag, bool as_json, std::string& ns) {
  ns = proto::resolve_namespace(ns_flag);
  auto r = shm::SegmentReader::open(ns);
  if (!r) {
    const std::string msg = "namespace '" + ns + "': " + std::string(shm::to_string(r.error()));
    if (as_json)
      std::cerr << text({{"error", "open_failed"}, {"message", msg}}) << "\n";
    else
      std::cerr << "shmreg: " << msg << "\n";
    return std::nullopt;
  }
  return std::move(*r);
}

const char* kind_name(shm::RegistryKind k) { return k == shm::RegistryKind::unique ? "unique" : "duplicate"; }

}  // namespace

int cmd_dump(const std::string& ns_flag, bool as_json) {
  std::string ns;
  auto r = open_reader(ns_flag, as_json, ns);
  if (!r) return 2;
  const shm::HeaderInfo h = r->header();
  json out;
  out["namespace"] = ns;
  out["header"] = {{"layout_version", h.layout_version}, {"abi_signature", h.abi_signature},
                   {"segment_size", h.segment_size},     {"created_unix_ns", h.created_unix_ns},
                   {"generation", h.generation},         {"commit_seq", h.commit_seq},
                   {"writer_pid", h.writer_pid},         {"txn_state", h.txn_state},
                   {"registry_count", h.registry_count}, {"owner_capacity", h.owner_capacity},
                   {"owner_count", h.owner_count},       {"arena_size", h.arena_size},
                   {"arena_used", h.arena_used}};
  auto regs = r->registries();
  if (!regs) {
    std::cerr << "shmreg: " << shm::to_string(regs.error()) << "\n";
    return 2;
  }
  json jregs = json::array();
  for (const auto& v : *regs) {
    json entries = json::array();
    auto n = r->for_each(v, [&](const shm::Entry& e) {
      entries.push_back({{"key", e.key}, {"pid", e.pid}, {"value", e.value}, {"version", e.version}});
    });
    auto count = r->count(v);
    auto meta = r->meta(v);
    json jmeta = json::object();
    if (meta)
      for (const auto& [k, val] : *meta) jmeta[k] = val;
    jregs.push_back({{"name", std::string(v.name())},
                     {"keys", kind_name(v.kind())},
                     {"partitions", v.partitions()},
                     {"max_key", v.max_key()},
                     {"max_value", v.max_value()},
                     {"capacity", v.capacity()},
                     {"count", count ? json(*count) : json(nullptr)},
                     {"meta", jmeta},
                     {"entries", n ? entries : json(nullptr)}});
  }
  out["registries"] = jregs;
  json jowners = json::array();
  if (auto owners = r->owners()) {
    for (const auto& o : *owners)
      jowners.push_back({{"pid", o.pid},
                         {"uid", o.uid},
                         {"identity_kind", o.identity_kind == shm::kIdentityPidfsInode ? "pidfs_inode"
                                           : o.identity_kind == shm::kIdentityStartTime ? "start_time"
                                                                                        : "none"},
                         {"identity", o.identity},
                         {"entries", o.entry_count}});
  }
  out["owners"] = jowners;
  if (as_json) {
    std::cout << text(out) << "\n";
    return 0;
  }
  std::cout << "namespace " << ns << "\n";
  std::cout << "header: layout v" << h.layout_version << ", " << h.segment_size << " bytes, generation "
            << h.generation << ", commit " << h.commit_seq << ", writer pid " << h.writer_pid
            << (h.txn_state != 0 ? ", WRITE IN PROGRESS" : "") << "\n";
  std::cout << "        arena " << h.arena_used << "/" << h.arena_size << " bytes used, " << h.registry_count
            << " registries, " << h.owner_count << "/" << h.owner_capacity << " owners\n";
  for (const auto& jr : jregs) {
    std::cout << "registry " << jr["name"].get<std::string>() << ": " << jr["keys"].get<std::string>() << ", "
              << jr["partitions"] << " partitions, max key " << jr["max_key"] << ", max value " << jr["max_value"]
              << ", capacity " << jr["capacity"] << ", " << jr["count"] << " entries\n";
    for (const auto& [k, val] : jr["meta"].items()) std::cout << "  meta " << k << " = " << val.get<std::string>() << "\n";
    if (jr["entries"].is_array())
      for (const auto& e : jr["entries"])
        std::cout << "  " << e["key"].get<std::string>() << "\t" << e["pid"] << "\t" << e["value"].get<std::string>()
                  << "\n";
  }
  for (const auto& o : jowners)
    std::cout << "owner pid " << o["pid"] << " uid " << o["uid"] << ": " << o["entries"] << " entries ("
              << o["identity_kind"].get<std::string>() << " " << o["identity"] << ")\n";
  return 0;
}

int cmd_fsck(const std::string& ns_flag, bool as_json) {
  std::string ns;
  auto r = open_reader(ns_flag, as_json, ns);
  if (!r) return 2;
  const auto problems = shm::validate(*r);
  if (as_json) {
    json arr = json::array();
    for (const auto& p : problems) arr.push_back({{"where", p.where}, {"what", p.what}});
    std::cout << text({{"namespace", ns}, {"ok", problems.empty()}, {"problems", arr}}) << "\n";
  } else if (problems.empty()) {
    std::cout << "namespace " << ns << ": segment is consistent\n";
  } else {
    for (const auto& p : problems) std::cout << p.where << ": " << p.what << "\n";
    std::cout << problems.size() << " problem(s) found\n";
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace shmreg::tools
