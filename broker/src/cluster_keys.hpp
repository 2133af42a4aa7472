// The etcd keys and values of cluster registries (docs/cluster.md, "Keys"):
// what this broker writes and what a remote broker's mirror reads.
//
//   P/hosts/<host>                                    {"broker_pid":N,"host":..,"lease":"<id>","started_ns":N}
//   P/names/<registry>/<KEYHEX>                       a unique registry's name
//   P/dups/<registry>/<KEYHEX>/<host>/<pid>/<token>   one entry of a duplicate registry
//
// P is [cluster] prefix, KEYHEX the key's bytes in lowercase hex. An entry's
// value is {"host":..,"pid":N,"uid":N,"value":"<base64>"}, written with its
// members in that order (nlohmann's), so that equal entries are equal bytes
// and a compare-and-delete on the value removes only the entry written.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmreg::broker {

// Who holds an entry key, as its value says.
struct ClusterHolder {
  std::string host;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string value;  // the entry's value bytes
};

[[nodiscard]] std::string hosts_key(std::string_view prefix, std::string_view host);
[[nodiscard]] std::string hosts_prefix(std::string_view prefix);
[[nodiscard]] std::string unique_key(std::string_view prefix, std::string_view registry, std::string_view key);
// Every entry of pid on host under key (a range's start; the range's end is
// cluster::prefix_range_end of it).
[[nodiscard]] std::string dup_owner_prefix(std::string_view prefix, std::string_view registry, std::string_view key,
                                           std::string_view host, std::uint32_t pid);
[[nodiscard]] std::string dup_key(std::string_view prefix, std::string_view registry, std::string_view key,
                                  std::string_view host, std::uint32_t pid, std::uint64_t token);

[[nodiscard]] std::string entry_value(const ClusterHolder& h);
// nullopt when text is not an entry value.
[[nodiscard]] std::optional<ClusterHolder> parse_entry_value(std::string_view text);

[[nodiscard]] std::string host_value(std::string_view host, std::int64_t lease, std::uint32_t broker_pid,
                                     std::uint64_t started_ns);

}  // namespace shmreg::broker
