// libshmreg, op family "config": Client::status, the broker's GetStatus reply
// (a JSON object in the result's data, docs/config.md) read into a
// BrokerStatus. The text is kept as sent, so that `shmreg status --json`
// passes on exactly what the broker said.
#include <nlohmann/json.hpp>

#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::guarded;
using nlohmann::json;

namespace {

Error unreadable(std::string_view why) {
  return Error{Errc::protocol_error, "the broker's status is not what this client reads: " + std::string(why)};
}

std::vector<std::string> required_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  for (const auto& s : j.at(key)) out.push_back(s.get<std::string>());
  return out;
}

UidUsage uid_usage_of(const json& j) {
  UidUsage u{j.at("uid").get<std::uint32_t>(),
             j.value("user", std::string()),
             j.at("entries").get<std::uint64_t>(),
             j.at("value_bytes").get<std::uint64_t>(),
             j.at("registries").get<std::uint64_t>(),
             j.at("registry_bytes").get<std::uint64_t>(),
             j.at("connections").get<std::uint64_t>(),
             std::nullopt};
  if (const json& l = j.at("limits"); !l.is_null())
    u.limits = UidLimits{l.at("entries").get<std::uint64_t>(), l.at("value_bytes").get<std::uint64_t>(),
                         l.at("registries").get<std::uint64_t>(), l.at("registry_bytes").get<std::uint64_t>(),
                         l.at("connections").get<std::uint64_t>()};
  return u;
}

std::optional<std::uint64_t> optional_u64(const json& j, const char* key) {
  const json& v = j.at(key);
  if (v.is_null()) return std::nullopt;
  return v.get<std::uint64_t>();
}

// "segment" came with huge_pages: an older broker sends none.
void read_segment(const json& j, BrokerStatus& s) {
  if (!j.contains("segment")) return;
  const json& seg = j.at("segment");
  s.segment_size = seg.at("size").get<std::uint64_t>();
  s.huge_pages = seg.at("huge_pages").get<std::string>();
  s.huge_page_bytes = optional_u64(seg, "huge_bytes");
  s.huge_page_size = optional_u64(seg, "huge_page_size");
}

// Throws json::exception when a field is missing or of another type.
BrokerStatus status_of(const json& j) {
  BrokerStatus s;
  s.ns = j.at("namespace").get<std::string>();
  s.broker_pid = j.at("broker_pid").get<std::uint32_t>();
  s.state = j.at("state").get<std::string>();
  s.uptime_s = j.at("uptime_s").get<double>();
  const json& config = j.at("config");
  s.config_path = config.at("path").get<std::string>();
  s.generation = config.at("generation").get<std::uint64_t>();
  s.config_loaded_unix_s = config.at("loaded_unix_s").get<std::int64_t>();
  if (const json& last = j.at("last_reload"); !last.is_null())
    s.last_reload = LastReload{last.at("unix_s").get<std::int64_t>(), last.at("outcome").get<std::string>() == "ok",
                               required_strings(last, "reasons"), required_strings(last, "notes")};
  s.reload_allowed = j.at("reload_allowed").get<bool>();
  s.connections = j.at("connections").get<std::uint64_t>();
  s.owners = j.at("owners").get<std::uint64_t>();
  s.entries = j.at("entries").get<std::uint64_t>();
  s.registries = j.at("registries").get<std::uint64_t>();
  s.arena_used = j.at("arena").at("used").get<std::uint64_t>();
  s.arena_size = j.at("arena").at("size").get<std::uint64_t>();
  read_segment(j, s);
  for (const auto& u : j.at("uids")) s.uids.push_back(uid_usage_of(u));
  return s;
}

}  // namespace

Result<std::string> Client::cluster_status() const noexcept {
  return guarded([&]() -> Result<std::string> {
    auto r = state_->call(client_detail::Deadline::after(timeout_), proto::GetClusterStatus{});
    if (!r) return std::unexpected(std::move(r.error()));
    const json j = json::parse(r->data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::unexpected(unreadable("not a JSON object"));
    return std::move(r->data);
  });
}

Result<BrokerStatus> Client::status() const noexcept {
  return guarded([&]() -> Result<BrokerStatus> {
    auto r = state_->call(client_detail::Deadline::after(timeout_), proto::GetStatus{});
    if (!r) return std::unexpected(std::move(r.error()));
    const json j = json::parse(r->data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::unexpected(unreadable("not a JSON object"));
    try {
      BrokerStatus s = status_of(j);
      s.json = std::move(r->data);
      return s;
    } catch (const json::exception& e) {
      return std::unexpected(unreadable(e.what()));
    }
  });
}

}  // namespace shmreg
