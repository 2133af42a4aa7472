// The broker's settings, from its command line (main.cpp).
//
// Thread-safety: a plain value, constant once the broker runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "shmreg/proto/paths.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

// What one local user can make the broker hold. Each is a flag (main.cpp) and
// documented with its default in docs/broker-options.md.
struct ConnectionLimits {
  // Reply and message bytes queued on one connection before the broker stops
  // reading its requests: two of the largest replies (2 MiB each).
  std::size_t queued_reply_bytes = std::size_t{4} << 20;
  // From a frame's first byte to its last.
  std::chrono::milliseconds frame_deadline{10'000};
  // A connection that holds nothing (its process owns no entries, it has no
  // mailbox, nothing in flight) is closed after this long without a request.
  std::chrono::milliseconds idle_timeout{60'000};
  // Open connections of one uid other than root's.
  std::uint32_t connections_per_uid = 64;
  // Descriptors passed with one request frame; more ends the connection.
  std::uint32_t fds_per_connection = proto::kMaxFramePidfds;
  // Message bytes the sends of one uid may have queued in all mailboxes.
  std::size_t mailbox_bytes_per_uid = std::size_t{32} << 20;
  // Of those, the bytes the mailboxes of one other uid may hold: a quarter,
  // so that a user who never reads holds at most that share of the budget.
  std::size_t mailbox_bytes_per_receiver_uid = std::size_t{8} << 20;
  // Bytes of an unregister_match pattern plus its guards, checked before
  // they are compiled.
  std::size_t pattern_bytes = std::size_t{64} << 10;
};

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
  ConnectionLimits limits;
};

}  // namespace shmreg::broker
