#include "cluster_keys.hpp"

#include <nlohmann/json.hpp>

namespace shmreg::broker {

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string hex_of(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
  return out;
}

std::string hosts_prefix(std::string_view prefix) { return std::string(prefix) + "/hosts/"; }

std::string hosts_key(std::string_view prefix, std::string_view host) { return hosts_prefix(prefix) + std::string(host); }

std::string unique_key(std::string_view prefix, std::string_view registry, std::string_view key) {
  return std::string(prefix) + "/names/" + std::string(registry) + "/" + hex_of(key);
}

std::string dup_owner_prefix(std::string_view prefix, std::string_view registry, std::string_view key,
                             std::string_view host, std::uint32_t pid) {
  return std::string(prefix) + "/dups/" + std::string(registry) + "/" + hex_of(key) + "/" + std::string(host) + "/" +
         std::to_string(pid) + "/";
}

std::string dup_key(std::string_view prefix, std::string_view registry, std::string_view key, std::string_view host,
                    std::uint32_t pid, std::uint64_t token) {
  return dup_owner_prefix(prefix, registry, key, host, pid) + std::to_string(token);
}

std::string prefix_end(std::string_view p) {
  std::string end(p);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string entry_value(const ClusterHolder& h) {
  nlohmann::json j = {{"host", h.host}, {"pid", h.pid}, {"uid", h.uid}, {"value", base64_encode(h.value)}};
  return j.dump();
}

std::optional<ClusterHolder> parse_entry_value(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto host = j.find("host"), pid = j.find("pid"), uid = j.find("uid"), value = j.find("value");
  if (host == j.end() || !host->is_string() || pid == j.end() || !pid->is_number_unsigned() || uid == j.end() ||
      !uid->is_number_unsigned() || value == j.end() || !value->is_string())
    return std::nullopt;
  auto bytes = base64_decode(value->get<std::string>());
  if (!bytes) return std::nullopt;
  return ClusterHolder{host->get<std::string>(), pid->get<std::uint32_t>(), uid->get<std::uint32_t>(),
                       std::move(*bytes)};
}

std::string host_value(std::string_view host, std::int64_t lease, std::uint32_t broker_pid, std::uint64_t started_ns) {
  nlohmann::json j = {{"host", std::string(host)},
                      {"lease", std::to_string(lease)},
                      {"broker_pid", broker_pid},
                      {"started_ns", started_ns}};
  return j.dump();
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(n >> s) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += rest == 2 ? kB64[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  std::uint32_t n = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return std::nullopt;
      ++pad;
      continue;
    }
    if (pad > 0) return std::nullopt;
    const char* at = std::char_traits<char>::find(kB64, 64, c);
    if (at == nullptr) return std::nullopt;
    n = n << 6 | static_cast<std::uint32_t>(at - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((n >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace shmreg::broker
