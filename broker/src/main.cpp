// shmreg-broker: the single writer of a namespace's registry segment.
#include <CLI/CLI.hpp>
#include <iostream>

#include "broker.hpp"
#include "shmreg/proto/paths.hpp"

namespace {

// "64M", "1G", "4096": bytes with an optional K/M/G suffix (powers of 1024).
bool parse_size(const std::string& text, std::size_t& out) {
  if (text.empty()) return false;
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos);
  } catch (...) {
    return false;
  }
  const std::string suffix = text.substr(pos);
  unsigned shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) return false;
  if (n > (~0ULL >> shift)) return false;
  out = static_cast<std::size_t>(n << shift);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shmreg-broker: the single writer of a shmreg namespace; runs in the foreground, logs to stderr"};
  shmreg::broker::BrokerConfig config;
  std::string ns_flag, socket_flag, size_text = "64M";
  unsigned grace_ms = 10;
  app.add_option("--namespace,-n", ns_flag, "namespace (default: $SHMREG_NAMESPACE or 'default')");
  app.add_option("--socket,-s", socket_flag,
                 "socket path; its directory also holds <ns>.segment and <ns>.lock (default: $SHMREG_SOCKET, /run/shmreg/<ns>.sock as root, "
                 "else $XDG_RUNTIME_DIR/shmreg/<ns>.sock)");
  app.add_option("--segment-size", size_text, "segment size when creating it, e.g. 64M or 1G")->capture_default_str();
  app.add_option("--owner-capacity", config.owner_capacity, "owner processes the segment can hold")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 22));
  app.add_option("--grace-ms", grace_ms, "grace period before a freed record is reused")->capture_default_str();
  app.add_option("--default-max-key", config.default_max_key, "max key length for registries created without one")
      ->capture_default_str();
  app.add_option("--default-max-value", config.default_max_value,
                 "max value length for registries created without one")
      ->capture_default_str();
  app.add_option("--default-capacity", config.default_capacity, "capacity for registries created without one")
      ->capture_default_str();
  app.add_flag("--verbose,-v", config.verbose, "log every connection");
  app.set_version_flag("--version", "shmreg-broker 0.1.0");
  CLI11_PARSE(app, argc, argv);

  if (!parse_size(size_text, config.segment_size)) {
    std::cerr << "shmreg-broker: invalid --segment-size '" << size_text << "' (use bytes or a K/M/G suffix)\n";
    return 2;
  }
  config.grace = std::chrono::milliseconds(grace_ms);
  config.ns = shmreg::proto::resolve_namespace(ns_flag);
  auto paths = shmreg::proto::broker_paths(socket_flag, config.ns);
  if (!paths) {
    std::cerr << "shmreg-broker: " << paths.error() << "\n";
    return 2;
  }
  config.paths = std::move(*paths);
  shmreg::broker::Broker broker(config);
  return broker.run();
}
