// What a broker configuration file says (docs/config.md), parsed, checked on
// its own and with every user and group name resolved to an id.
//
// config_file.hpp turns a TOML file into Settings (or every problem with its
// file:line:column); the broker validates Settings against the ones in force
// and against the live segment before applying them (reload.hpp), and the op
// table enforces their policy and quotas (authorize(), op_table.hpp).
//
// A Settings value is complete: every field holds the value in force, the
// file's or the default, so that nothing downstream re-applies defaults.
// Without a configuration file the broker runs on Settings{} (everyone may
// create and register; the default quotas of [limits]).
//
// Thread-safety: plain values.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "settings_cluster.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::broker {

// Where in the file a value came from, for messages ("file:line:column").
struct SourcePos {
  std::uint32_t line = 0;  // 0: not from a file (a default)
  std::uint32_t column = 0;
};

// One name of an access list: "*" (anyone), a user ("alice" or a uid
// "1000"), or a group ("@dba" or "@1001").
struct Principal {
  enum class Kind : std::uint8_t { anyone, user, group };
  Kind kind = Kind::anyone;
  std::uint32_t id = 0;  // uid or gid; unused for anyone
  std::string text;      // as written in the file, for messages

  friend bool operator==(const Principal&, const Principal&) = default;
};

// Who may do something. Root (uid 0) passes every access list; the broker
// checks that before consulting one.
struct AccessList {
  std::vector<Principal> who;

  // True when uid, or one of gids (the caller's primary and supplementary
  // groups), is listed, or the list holds "*".
  [[nodiscard]] bool allows(uid_t uid, std::span<const gid_t> gids) const noexcept {
    for (const Principal& p : who) {
      if (p.kind == Principal::Kind::anyone) return true;
      if (p.kind == Principal::Kind::user && p.id == uid) return true;
      if (p.kind == Principal::Kind::group)
        for (gid_t g : gids)
          if (g == p.id) return true;
    }
    return false;
  }
  // The list as the file writes it, for messages: ["root", "@dba"].
  [[nodiscard]] std::string text() const {
    std::string out = "[";
    for (std::size_t i = 0; i < who.size(); ++i) out += (i ? ", \"" : "\"") + who[i].text + "\"";
    return out + "]";
  }
  friend bool operator==(const AccessList&, const AccessList&) = default;
};

[[nodiscard]] inline AccessList anyone() { return AccessList{{Principal{Principal::Kind::anyone, 0, "*"}}}; }
[[nodiscard]] inline AccessList root_only() { return AccessList{{Principal{Principal::Kind::user, 0, "root"}}}; }

// The per-uid quotas of [limits] and [limits.user.NAME]. Each counts what
// processes of one uid hold in the whole namespace.
struct Quota {
  std::uint64_t entries = 10'000;                   // live entries and queued records
  std::uint64_t registries = 16;                    // registries created at run time
  std::uint64_t registry_bytes = std::uint64_t{16} << 20;  // segment bytes those registries reserve
  std::uint64_t connections = 64;                   // open connections (--max-connections-per-uid)
  std::uint64_t value_bytes = std::uint64_t{16} << 20;     // value bytes of those entries
  friend bool operator==(const Quota&, const Quota&) = default;
};

struct Limits {
  Quota all;                         // [limits]
  std::map<uid_t, Quota> per_user;   // [limits.user.NAME]: complete (unset keys taken from all)
  // Root is not limited unless [limits.user.root] gives it a quota.
  [[nodiscard]] std::optional<Quota> for_uid(uid_t uid) const {
    if (auto it = per_user.find(uid); it != per_user.end()) return it->second;
    if (uid == 0) return std::nullopt;
    return all;
  }
  friend bool operator==(const Limits&, const Limits&) = default;
};

// [[registry.reserve]]: keys beginning with prefix may be owned only by
// processes that `owners` allows (checked against the owner's uid and groups).
struct Reservation {
  std::string prefix;
  AccessList owners;
  SourcePos where;
  friend bool operator==(const Reservation& a, const Reservation& b) {
    return a.prefix == b.prefix && a.owners == b.owners;
  }
};

// [[registry.static]]: an entry owned by the namespace, not by a process.
struct StaticEntry {
  std::string key;
  std::string value;
  SourcePos where;
  friend bool operator==(const StaticEntry& a, const StaticEntry& b) { return a.key == b.key && a.value == b.value; }
};

// [[registry]]: created at start and on reload when missing.
struct DeclaredRegistry {
  std::string name;
  shm::RegistryKind kind = shm::RegistryKind::unique;
  std::uint32_t partitions = 1;
  std::uint32_t max_key = 128;
  std::uint32_t max_value = 256;
  std::uint32_t capacity = 4096;
  std::vector<std::pair<std::string, std::string>> meta;  // applied when the registry is created
  AccessList register_access = anyone();  // `register`: who may register keys here
  AccessList admin = root_only();         // `admin`: who may change meta and static entries
  std::vector<Reservation> reserve;
  std::vector<StaticEntry> statics;
  // `scope`: host (this host only, never touches etcd) or cluster (the same
  // on every host of [cluster]; docs/cluster.md). Fixed at start.
  RegistryScope scope = RegistryScope::host;
  SourcePos where;
};

// What one local user can make the broker hold through its connections.
// Each is a key of [broker] and a flag (docs/broker-options.md).
struct ConnectionLimits {
  // Reply and message bytes queued on one connection before the broker stops
  // reading its requests: two of the largest replies (2 MiB each).
  std::size_t queued_reply_bytes = std::size_t{4} << 20;
  // From a frame's first byte to its last.
  std::chrono::milliseconds frame_deadline{10'000};
  // A connection that holds nothing (its process owns no entries, it has no
  // mailbox, nothing in flight) is closed after this long without a request.
  std::chrono::milliseconds idle_timeout{60'000};
  // Descriptors passed with one request frame; more ends the connection.
  std::uint32_t fds_per_connection = 16;  // == proto::kMaxFramePidfds (static_assert in main.cpp)
  // Message bytes the sends of one uid may have queued in all mailboxes.
  std::size_t mailbox_bytes_per_uid = std::size_t{32} << 20;
  // Of those, the bytes the mailboxes of one other uid may hold: a quarter,
  // so that a user who never reads holds at most that share of the budget.
  std::size_t mailbox_bytes_per_receiver_uid = std::size_t{8} << 20;
  // Bytes of an unregister_match pattern plus its guards, checked before
  // they are compiled.
  std::size_t pattern_bytes = std::size_t{64} << 10;
};

// [broker] huge_pages: whether the segment must sit on 2 MiB pages
// (docs/broker-options.md, "Huge pages"). off: the broker neither asks nor
// checks; try: it asks, checks and logs what it got, and serves either way;
// require: it refuses to start unless the whole segment is on huge pages.
enum class HugePages : std::uint8_t { off, try_huge, require };

[[nodiscard]] inline const char* to_string(HugePages h) noexcept {
  switch (h) {
    case HugePages::off: return "off";
    case HugePages::try_huge: return "try";
    case HugePages::require: return "require";
  }
  return "off";
}

// "off", "try" or "require"; nullopt for anything else.
[[nodiscard]] inline std::optional<HugePages> parse_huge_pages(std::string_view text) noexcept {
  if (text == "off") return HugePages::off;
  if (text == "try") return HugePages::try_huge;
  if (text == "require") return HugePages::require;
  return std::nullopt;
}

// For messages that name the allowed values.
inline constexpr std::string_view kHugePagesValues = "\"off\", \"try\" or \"require\"";

// [broker]: the broker's own settings. Each also has a command-line flag
// (docs/broker-options.md); a flag given on the command line wins over the file.
struct BrokerSection {
  std::size_t segment_size = std::size_t{64} << 20;  // restart only: used when the segment is created
  std::optional<gid_t> segment_group;                // segment mode 0640 and this group; else 0644
  std::string segment_group_name;                    // as written, for messages
  std::uint32_t owner_capacity = 8192;               // restart only
  std::chrono::milliseconds grace{10};               // restart only
  HugePages huge_pages = HugePages::off;             // restart only
  // Defaults for create requests that leave a limit at 0.
  std::uint32_t default_max_key = 128;
  std::uint32_t default_max_value = 256;
  std::uint32_t default_capacity = 4096;
  ConnectionLimits connection;
};

// [access]
struct AccessSection {
  AccessList create = anyone();     // who may create registries at run time
  AccessList register_access = anyone();  // who may register in registries the file does not declare
  AccessList reload = root_only();  // who may reload, forbid or allow reloads
};

struct Settings {
  std::string path;  // the file; empty: no configuration file
  BrokerSection broker;
  Limits limits;
  AccessSection access;
  std::vector<DeclaredRegistry> registries;  // names are distinct
  // [cluster]: absent unless the file has the table (then every cluster
  // registry needs it). Read at start only (reload.cpp says why).
  std::optional<ClusterSection> cluster;

  [[nodiscard]] const DeclaredRegistry* declared(std::string_view name) const noexcept {
    for (const auto& r : registries)
      if (r.name == name) return &r;
    return nullptr;
  }
  // Whether name is a registry declared with scope = "cluster".
  [[nodiscard]] bool cluster_scoped(std::string_view name) const noexcept {
    const DeclaredRegistry* r = declared(name);
    return r != nullptr && r->scope == RegistryScope::cluster;
  }
};

}  // namespace shmreg::broker
