#include "cluster_keys.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cluster_mirror_keys.hpp"
#include "shmreg/cluster/base64.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/spec_rules.hpp"

namespace shmreg::broker {

std::string hosts_prefix(std::string_view prefix) { return std::string(prefix) + "/hosts/"; }

std::string hosts_key(std::string_view prefix, std::string_view host) { return hosts_prefix(prefix) + std::string(host); }

std::string unique_key(std::string_view prefix, std::string_view registry, std::string_view key) {
  return std::string(prefix) + "/names/" + std::string(registry) + "/" + to_key_hex(key);
}

std::string dup_owner_prefix(std::string_view prefix, std::string_view registry, std::string_view key,
                             std::string_view host, std::uint32_t pid) {
  return std::string(prefix) + "/dups/" + std::string(registry) + "/" + to_key_hex(key) + "/" + std::string(host) + "/" +
         std::to_string(pid) + "/";
}

std::string dup_key(std::string_view prefix, std::string_view registry, std::string_view key, std::string_view host,
                    std::uint32_t pid, std::uint64_t token) {
  return dup_owner_prefix(prefix, registry, key, host, pid) + std::to_string(token);
}

std::string entry_value(const ClusterHolder& h) {
  nlohmann::json j = {{"host", h.host}, {"pid", h.pid}, {"uid", h.uid}, {"value", cluster::base64_encode(h.value)}};
  return j.dump();
}

std::optional<ClusterHolder> parse_entry_value(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto host = j.find("host"), pid = j.find("pid"), uid = j.find("uid"), value = j.find("value");
  if (host == j.end() || !host->is_string() || pid == j.end() || !pid->is_number_unsigned() || uid == j.end() ||
      !uid->is_number_unsigned() || value == j.end() || !value->is_string())
    return std::nullopt;
  // Another host wrote it: a holder named in a refusal or a log line is a
  // host name and a pid as this schema has them, or not a holder at all.
  if (!shm::valid_host_name(host->get_ref<const std::string&>()) || pid->get<std::uint64_t>() == 0 ||
      pid->get<std::uint64_t>() > shm::kRemotePidMask || uid->get<std::uint64_t>() > UINT32_MAX)
    return std::nullopt;
  auto bytes = cluster::base64_decode(value->get<std::string>());
  if (!bytes) return std::nullopt;
  return ClusterHolder{host->get<std::string>(), static_cast<std::uint32_t>(pid->get<std::uint64_t>()),
                       static_cast<std::uint32_t>(uid->get<std::uint64_t>()), std::move(*bytes)};
}

std::string host_value(std::string_view host, std::int64_t lease, std::uint32_t broker_pid, std::uint64_t started_ns) {
  nlohmann::json j = {{"host", std::string(host)},
                      {"lease", std::to_string(lease)},
                      {"broker_pid", broker_pid},
                      {"started_ns", started_ns}};
  return j.dump();
}

}  // namespace shmreg::broker
