// The broker's settings: who it is (namespace, paths) from its command line
// (main.cpp), and what it enforces, from its configuration file or defaults
// (settings.hpp, docs/config.md) with command-line flags on top.
//
// Thread-safety: a plain value, owned by the Broker; settings change only on
// the io_context's thread, by a reload.
#pragma once

#include <string>

#include "settings.hpp"
#include "shmreg/proto/paths.hpp"

namespace shmreg::broker {

struct BrokerConfig {
  std::string ns = "default";
  proto::NamespacePaths paths;  // runtime directory, socket, segment and lock
  bool verbose = false;
  Settings settings;
};

}  // namespace shmreg::broker
