// An etcd endpoint URL taken apart: "http://host:port" or
// "https://[::1]:2379". Internal to shmreg_cluster.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shmreg/cluster/errc.hpp"

namespace shmreg::cluster::detail {

struct Endpoint {
  std::string url;   // as configured, for messages
  bool tls = false;  // https
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string host_header;  // "host:port", for the Host header
};

// invalid_argument naming the URL and the rule it breaks. A missing port
// is etcd's client port, 2379.
Result<Endpoint> parse_endpoint(std::string_view url);

}  // namespace shmreg::cluster::detail
