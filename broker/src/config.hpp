// The broker's settings: who it is (namespace, paths) from its command line
// (main.cpp), and what it enforces, from its configuration file or defaults
// (settings.hpp, docs/config.md) with command-line flags on top.
//
// Thread-safety: a plain value, owned by the Broker; settings change only on
// the io_context's thread, by a reload.
#pragma once

#include <functional>
#include <string>

#include "settings.hpp"
#include "shmreg/proto/paths.hpp"

namespace shmreg::broker {

struct BrokerConfig {
  std::string ns = "default";
  proto::NamespacePaths paths;  // runtime directory, socket, segment and lock
  bool verbose = false;
  // The configuration file: read at start and at every reload. Empty: none.
  std::string config_path;
  // --config-if-exists: a missing file means "no configuration" (defaults),
  // not an error.
  bool config_optional = false;
  // Re-applies the settings given as command-line flags, which win over the
  // file, to settings freshly read from it (at start and at every reload).
  std::function<void(Settings&)> apply_flags = [](Settings&) {};
  Settings settings;
};

}  // namespace shmreg::broker
