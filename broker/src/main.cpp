// shmreg-broker: the single writer of a namespace's registry segment.
#include <CLI/CLI.hpp>
#include <iostream>
#include <utility>

#include "broker.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/proto/wire.hpp"

namespace {

static_assert(shmreg::broker::ConnectionLimits{}.fds_per_connection == shmreg::proto::kMaxFramePidfds,
              "by default a frame may pass as many descriptors as the protocol allows");

// "64M", "1G", "4096": bytes with an optional K/M/G suffix (powers of 1024).
// Digits first: stoull would take a sign or spaces, and wrap "-1" to 2^64-1.
bool parse_size(const std::string& text, std::size_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
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

// The limits CLI11 cannot store directly: sizes ("4M") and milliseconds,
// converted once it has run.
struct LimitTexts {
  std::string queued_reply_bytes = "4M";
  std::string mailbox_bytes_per_uid = "32M";
  std::string mailbox_bytes_per_receiver_uid;  // empty: a quarter of the above
  std::string pattern_bytes = "64K";
  unsigned frame_deadline_ms = 10'000;
  unsigned idle_timeout_ms = 60'000;
};

void add_limit_options(CLI::App& app, shmreg::broker::Settings& settings, LimitTexts& texts) {
  auto& limits = settings.broker.connection;
  app.add_option("--max-queued-reply-bytes", texts.queued_reply_bytes,
                 "replies queued on one connection before the broker stops reading its requests")
      ->capture_default_str();
  app.add_option("--frame-deadline-ms", texts.frame_deadline_ms, "time from a request frame's first byte to its last")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3'600'000u));
  app.add_option("--idle-timeout-ms", texts.idle_timeout_ms,
                 "a connection that holds nothing (no entries, no mailbox) is closed after this long without a "
                 "request; 0: never")
      ->capture_default_str();
  app.add_option("--max-connections-per-uid", settings.limits.all.connections,
                 "open connections per user id (root is not limited)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20));
  app.add_option("--max-fds-per-request", limits.fds_per_connection,
                 "descriptors a request frame may pass; more ends the connection")
      ->capture_default_str()
      ->check(CLI::Range(0u, static_cast<unsigned>(shmreg::proto::kMaxFramePidfds)));
  app.add_option("--mailbox-bytes-per-uid", texts.mailbox_bytes_per_uid,
                 "message bytes one user's sends may have queued in all mailboxes")
      ->capture_default_str();
  app.add_option("--mailbox-bytes-per-receiver-uid", texts.mailbox_bytes_per_receiver_uid,
                 "of those, the bytes the mailboxes of one other user may hold unread "
                 "(default: a quarter of --mailbox-bytes-per-uid, 8M)");
  app.add_option("--max-pattern-bytes", texts.pattern_bytes,
                 "size of an unregister_match pattern and its guards, checked before compiling")
      ->capture_default_str();
}

bool apply_limit_texts(const LimitTexts& texts, shmreg::broker::ConnectionLimits& limits) {
  const std::pair<const char*, std::pair<const std::string*, std::size_t*>> sizes[] = {
      {"--max-queued-reply-bytes", {&texts.queued_reply_bytes, &limits.queued_reply_bytes}},
      {"--mailbox-bytes-per-uid", {&texts.mailbox_bytes_per_uid, &limits.mailbox_bytes_per_uid}},
      {"--max-pattern-bytes", {&texts.pattern_bytes, &limits.pattern_bytes}},
  };
  for (const auto& [flag, text_and_out] : sizes) {
    if (!parse_size(*text_and_out.first, *text_and_out.second)) {
      std::cerr << "shmreg-broker: invalid " << flag << " '" << *text_and_out.first
                << "' (use bytes or a K/M/G suffix)\n";
      return false;
    }
  }
  limits.mailbox_bytes_per_receiver_uid = limits.mailbox_bytes_per_uid / 4;
  if (!texts.mailbox_bytes_per_receiver_uid.empty() &&
      !parse_size(texts.mailbox_bytes_per_receiver_uid, limits.mailbox_bytes_per_receiver_uid)) {
    std::cerr << "shmreg-broker: invalid --mailbox-bytes-per-receiver-uid '" << texts.mailbox_bytes_per_receiver_uid
              << "' (use bytes or a K/M/G suffix)\n";
    return false;
  }
  limits.frame_deadline = std::chrono::milliseconds(texts.frame_deadline_ms);
  limits.idle_timeout = std::chrono::milliseconds(texts.idle_timeout_ms);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shmreg-broker: the single writer of a shmreg namespace; runs in the foreground, logs to stderr"};
  shmreg::broker::BrokerConfig config;
  auto& broker = config.settings.broker;
  LimitTexts limit_texts;
  std::string ns_flag, socket_flag, size_text = "64M";
  unsigned grace_ms = 10;
  app.add_option("--namespace,-n", ns_flag, "namespace (default: $SHMREG_NAMESPACE or 'default')");
  app.add_option("--socket,-s", socket_flag,
                 "socket path; its directory also holds <ns>.segment and <ns>.lock (default: $SHMREG_SOCKET, /run/shmreg/<ns>.sock as root, "
                 "else $XDG_RUNTIME_DIR/shmreg/<ns>.sock)");
  app.add_option("--segment-size", size_text, "segment size when creating it, e.g. 64M or 1G")->capture_default_str();
  app.add_option("--owner-capacity", broker.owner_capacity, "owner processes the segment can hold")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 22));
  app.add_option("--grace-ms", grace_ms, "grace period before a freed record is reused")->capture_default_str();
  app.add_option("--default-max-key", broker.default_max_key, "max key length for registries created without one")
      ->capture_default_str();
  app.add_option("--default-max-value", broker.default_max_value,
                 "max value length for registries created without one")
      ->capture_default_str();
  app.add_option("--default-capacity", broker.default_capacity, "capacity for registries created without one")
      ->capture_default_str();
  app.add_flag("--verbose,-v", config.verbose, "log every connection");
  add_limit_options(app, config.settings, limit_texts);
  app.set_version_flag("--version", "shmreg-broker 0.1.0");
  CLI11_PARSE(app, argc, argv);

  if (!parse_size(size_text, broker.segment_size)) {
    std::cerr << "shmreg-broker: invalid --segment-size '" << size_text << "' (use bytes or a K/M/G suffix)\n";
    return 2;
  }
  if (!apply_limit_texts(limit_texts, broker.connection)) return 2;
  broker.grace = std::chrono::milliseconds(grace_ms);
  config.ns = shmreg::proto::resolve_namespace(ns_flag);
  auto paths = shmreg::proto::broker_paths(socket_flag, config.ns);
  if (!paths) {
    std::cerr << "shmreg-broker: " << paths.error() << "\n";
    return 2;
  }
  config.paths = std::move(*paths);
  shmreg::broker::Broker server(config);
  return server.run();
}
