// Decoding the cluster registries' etcd keys and values (cluster_mirror_keys.hpp).
#include "cluster_mirror_keys.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

#include "shmreg/cluster/base64.hpp"
#include "shmreg/shm/spec_rules.hpp"

namespace shmreg::broker {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    const std::size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

template <class T>
bool parse_decimal(std::string_view s, T& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool valid_pid(std::uint64_t pid) { return pid >= 1 && pid <= shm::kRemotePidMask; }

}  // namespace

std::string to_key_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(kDigits[u >> 4]);
    out.push_back(kDigits[u & 15]);
  }
  return out;
}

std::expected<std::string, std::string> from_key_hex(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0) return std::unexpected("key hex is empty or of odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::unexpected("key hex has a character outside [0-9a-f]");
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::expected<MirrorKey, std::string> parse_mirror_key(std::string_view prefix, std::string_view key,
                                                       bool& is_entry) {
  is_entry = false;
  if (key.size() <= prefix.size() + 1 || key.substr(0, prefix.size()) != prefix || key[prefix.size()] != '/')
    return MirrorKey{};
  const std::vector<std::string_view> parts = split(key.substr(prefix.size() + 1), '/');
  MirrorKey out;
  if (parts[0] == "names") {
    out.kind = shm::RegistryKind::unique;
    if (parts.size() != 3) return std::unexpected("a names key is P/names/<registry>/<keyhex>");
  } else if (parts[0] == "dups") {
    out.kind = shm::RegistryKind::duplicate;
    if (parts.size() != 6) return std::unexpected("a dups key is P/dups/<registry>/<keyhex>/<host>/<pid>/<token>");
  } else {
    return MirrorKey{};
  }
  is_entry = true;
  if (!shm::valid_registry_name(parts[1])) return std::unexpected("registry name is not valid");
  out.registry = std::string(parts[1]);
  auto k = from_key_hex(parts[2]);
  if (!k) return std::unexpected(k.error());
  out.key = std::move(*k);
  if (out.kind == shm::RegistryKind::duplicate) {
    std::uint64_t pid = 0, token = 0;
    if (!shm::valid_host_name(parts[3])) return std::unexpected("host in the key is not 1..63 of [A-Za-z0-9._-]");
    if (!parse_decimal(parts[4], pid) || !valid_pid(pid)) return std::unexpected("pid in the key is not 1..4194303");
    if (!parse_decimal(parts[5], token)) return std::unexpected("token in the key is not a decimal number");
    out.host = std::string(parts[3]);
    out.pid = static_cast<std::uint32_t>(pid);
  }
  return out;
}

std::expected<MirrorEntry, std::string> parse_mirror_entry(MirrorKey where, std::string_view value) {
  const auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("value is not a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json* {
    const auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  };
  const auto *host = field("host"), *pid = field("pid"), *uid = field("uid"), *val = field("value");
  if (host == nullptr || !host->is_string() || !shm::valid_host_name(host->get_ref<const std::string&>()))
    return std::unexpected("\"host\" is not a host name (1..63 of [A-Za-z0-9._-])");
  if (pid == nullptr || !pid->is_number_unsigned() || !valid_pid(pid->get<std::uint64_t>()))
    return std::unexpected("\"pid\" is not a number in 1..4194303");
  if (uid != nullptr && (!uid->is_number_unsigned() || uid->get<std::uint64_t>() > 0xffffffffu))
    return std::unexpected("\"uid\" is not a 32-bit number");
  if (val == nullptr || !val->is_string()) return std::unexpected("\"value\" is not a base64 string");
  auto bytes = cluster::base64_decode(val->get_ref<const std::string&>());
  if (!bytes) return std::unexpected("value is not base64");
  MirrorEntry out;
  out.host = host->get<std::string>();
  out.pid = static_cast<std::uint32_t>(pid->get<std::uint64_t>());
  out.uid = uid == nullptr ? 0 : static_cast<std::uint32_t>(uid->get<std::uint64_t>());
  out.value = std::move(*bytes);
  if (where.kind == shm::RegistryKind::duplicate && (where.host != out.host || where.pid != out.pid))
    return std::unexpected("the key's host and pid differ from the value's");
  out.where = std::move(where);
  return out;
}

}  // namespace shmreg::broker
