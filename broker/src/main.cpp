// shmreg-broker: the single writer of a namespace's registry segment.
//
// Its settings come from a configuration file (--config, docs/config.md) and
// from flags (docs/broker-options.md); a flag given on the command line wins
// over the file, at start and after every reload (BrokerConfig::apply_flags).
#include <CLI/CLI.hpp>
#include <cerrno>
#include <functional>
#include <iostream>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include "broker.hpp"
#include "config_file.hpp"
#include "config_values.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/proto/wire.hpp"

namespace {

using shmreg::broker::Settings;

static_assert(shmreg::broker::ConnectionLimits{}.fds_per_connection == shmreg::proto::kMaxFramePidfds,
              "by default a frame may pass as many descriptors as the protocol allows");

// Re-applies one flag's value to settings read from a file.
using FlagOverride = std::function<void(Settings&)>;

// The flags CLI11 cannot store directly: sizes ("4M") and milliseconds,
// converted once it has run.
struct FlagTexts {
  std::string segment_size = "64M";
  std::string huge_pages = "off";
  unsigned grace_ms = 10;
  std::string queued_reply_bytes = "4M";
  std::string mailbox_bytes_per_uid = "32M";
  std::string mailbox_bytes_per_receiver_uid;  // empty: a quarter of the above
  std::string pattern_bytes = "64K";
  unsigned frame_deadline_ms = 10'000;
  unsigned idle_timeout_ms = 60'000;
};

// Every option that sets a value of Settings, for apply_flags.
struct SettingOptions {
  std::vector<std::pair<CLI::Option*, FlagOverride>> overrides;
  CLI::Option* receiver_share = nullptr;  // --mailbox-bytes-per-receiver-uid
};

// An override that copies field's value in flags (once the flags are parsed
// and converted) over the same field of a file's settings.
template <class Field>
FlagOverride copy_from(Settings& flags, Field field) {
  return [&flags, field](Settings& s) { field(s) = field(flags); };
}

#define SHMREG_FIELD(expr) [](Settings& s) -> auto& { return s.expr; }

void add_segment_options(CLI::App& app, Settings& flags, FlagTexts& texts, SettingOptions& opts) {
  auto& b = flags.broker;
  auto add = [&](CLI::Option* o, FlagOverride f) { opts.overrides.emplace_back(o, std::move(f)); };
  add(app.add_option("--segment-size", texts.segment_size, "segment size when creating it, e.g. 64M or 1G")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.segment_size)));
  add(app.add_option("--huge-pages", texts.huge_pages,
                     "put the segment on 2 MiB pages: off, try (ask, log what it got, serve anyway) or require "
                     "(refuse to start without them); its directory must be on hugetlbfs or a tmpfs with huge=")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.huge_pages)));
  add(app.add_option("--owner-capacity", b.owner_capacity, "owner processes the segment can hold")
          ->capture_default_str()
          ->check(CLI::Range(1u, 1u << 22)),
      copy_from(flags, SHMREG_FIELD(broker.owner_capacity)));
  add(app.add_option("--grace-ms", texts.grace_ms, "grace period before a freed record is reused")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.grace)));
  add(app.add_option("--default-max-key", b.default_max_key, "max key length for registries created without one")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.default_max_key)));
  add(app.add_option("--default-max-value", b.default_max_value,
                     "max value length for registries created without one")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.default_max_value)));
  add(app.add_option("--default-capacity", b.default_capacity, "capacity for registries created without one")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.default_capacity)));
}

// --max-connections-per-uid replaces [limits] connections, and with it the
// connections of each [limits.user.NAME] that took the file's value from there.
FlagOverride connections_override(const Settings& flags) {
  return [&flags](Settings& s) {
    const auto inherited = s.limits.all.connections;
    for (auto& [uid, quota] : s.limits.per_user)
      if (quota.connections == inherited) quota.connections = flags.limits.all.connections;
    s.limits.all.connections = flags.limits.all.connections;
  };
}

void add_limit_options(CLI::App& app, Settings& flags, FlagTexts& texts, SettingOptions& opts) {
  auto add = [&](CLI::Option* o, FlagOverride f) { opts.overrides.emplace_back(o, std::move(f)); };
  add(app.add_option("--max-queued-reply-bytes", texts.queued_reply_bytes,
                     "replies queued on one connection before the broker stops reading its requests")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.connection.queued_reply_bytes)));
  add(app.add_option("--frame-deadline-ms", texts.frame_deadline_ms,
                     "time from a request frame's first byte to its last")
          ->capture_default_str()
          ->check(CLI::Range(1u, 3'600'000u)),
      copy_from(flags, SHMREG_FIELD(broker.connection.frame_deadline)));
  add(app.add_option("--idle-timeout-ms", texts.idle_timeout_ms,
                     "a connection that holds nothing (no entries, no mailbox) is closed after this long without a "
                     "request; 0: never")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.connection.idle_timeout)));
  add(app.add_option("--max-connections-per-uid", flags.limits.all.connections,
                     "open connections per user id (root is not limited)")
          ->capture_default_str()
          ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20)),
      connections_override(flags));
  add(app.add_option("--max-fds-per-request", flags.broker.connection.fds_per_connection,
                     "descriptors a request frame may pass; more ends the connection")
          ->capture_default_str()
          ->check(CLI::Range(0u, static_cast<unsigned>(shmreg::proto::kMaxFramePidfds))),
      copy_from(flags, SHMREG_FIELD(broker.connection.fds_per_connection)));
  add(app.add_option("--max-pattern-bytes", texts.pattern_bytes,
                     "size of an unregister_match pattern and its guards, checked before compiling")
          ->capture_default_str(),
      copy_from(flags, SHMREG_FIELD(broker.connection.pattern_bytes)));
}

// The mailbox budget and its per-receiver share: without the share's flag,
// --mailbox-bytes-per-uid brings its quarter with it.
void add_mailbox_options(CLI::App& app, Settings& flags, FlagTexts& texts, SettingOptions& opts) {
  opts.receiver_share =
      app.add_option("--mailbox-bytes-per-receiver-uid", texts.mailbox_bytes_per_receiver_uid,
                     "of those, the bytes the mailboxes of one other user may hold unread "
                     "(default: a quarter of --mailbox-bytes-per-uid, 8M)");
  CLI::Option* share = opts.receiver_share;
  opts.overrides.emplace_back(
      app.add_option("--mailbox-bytes-per-uid", texts.mailbox_bytes_per_uid,
                     "message bytes one user's sends may have queued in all mailboxes")
          ->capture_default_str(),
      [&flags, share](Settings& s) {
        auto& c = s.broker.connection;
        c.mailbox_bytes_per_uid = flags.broker.connection.mailbox_bytes_per_uid;
        if (share->count() == 0) c.mailbox_bytes_per_receiver_uid = c.mailbox_bytes_per_uid / 4;
      });
  opts.overrides.emplace_back(share, copy_from(flags, SHMREG_FIELD(broker.connection.mailbox_bytes_per_receiver_uid)));
}

bool size_flag(const char* flag, const std::string& text, std::size_t& out) {
  const auto bytes = shmreg::broker::parse_size(text);
  if (!bytes) {
    std::cerr << "shmreg-broker: invalid " << flag << " '" << text << "' (use bytes or a K/M/G suffix)\n";
    return false;
  }
  out = static_cast<std::size_t>(*bytes);
  return true;
}

bool convert_flag_texts(const FlagTexts& texts, Settings& flags) {
  auto& b = flags.broker;
  auto& c = b.connection;
  if (!size_flag("--segment-size", texts.segment_size, b.segment_size) ||
      !size_flag("--max-queued-reply-bytes", texts.queued_reply_bytes, c.queued_reply_bytes) ||
      !size_flag("--mailbox-bytes-per-uid", texts.mailbox_bytes_per_uid, c.mailbox_bytes_per_uid) ||
      !size_flag("--max-pattern-bytes", texts.pattern_bytes, c.pattern_bytes))
    return false;
  if (const auto h = shmreg::broker::parse_huge_pages(texts.huge_pages)) {
    b.huge_pages = *h;
  } else {
    std::cerr << "shmreg-broker: invalid --huge-pages '" << texts.huge_pages << "' (use "
              << shmreg::broker::kHugePagesValues << ")\n";
    return false;
  }
  c.mailbox_bytes_per_receiver_uid = c.mailbox_bytes_per_uid / 4;
  if (!texts.mailbox_bytes_per_receiver_uid.empty() &&
      !size_flag("--mailbox-bytes-per-receiver-uid", texts.mailbox_bytes_per_receiver_uid,
                 c.mailbox_bytes_per_receiver_uid))
    return false;
  b.grace = std::chrono::milliseconds(texts.grace_ms);
  c.frame_deadline = std::chrono::milliseconds(texts.frame_deadline_ms);
  c.idle_timeout = std::chrono::milliseconds(texts.idle_timeout_ms);
  return true;
}

void print_problems(const std::vector<shmreg::broker::ConfigProblem>& problems) {
  for (const auto& p : problems) std::cerr << p.text() << "\n";
}

// --check-config: 0 when the file is valid on its own, 2 otherwise.
int check_config(const std::string& path) {
  const auto loaded = shmreg::broker::load_settings(path);
  if (!loaded) {
    print_problems(loaded.error());
    return 2;
  }
  std::cout << path << ": ok\n";
  return 0;
}

// The settings at start: the file's, if any, with the flags on top.
bool initial_settings(shmreg::broker::BrokerConfig& config) {
  Settings settings;
  struct stat st {};
  const bool absent = config.config_optional && ::stat(config.config_path.c_str(), &st) != 0 && errno == ENOENT;
  if (absent) {
    std::cerr << "shmreg-broker[" << config.ns << "]: no configuration file " << config.config_path
              << ": running on the defaults\n";
  } else if (!config.config_path.empty()) {
    auto loaded = shmreg::broker::load_settings(config.config_path);
    if (!loaded) {
      std::cerr << "shmreg-broker[" << config.ns << "]: invalid configuration " << config.config_path << ":\n";
      print_problems(loaded.error());
      return false;
    }
    settings = std::move(*loaded);
    std::cerr << "shmreg-broker[" << config.ns << "]: configuration " << config.config_path << ": "
              << settings.registries.size() << " registries declared\n";
  }
  config.apply_flags(settings);
  config.settings = std::move(settings);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shmreg-broker: the single writer of a shmreg namespace; runs in the foreground, logs to stderr"};
  shmreg::broker::BrokerConfig config;
  Settings flags;
  FlagTexts texts;
  SettingOptions opts;
  std::string ns_flag, socket_flag, config_file, optional_config_file, check_file;
  app.add_option("--namespace,-n", ns_flag, "namespace (default: $SHMREG_NAMESPACE or 'default')");
  app.add_option("--socket,-s", socket_flag,
                 "socket path; its directory also holds <ns>.segment and <ns>.lock (default: $SHMREG_SOCKET, "
                 "/run/shmreg/<ns>.sock as root, else $XDG_RUNTIME_DIR/shmreg/<ns>.sock)");
  auto* with_config = app.add_option("--config", config_file, "configuration file (docs/config.md); must exist");
  app.add_option("--config-if-exists", optional_config_file,
                 "configuration file, if it exists; without it the broker runs on the defaults")
      ->excludes(with_config);
  app.add_option("--check-config", check_file, "check a configuration file on its own, then exit: 0 valid, 2 not")
      ->excludes(with_config);
  add_segment_options(app, flags, texts, opts);
  add_limit_options(app, flags, texts, opts);
  add_mailbox_options(app, flags, texts, opts);
  app.add_flag("--verbose,-v", config.verbose, "log every connection");
  app.set_version_flag("--version", "shmreg-broker 0.1.0");
  CLI11_PARSE(app, argc, argv);

  if (!check_file.empty()) return check_config(check_file);
  if (!convert_flag_texts(texts, flags)) return 2;
  std::vector<FlagOverride> given;
  for (auto& [option, apply] : opts.overrides)
    if (option->count() > 0) given.push_back(std::move(apply));
  config.apply_flags = [given = std::move(given)](Settings& s) {
    for (const auto& apply : given) apply(s);
  };
  config.config_path = config_file.empty() ? optional_config_file : config_file;
  config.config_optional = config_file.empty() && !optional_config_file.empty();
  config.ns = shmreg::proto::resolve_namespace(ns_flag);
  auto paths = shmreg::proto::broker_paths(socket_flag, config.ns);
  if (!paths) {
    std::cerr << "shmreg-broker: " << paths.error() << "\n";
    return 2;
  }
  config.paths = std::move(*paths);
  if (!initial_settings(config)) return 2;
  shmreg::broker::Broker server(config);
  return server.run();
}
