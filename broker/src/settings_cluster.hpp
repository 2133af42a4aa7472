// [cluster] of the broker's configuration file (docs/config.md,
// docs/cluster.md): where the etcd cluster is, who this host is in it, and
// the bounds of the broker's calls to it. Parsed by config_cluster.cpp;
// used by the cluster link (cluster_link.hpp).
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace shmreg::broker {

// [[registry]] scope: a host registry never touches etcd; a cluster
// registry's names are etcd keys first (docs/cluster.md).
enum class RegistryScope : std::uint8_t { host, cluster };

[[nodiscard]] inline const char* to_string(RegistryScope s) noexcept {
  return s == RegistryScope::cluster ? "cluster" : "host";
}

struct ClusterSection {
  // "http://host:port" or "https://host:port", at least one.
  std::vector<std::string> endpoints;
  // This host's name in the cluster: 1..63 of [A-Za-z0-9._-]; default:
  // /etc/machine-id.
  std::string host;
  // The etcd key prefix: starts with '/', no trailing '/', no "//".
  std::string prefix = "/shmreg";
  // The broker's lease: a dead broker's names leave every host within it.
  // Whole seconds (etcd counts leases so).
  std::chrono::seconds lease_ttl{5};
  // The longest a cluster write (register, unregister) waits for etcd
  // before it fails with cluster_unavailable.
  std::chrono::milliseconds write_deadline{2000};
  // The longest one endpoint may take before a call moves to the next.
  std::chrono::milliseconds attempt_timeout{1000};
  // TLS for https endpoints: PEM files. key_file must be readable by the
  // broker's user only (checked when the file is read).
  std::string ca_file, cert_file, key_file;

  friend bool operator==(const ClusterSection&, const ClusterSection&) = default;
};

}  // namespace shmreg::broker
