// libshmreg: what the broker says about its configuration and its use, as
// plain values: the outcome of Client::reload (and forbid_reload,
// allow_reload), and Client::status, the broker's state and each uid's use
// against its quotas (docs/config.md, "shmreg status").
//
// Every field mirrors one of the status JSON object the broker sends; the
// text itself is kept in BrokerStatus::json, for tools that pass it on.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shmreg {

// The broker's configuration lifecycle: "running", "reloading" (a reload is
// being validated and applied) or "reload_error" (the last reload was
// refused; the settings before it stay in force and a later reload may retry).
struct ReloadOutcome {
  std::string state;
  std::uint64_t generation = 0;       // the configuration in force; + 1 per applied reload
  std::vector<std::string> reasons;   // why the reload was refused (empty when it applied)
  std::vector<std::string> notes;     // settings read but waiting for a restart (segment_size, ...)
};

// One uid's quotas ([limits], [limits.user.NAME]).
struct UidLimits {
  std::uint64_t entries = 0;
  std::uint64_t value_bytes = 0;
  std::uint64_t registries = 0;
  std::uint64_t registry_bytes = 0;
  std::uint64_t connections = 0;
};

// What the processes of one uid hold in the namespace.
struct UidUsage {
  std::uint32_t uid = 0;
  std::string user;  // empty when the uid has no name on the broker's host
  std::uint64_t entries = 0;
  std::uint64_t value_bytes = 0;
  std::uint64_t registries = 0;      // registries its processes created at run time
  std::uint64_t registry_bytes = 0;  // segment bytes those registries took
  std::uint64_t connections = 0;
  std::optional<UidLimits> limits;   // nullopt: not limited (root, unless configured)
};

struct LastReload {
  std::int64_t unix_s = 0;
  bool ok = false;  // the outcome: applied, or refused with reasons
  std::vector<std::string> reasons;
  std::vector<std::string> notes;
};

struct BrokerStatus {
  std::string ns;
  std::uint32_t broker_pid = 0;
  std::string state;  // as ReloadOutcome::state
  double uptime_s = 0;
  std::string config_path;  // empty: the broker runs without a configuration file
  std::uint64_t generation = 0;
  std::int64_t config_loaded_unix_s = 0;
  std::optional<LastReload> last_reload;  // nullopt: no reload since the start
  bool reload_allowed = true;
  std::uint64_t connections = 0;
  std::uint64_t owners = 0;
  std::uint64_t entries = 0;
  std::uint64_t registries = 0;
  std::uint64_t arena_used = 0;
  std::uint64_t arena_size = 0;
  std::uint64_t segment_size = 0;   // the broker's segment, in bytes (0: a broker that does not say)
  // [broker] huge_pages in force ("off", "try", "require"; "" from a broker
  // that does not say), and with it on, how much of the broker's mapping of
  // the segment the kernel maps with huge pages of which size (nullopt: off).
  std::string huge_pages;
  std::optional<std::uint64_t> huge_page_bytes;
  std::optional<std::uint64_t> huge_page_size;
  // Every uid with any use; root sees them all, any other caller its own.
  std::vector<UidUsage> uids;
  std::string json;  // the broker's JSON object, as sent
};

}  // namespace shmreg
