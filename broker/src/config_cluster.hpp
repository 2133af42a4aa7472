// The [cluster] table of a configuration file, and the rules that tie it to
// the [[registry]] tables (a scope = "cluster" registry needs it), checked
// on their own: names, the prefix, durations, endpoints, and TLS files (the
// key readable by the broker's user only).
//
// Thread-safety: one reader per parse.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>
#include <string_view>

#include "config_reader.hpp"
#include "settings.hpp"

namespace shmreg::broker {

// Reads [cluster] into out; every problem goes to r.
void read_cluster(ConfigReader& r, const toml::table& t, ClusterSection& out);

// Problems with the registries' scopes against [cluster] (absent, or its
// rules): a cluster registry without [cluster], static entries on one.
// regs: the document's [[registry]] array (for positions), or nullptr.
void check_cluster_scopes(ConfigReader& r, const toml::array* regs, const Settings& s);

// /etc/machine-id's content (32 hex digits), or nullopt when it cannot be read.
[[nodiscard]] std::optional<std::string> machine_id();

// The rules of [cluster] host and prefix (docs/config.md), as the reason a
// value breaks them; nullopt when it is valid.
[[nodiscard]] std::optional<std::string> host_name_problem(std::string_view host);
[[nodiscard]] std::optional<std::string> prefix_problem(std::string_view prefix);

}  // namespace shmreg::broker
