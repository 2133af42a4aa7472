// The broker's settings, from its command line (main.cpp).
//
// Thread-safety: a plain value, constant once the broker runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

struct BrokerConfig {
  std::string ns = "default";
  proto::NamespacePaths paths;  // runtime directory, socket, segment and lock
  std::size_t segment_size = shm::kDefaultSegmentSize;
  std::uint32_t owner_capacity = 8192;
  std::chrono::milliseconds grace{10};
  // Defaults for create requests that leave a limit at 0.
  std::uint32_t default_max_key = 128;
  std::uint32_t default_max_value = 256;
  std::uint32_t default_capacity = 4096;
  bool verbose = false;
};

}  // namespace shmreg::broker
