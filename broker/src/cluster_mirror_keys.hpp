// The etcd key schema of cluster registries, read side: what one key and its
// value under the cluster prefix P say about an entry (docs/cluster.md).
//
//   P/names/<registry>/<KEYHEX>                          a unique entry
//   P/dups/<registry>/<KEYHEX>/<host>/<pid>/<token>    one duplicate entry
//   value: {"host":"..","pid":N,"uid":N,"value":"<base64>"}
//
// KEYHEX is the registry key's bytes in lowercase hex. Everything read here
// comes from other hosts, so it is checked as hostile: a key or value that
// does not fit the schema is an error with the reason, never a crash.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "shmreg/shm/layout.hpp"

namespace shmreg::broker {

// What an etcd key under P names, without its value.
struct MirrorKey {
  shm::RegistryKind kind = shm::RegistryKind::unique;
  std::string registry;
  std::string key;  // the registry key's bytes
  // Duplicate keys only (from the path): the holder (the last part, a token, names one entry of it).
  std::string host;
  std::uint32_t pid = 0;
};

// A whole entry: its key and what the value says.
struct MirrorEntry {
  MirrorKey where;
  std::string host;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string value;
};

// The entry key's parts, with is_entry true, when key is under P/names/ or
// P/dups/; the reason when it is there but does not fit the schema; is_entry
// false (and an empty MirrorKey) for any other key under P (P/hosts/...).
std::expected<MirrorKey, std::string> parse_mirror_key(std::string_view prefix, std::string_view key,
                                                       bool& is_entry);

// The entry the key and value describe; the reason when the value is not
// the schema's JSON, the host is not a host name, the pid is out of
// 1..kRemotePidMask, or a duplicate key's path names another host or pid.
std::expected<MirrorEntry, std::string> parse_mirror_entry(MirrorKey where, std::string_view value);

// Lowercase hex of bytes, and back (nullopt-like error on odd length or a
// character outside [0-9a-f]).
std::string to_key_hex(std::string_view bytes);
std::expected<std::string, std::string> from_key_hex(std::string_view hex);

}  // namespace shmreg::broker
