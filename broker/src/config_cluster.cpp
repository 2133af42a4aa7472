#include "config_cluster.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

namespace {

constexpr std::size_t kMaxHostLen = 63;

void read_endpoints(ConfigReader& r, const toml::table& t, ClusterSection& c) {
  const toml::node* n = t.get("endpoints");
  if (n == nullptr) {
    r.problem(t.source(), "cluster.endpoints", "missing: [cluster] needs endpoints ([\"http://127.0.0.1:2379\"])");
    return;
  }
  const toml::array* a = n->as_array();
  if (a == nullptr || a->empty()) {
    r.problem(n->source(), "cluster.endpoints", "expected a non-empty array of \"http(s)://host:port\" strings");
    return;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const auto s = e.value_exact<std::string>();
    const std::string at = "cluster.endpoints[" + std::to_string(i) + "]";
    if (!s) {
      r.problem(e.source(), at, "expected a string \"http(s)://host:port\"");
      continue;
    }
    const std::string_view rest = s->starts_with("https://") ? std::string_view(*s).substr(8)
                                  : s->starts_with("http://") ? std::string_view(*s).substr(7)
                                                              : std::string_view();
    const auto colon = rest.rfind(':');
    const bool port_ok = colon != std::string_view::npos && colon > 0 && colon + 1 < rest.size() &&
                         rest.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos &&
                         rest.find('/') == std::string_view::npos;
    if (!port_ok) {
      r.problem(e.source(), at, "'" + *s + "' is not \"http://host:port\" or \"https://host:port\"");
      continue;
    }
    c.endpoints.push_back(*s);
  }
}

// A TLS file must be readable now; the key, by the broker's user alone.
void read_tls_file(ConfigReader& r, const toml::table& t, std::string_view key, bool secret, std::string& out) {
  const std::string path = "cluster." + std::string(key);
  if (!r.string(t, key, "cluster", out)) return;
  const auto& where = t.get(key)->source();
  sys::UniqueFd fd(::open(out.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    r.problem(where, path, "cannot read '" + out + "': " + std::strerror(errno));
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    r.problem(where, path, "'" + out + "' is not a regular file");
    return;
  }
  // Whoever may rewrite a TLS file chooses whom the broker trusts or is.
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    r.problem(where, path,
              "'" + out + "' belongs to uid " + std::to_string(st.st_uid) +
                  ": TLS files must belong to the broker's user or root");
  if (!secret && (st.st_mode & 022) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    r.problem(where, path,
              "'" + out + "' has mode " + mode +
                  ": a certificate the broker trusts or presents must not be writable by group or others");
  }
  if (secret && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    r.problem(where, path,
              "'" + out + "' has mode " + mode +
                  ": a private key must be readable by the broker's user only (no group or other bits; chmod 600)");
  }
}

void read_tls(ConfigReader& r, const toml::table& t, ClusterSection& c) {
  read_tls_file(r, t, "ca_file", false, c.ca_file);
  read_tls_file(r, t, "cert_file", false, c.cert_file);
  read_tls_file(r, t, "key_file", true, c.key_file);
  if (c.cert_file.empty() != c.key_file.empty())
    r.problem(t.source(), "cluster", "cert_file and key_file go together (a client certificate and its key)");
}

void read_host(ConfigReader& r, const toml::table& t, ClusterSection& c) {
  if (r.string(t, "host", "cluster", c.host)) {
    if (auto why = host_name_problem(c.host)) r.problem(t.get("host")->source(), "cluster.host", *why);
    return;
  }
  if (auto id = machine_id(); id && !host_name_problem(*id)) c.host = *id;
  else
    r.problem(t.source(), "cluster.host",
              "not given, and /etc/machine-id (the default) cannot be read or is not a host name");
}

}  // namespace

std::optional<std::string> host_name_problem(std::string_view host) {
  const bool chars_ok = std::all_of(host.begin(), host.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return std::isalnum(u) || ch == '.' || ch == '_' || ch == '-';
  });
  if (host.empty() || host.size() > kMaxHostLen || !chars_ok)
    return "'" + std::string(host) + "' is not a host name (1.." + std::to_string(kMaxHostLen) +
           " bytes of [A-Za-z0-9._-])";
  return std::nullopt;
}

std::optional<std::string> prefix_problem(std::string_view prefix) {
  if (!prefix.starts_with('/') || prefix.size() < 2 || prefix.ends_with('/') ||
      prefix.find("//") != std::string_view::npos)
    return "'" + std::string(prefix) + "' is not a key prefix (it starts with '/', has no trailing '/' and no \"//\")";
  return std::nullopt;
}

std::optional<std::string> machine_id() {
  std::ifstream in("/etc/machine-id");
  std::string id;
  if (!in || !std::getline(in, id)) return std::nullopt;
  while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
  if (id.empty()) return std::nullopt;
  return id;
}

void read_cluster(ConfigReader& r, const toml::table& t, ClusterSection& c) {
  r.only_keys(t, "cluster",
              {"endpoints", "host", "prefix", "lease_ttl", "write_deadline", "attempt_timeout", "ca_file", "cert_file",
               "key_file"});
  read_endpoints(r, t, c);
  read_host(r, t, c);
  if (r.string(t, "prefix", "cluster", c.prefix))
    if (auto why = prefix_problem(c.prefix)) r.problem(t.get("prefix")->source(), "cluster.prefix", *why);
  std::chrono::milliseconds ttl = c.lease_ttl;
  bool ttl_ok = !t.contains("lease_ttl");
  if (r.duration(t, "lease_ttl", "cluster", 1000, 3'600'000, ttl)) {
    ttl_ok = ttl.count() % 1000 == 0;
    if (!ttl_ok)
      r.problem(t.get("lease_ttl")->source(), "cluster.lease_ttl",
                std::to_string(ttl.count()) + "ms is not whole seconds (etcd counts a lease's TTL in seconds)");
    c.lease_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  }
  r.duration(t, "write_deadline", "cluster", 100, 600'000, c.write_deadline);
  r.duration(t, "attempt_timeout", "cluster", 50, 600'000, c.attempt_timeout);
  // The link's worker looks at the lease between two etcd calls, each bound
  // by write_deadline: a longer deadline would let this host hold names past
  // the lease's end by that much.
  if (ttl_ok && c.write_deadline >= c.lease_ttl)
    r.problem((t.contains("write_deadline") ? t.get("write_deadline") : t.get("lease_ttl") ? t.get("lease_ttl") : &t)
                  ->source(),
              "cluster.write_deadline",
              std::to_string(c.write_deadline.count()) + "ms is not below lease_ttl (" +
                  std::to_string(std::chrono::milliseconds(c.lease_ttl).count()) +
                  "ms): a cluster write must end before the lease it is made under can");
  read_tls(r, t, c);
}

void check_cluster_scopes(ConfigReader& r, const toml::array* regs, const Settings& s) {
  if (regs == nullptr) return;
  for (std::size_t i = 0; i < s.registries.size() && i < regs->size(); ++i) {
    const DeclaredRegistry& reg = s.registries[i];
    if (reg.scope != RegistryScope::cluster) continue;
    const toml::table& t = *regs->get(i)->as_table();
    const std::string path = "registry[" + std::to_string(i) + "].scope";
    if (!s.cluster)
      r.problem(t.get("scope")->source(), path,
                "registry '" + reg.name + "' has scope = \"cluster\", but the file has no [cluster] table (endpoints)");
    if (!reg.statics.empty())
      r.problem(t.get("scope")->source(), path,
                "registry '" + reg.name +
                    "': static entries belong to one host's namespace; a scope = \"cluster\" registry has none");
  }
}

}  // namespace shmreg::broker
