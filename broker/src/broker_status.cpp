// The status JSON (see broker_status.hpp).
#include "broker_status.hpp"

#include <pwd.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "huge_pages.hpp"

namespace shmreg::broker {

namespace {

using nlohmann::json;

// The user's name, or "" when the system does not know it.
std::string user_name(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return {};
  return found->pw_name;
}

json limits_json(const Settings& settings, uid_t uid) {
  const auto q = settings.limits.for_uid(uid);
  if (!q) return nullptr;
  return json{{"entries", q->entries},
              {"value_bytes", q->value_bytes},
              {"registries", q->registries},
              {"registry_bytes", q->registry_bytes},
              {"connections", q->connections}};
}

// One row per uid that holds anything (segment use or connections).
json uid_rows(const StatusSources& from, uid_t caller) {
  std::map<uid_t, shm::UidUsage> use;
  for (const auto& [uid, u] : from.writer.usage()) use[uid] = u;
  for (const auto& [uid, n] : from.tally.connections)
    if (n > 0) use.try_emplace(uid);
  if (caller != 0) {
    const shm::UidUsage own = use.contains(caller) ? use[caller] : shm::UidUsage{};
    use = {{caller, own}};
  }
  json rows = json::array();
  for (const auto& [uid, u] : use) {
    const auto conn = from.tally.connections.find(uid);
    rows.push_back(json{{"uid", uid},
                        {"user", user_name(uid)},
                        {"entries", u.entries},
                        {"value_bytes", u.value_bytes},
                        {"registries", u.registries},
                        {"registry_bytes", u.registry_bytes},
                        {"connections", conn == from.tally.connections.end() ? 0 : conn->second},
                        {"limits", limits_json(from.lifecycle.config().settings, uid)}});
  }
  return rows;
}

std::uint64_t live_entries(const shm::SegmentReader& reader) {
  std::uint64_t n = 0;
  if (auto regs = reader.registries())
    for (const shm::RegistryView& r : *regs)
      if (auto c = reader.count(r)) n += *c;
  return n;
}

json last_reload_json(const ConfigLifecycle& lc) {
  const auto& last = lc.last_reload();
  if (!last) return nullptr;
  return json{{"unix_s", last->unix_s},
              {"outcome", last->outcome.ok ? "ok" : "failed"},
              {"reasons", last->outcome.reasons},
              {"notes", last->outcome.notes}};
}

std::size_t total_connections(const UidTally& tally) {
  std::size_t n = 0;
  for (const auto& [uid, c] : tally.connections) n += c;
  return n;
}

// The segment's size and, with huge_pages on, how much of the broker's
// mapping of it the kernel maps with huge pages now (null when off: the
// broker then neither asks nor looks).
json segment_json(const StatusSources& from) {
  const HugePages mode = from.lifecycle.config().settings.broker.huge_pages;
  json seg{{"size", from.writer.size()}, {"huge_pages", to_string(mode)}, {"huge_bytes", nullptr},
           {"huge_page_size", nullptr}};
  if (mode == HugePages::off) return seg;
  if (const auto use = huge_page_use(from.writer.data())) {
    seg["huge_bytes"] = use->huge_bytes;
    if (use->page_size != 0) seg["huge_page_size"] = use->page_size;
  }
  return seg;
}

}  // namespace

std::string status_json(const StatusSources& from, uid_t caller) {
  const ConfigLifecycle& lc = from.lifecycle;
  const auto header = from.reader.header();
  const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - lc.started_at()).count();
  const json status{
      {"namespace", lc.config().ns},
      {"broker_pid", ::getpid()},
      {"state", to_string(lc.state())},
      {"uptime_s", uptime},
      {"config", {{"path", lc.config().settings.path}, {"generation", lc.generation()}, {"loaded_unix_s", lc.loaded_unix_s()}}},
      {"last_reload", last_reload_json(lc)},
      {"reload_allowed", lc.reload_allowed()},
      {"connections", total_connections(from.tally)},
      {"owners", from.writer.owners().size()},
      {"entries", live_entries(from.reader)},
      {"registries", header.registry_count},
      {"arena", {{"used", header.arena_used}, {"size", from.reader.geometry().arena_size}}},
      {"segment", segment_json(from)},
      {"uids", uid_rows(from, caller)}};
  return status.dump();
}

std::string reload_json(const ConfigLifecycle& lifecycle, const ReloadOutcome& outcome) {
  return json{{"state", to_string(lifecycle.state())},
              {"generation", lifecycle.generation()},
              {"reasons", outcome.reasons},
              {"notes", outcome.notes}}
      .dump();
}

}  // namespace shmreg::broker
