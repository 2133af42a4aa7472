// The [[registry]] tables of a configuration file, with their
// [[registry.reserve]] and [[registry.static]] tables, checked on their own:
// the writer's rules for names and limits, distinct names and static keys.
//
// Thread-safety: one reader per parse.
#pragma once

#include <toml++/toml.h>

#include <vector>

#include "config_reader.hpp"
#include "settings.hpp"

namespace shmreg::broker {

// Appends each table of regs to out; limits a table leaves out come from
// the file's [broker] default_max_key, default_max_value and default_capacity.
void read_registries(ConfigReader& r, const toml::array& regs, const BrokerSection& defaults,
                     std::vector<DeclaredRegistry>& out);

}  // namespace shmreg::broker
