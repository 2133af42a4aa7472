// The segment family of the CLI: views beneath the client API, straight to
// the shm reader, so they work while the broker is down.
//   registries  NAME<TAB>KEYS<TAB>ENTRIES<TAB>CAPACITY<TAB>EVENTS<TAB>BYTES per
//               registry; exit 1 if there is none
//   dump        header, registries (with meta and entries) and owners; 0, or 2 on error
//   fsck        runs shm::validate; 0 when clean, 1 when problems were found, 2 on error
// All exit 5 (untrusted) on a segment that is not a trusted broker's, and
// report a segment they cannot open with the code and message libshmreg
// gives every other command (segment_not_found, exit 2, for a missing one).

#include <algorithm>
#include <expected>
#include <iostream>
#include <optional>
#include <tuple>
#include <vector>

#include "commands.hpp"
#include "json_bytes.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"
#include "shmreg/sys/file_check.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

// The reader of the namespace g names (its resolved name in ns), or the exit
// code once the reason is printed. libshmreg opens the namespace first, so
// that a missing, untrusted or incompatible segment is reported with the
// code and message of every other command; the reader is then opened under
// the same rule (client/src/trust.hpp): a regular file, not a symlink, owned
// by a trusted broker uid, not writable by group or other.
std::expected<shm::SegmentReader, int> open_reader(const Globals& g, std::string& ns) {
  auto client = open_client(g);
  if (!client) return std::unexpected(client.error());
  ns = client->ns();
  const std::string path = proto::client_paths(g.socket, ns).segment();
  // Only a segment replaced since libshmreg opened it fails here.
  auto fd = sys::open_broker_file_for_reading(path, proto::kSystemSocketDir);
  if (!fd) return std::unexpected(report_error(g, Error{Errc::io_error, "namespace '" + ns + "': " + fd.error().message}));
  auto r = shm::SegmentReader::open_fd(fd->get());
  if (!r)
    return std::unexpected(
        report_error(g, Error{Errc::io_error, "namespace '" + ns + "': " + std::string(shm::to_string(r.error()))}));
  return std::move(*r);
}

json header_json(const shm::HeaderInfo& h) {
  return {{"layout_version", h.layout_version}, {"abi_signature", h.abi_signature},
          {"segment_size", h.segment_size},     {"created_unix_ns", h.created_unix_ns},
          {"generation", h.generation},         {"commit_seq", h.commit_seq},
          {"writer_pid", h.writer_pid},         {"txn_state", h.txn_state},
          {"registry_count", h.registry_count}, {"owner_capacity", h.owner_capacity},
          {"owner_count", h.owner_count},       {"arena_size", h.arena_size},
          {"arena_used", h.arena_used}};
}

const char* kind_name(shm::RegistryKind k) { return k == shm::RegistryKind::unique ? "unique" : "duplicate"; }

const char* identity_name(std::uint32_t kind) {
  switch (kind) {
    case shm::kIdentityPidfsInode: return "pidfs_inode";
    case shm::kIdentityStartTime: return "start_time";
    case shm::kIdentityStatic: return "static";
    case shm::kIdentityRemote: return "remote";
    default: return "none";
  }
}

// The static owner (the namespace's own, pid 0) holds the configuration's entries.
bool is_static(std::uint32_t pid, std::uint32_t identity_kind) {
  return pid == 0 && identity_kind == shm::kIdentityStatic;
}

// An entry's owner as the text dump shows it: the static owner's entries
// read "static", a remote owner's HOST:PID.
std::string pid_text(const json& entry) {
  if (entry.contains("host")) return entry["host"].get<std::string>() + ":" + entry["pid"].dump();
  return entry["pid"].get<std::uint32_t>() == 0 ? "static" : entry["pid"].dump();
}

std::string creator_text(std::uint32_t uid) {
  return uid == shm::kNamespaceUid ? "config" : "uid " + std::to_string(uid);
}

// One registry with its meta and entries; a part the reader could not read
// is null.
json registry_json(const shm::SegmentReader& r, const shm::RegistryView& v) {
  std::vector<shm::Entry> walked;
  auto n = r.for_each(v, [&](const shm::Entry& e) { walked.push_back(e); });
  // The walk is in hash order; a dump is read, and diffed, in key order.
  std::sort(walked.begin(), walked.end(), [](const shm::Entry& x, const shm::Entry& y) {
    return std::tie(x.key, x.host, x.pid, x.version) < std::tie(y.key, y.host, y.pid, y.version);
  });
  json entries = json::array();
  for (const shm::Entry& e : walked) {
    json one = {{"pid", e.pid}, {"version", e.version}};
    if (!e.host.empty()) one["host"] = e.host;
    put_bytes(one, "key", e.key);
    put_bytes(one, "value", e.value);
    entries.push_back(one);
  }
  auto count = r.count(v);
  auto meta = r.meta(v);
  json jmeta = json::object();
  if (meta)
    for (const auto& [k, val] : *meta) put_bytes(jmeta, k, val);
  return {{"name", std::string(v.name())},
          {"keys", kind_name(v.kind())},
          {"partitions", v.partitions()},
          {"max_key", v.max_key()},
          {"max_value", v.max_value()},
          {"capacity", v.capacity()},
          {"events", v.event_capacity()},
          {"bytes", v.bytes()},
          {"creator_uid", v.creator_uid()},
          {"count", count ? json(*count) : json(nullptr)},
          {"meta", jmeta},
          {"entries", n ? entries : json(nullptr)}};
}

json owners_json(const shm::SegmentReader& r) {
  json jowners = json::array();
  if (auto owners = r.owners()) {
    for (const auto& o : *owners) {
      const bool remote = o.identity_kind == shm::kIdentityRemote;
      json one = {{"pid", remote ? shm::remote_pid(o.pid) : o.pid},
                  {"uid", o.uid},
                  {"identity_kind", identity_name(o.identity_kind)},
                  {"identity", o.identity},
                  {"static", is_static(o.pid, o.identity_kind)},
                  {"entries", o.entry_count}};
      // A remote owner: a process of another host, whose entries the cluster
      // mirror keeps here; its uid is the one it has there.
      if (remote) one["host"] = o.host;
      jowners.push_back(std::move(one));
    }
  }
  return jowners;
}

// The bytes put_bytes stored under field of obj.
std::string bytes_of(const json& obj, const std::string& field) {
  if (obj.contains(field)) return obj[field].get<std::string>();
  return base64_decode(obj.value(field + "_base64", std::string())).value_or(std::string());
}

void print_dump_text(const json& out, const shm::HeaderInfo& h) {
  std::cout << "namespace " << out["namespace"].get<std::string>() << "\n";
  std::cout << "header: layout v" << h.layout_version << ", " << h.segment_size << " bytes, generation "
            << h.generation << ", commit " << h.commit_seq << ", writer pid " << h.writer_pid
            << (h.txn_state != 0 ? ", WRITE IN PROGRESS" : "") << "\n";
  std::cout << "        arena " << h.arena_used << "/" << h.arena_size << " bytes used, " << h.registry_count
            << " registries, " << h.owner_count << "/" << h.owner_capacity << " owners\n";
  if (!out["hosts"].empty()) {
    std::cout << "        remote owners' hosts:";
    for (const auto& host : out["hosts"]) std::cout << " " << host.get<std::string>();
    std::cout << "\n";
  }
  for (const auto& jr : out["registries"]) {
    std::cout << "registry " << jr["name"].get<std::string>() << ": " << jr["keys"].get<std::string>() << ", "
              << jr["partitions"] << " partitions, max key " << jr["max_key"] << ", max value " << jr["max_value"]
              << ", capacity " << jr["capacity"] << ", " << jr["events"] << " events, " << jr["bytes"]
              << " bytes, created by "
              << creator_text(jr["creator_uid"].get<std::uint32_t>()) << ", " << jr["count"] << " entries\n";
    for (const auto& [k, val] : jr["meta"].items())
      std::cout << "  meta " << escaped(k) << " = " << escaped(val.get<std::string>()) << "\n";
    if (jr["entries"].is_array())
      for (const auto& e : jr["entries"])
        std::cout << "  " << escaped(bytes_of(e, "key")) << "\t" << pid_text(e) << "\t"
                  << escaped(bytes_of(e, "value")) << "\n";
  }
  for (const auto& o : out["owners"]) {
    if (o["static"].get<bool>()) {
      std::cout << "owner static (the namespace's configuration): " << o["entries"] << " entries\n";
      continue;
    }
    if (o.contains("host")) {
      std::cout << "owner " << o["host"].get<std::string>() << ":" << o["pid"] << " (remote) uid " << o["uid"]
                << ": " << o["entries"] << " entries\n";
      continue;
    }
    std::cout << "owner pid " << o["pid"] << " uid " << o["uid"] << ": " << o["entries"] << " entries ("
              << o["identity_kind"].get<std::string>() << " " << o["identity"] << ")\n";
  }
}

int run_dump(const Globals& g) {
  std::string ns;
  auto r = open_reader(g, ns);
  if (!r) return r.error();
  const shm::HeaderInfo h = r->header();
  auto regs = r->registries();
  if (!regs) {
    std::cerr << "shmreg: " << shm::to_string(regs.error()) << "\n";
    return kExitError;
  }
  json out;
  out["namespace"] = ns;
  out["header"] = header_json(h);
  json jregs = json::array();
  for (const auto& v : *regs) jregs.push_back(registry_json(*r, v));
  out["registries"] = jregs;
  out["owners"] = owners_json(*r);
  // The hosts of remote owners, each once, in the owners' order.
  json hosts = json::array();
  for (const auto& o : out["owners"])
    if (o.contains("host") && std::find(hosts.begin(), hosts.end(), o["host"]) == hosts.end()) hosts.push_back(o["host"]);
  out["hosts"] = hosts;
  if (g.json)
    std::cout << to_json_text(out) << "\n";
  else
    print_dump_text(out, h);
  return kExitOk;
}

int run_registries(const Globals& g) {
  std::string ns;
  auto r = open_reader(g, ns);
  if (!r) return r.error();
  auto regs = r->registries();
  if (!regs) return report_error(g, Error{Errc::corrupt_segment, std::string(shm::to_string(regs.error()))});
  json arr = json::array();
  for (const auto& v : *regs) {
    auto count = r->count(v);
    arr.push_back({{"name", std::string(v.name())}, {"keys", kind_name(v.kind())}, {"count", count ? json(*count) : json(nullptr)},
                   {"capacity", v.capacity()}, {"events", v.event_capacity()}, {"bytes", v.bytes()},
                   {"partitions", v.partitions()}, {"max_key", v.max_key()}, {"max_value", v.max_value()}});
  }
  if (g.json) {
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (const auto& j : arr)
      std::cout << escaped(j["name"].get<std::string>()) << '\t' << j["keys"].get<std::string>() << '\t' << j["count"]
                << '\t' << j["capacity"] << '\t' << j["events"] << '\t' << j["bytes"] << '\n';
  }
  return arr.empty() ? kExitNotFound : kExitOk;
}

int run_fsck(const Globals& g) {
  std::string ns;
  auto r = open_reader(g, ns);
  if (!r) return r.error();
  const auto problems = shm::validate(*r);
  if (g.json) {
    json arr = json::array();
    for (const auto& p : problems) arr.push_back({{"where", p.where}, {"what", p.what}});
    std::cout << to_json_text({{"namespace", ns}, {"ok", problems.empty()}, {"problems", arr}}) << "\n";
  } else if (problems.empty()) {
    std::cout << "namespace " << ns << ": segment is consistent\n";
  } else {
    for (const auto& p : problems) std::cout << p.where << ": " << p.what << "\n";
    std::cout << problems.size() << " problem(s) found\n";
  }
  return problems.empty() ? kExitOk : kExitNotFound;
}

}  // namespace

void add_segment_commands(CommandTable& table) {
  table.add("registries",
            "print NAME<TAB>KEYS<TAB>ENTRIES<TAB>CAPACITY<TAB>EVENTS<TAB>BYTES per registry (BYTES: what it takes "
            "of the segment); exit 1 if none",
            run_registries);
  table.add("dump", "print header, registries, owners and entries", run_dump);
  table.add("fsck", "check every invariant of the segment; exit 1 if any is broken", run_fsck);
}

}  // namespace shmreg::tools
