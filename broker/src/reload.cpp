// The configuration lifecycle (see reload.hpp): read, validate, apply.
#include "reload.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "config_file.hpp"
#include "settings_apply.hpp"

namespace shmreg::broker {

namespace {

std::int64_t now_unix_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Restart-only settings that differ between the settings in force and the new
// ones: they are kept for the next start, and said so.
std::vector<std::string> restart_notes(const Settings& next, const Settings& old) {
  std::vector<std::string> notes;
  const auto note = [&](const char* key, const std::string& now, const std::string& asked) {
    notes.push_back(std::string("[broker] ") + key + " = " + asked + " takes effect at the next start (now " + now +
                    ")");
  };
  if (next.broker.segment_size != old.broker.segment_size)
    note("segment_size", std::to_string(old.broker.segment_size), std::to_string(next.broker.segment_size));
  if (next.broker.owner_capacity != old.broker.owner_capacity)
    note("owner_capacity", std::to_string(old.broker.owner_capacity), std::to_string(next.broker.owner_capacity));
  if (next.broker.grace != old.broker.grace)
    note("grace", std::to_string(old.broker.grace.count()) + "ms", std::to_string(next.broker.grace.count()) + "ms");
  if (next.broker.huge_pages != old.broker.huge_pages)
    note("huge_pages", to_string(old.broker.huge_pages), to_string(next.broker.huge_pages));
  // The link to etcd (its lease, the names held under it) is made once, at
  // start: [cluster] read again would have to move every name to a new
  // cluster or host name at once.
  if (next.cluster != old.cluster)
    notes.push_back("[cluster] changed: it takes effect at the next start (the broker keeps its link to etcd, "
                    "its host name and its lease until then)");
  return notes;
}

// A registry's scope is fixed at start: its names either are etcd keys or
// are not, and a reload cannot turn the one into the other under live
// entries. A new registry may be declared at a reload with scope "host"
// only: the link to etcd and the mirror of other hosts' entries are set up
// at start for the cluster registries declared then.
std::vector<std::string> scope_reasons(const Settings& next, const Settings& old) {
  std::vector<std::string> reasons;
  for (const DeclaredRegistry& r : next.registries) {
    const DeclaredRegistry* was = old.declared(r.name);
    const RegistryScope before = was != nullptr ? was->scope : RegistryScope::host;
    if (was != nullptr && before != r.scope)
      reasons.push_back("registry '" + r.name + "': scope = \"" + to_string(r.scope) + "\" (now \"" +
                        to_string(before) + "\") changes only at a restart");
    else if (was == nullptr && r.scope == RegistryScope::cluster)
      reasons.push_back("registry '" + r.name +
                        "': a scope = \"cluster\" registry is added at a restart (the link to etcd and the mirror "
                        "of other hosts' entries are set up at start)");
  }
  for (const DeclaredRegistry& r : old.registries)
    if (r.scope == RegistryScope::cluster && next.declared(r.name) == nullptr)
      reasons.push_back("registry '" + r.name + "': a scope = \"cluster\" registry stays declared until a restart");
  return reasons;
}

}  // namespace

const char* to_string(ConfigState s) noexcept {
  switch (s) {
    case ConfigState::running: return "running";
    case ConfigState::reloading: return "reloading";
    case ConfigState::reload_error: return "reload_error";
  }
  return "running";
}

ConfigLifecycle::ConfigLifecycle(BrokerConfig& config, shm::SegmentWriter& writer, int dir_fd, const BrokerLog& log)
    : config_(config), writer_(writer), dir_fd_(dir_fd), log_(log), had_file_(!config.settings.path.empty()) {}

// The same path as a reload, with the settings main() loaded: one way to
// apply a configuration, so that a start and a reload cannot disagree.
// The file's policy and quotas are in force from the start whatever the
// segment says: refusing to start would let any user who can take a declared
// key, create a declared name first or fill a declared registry keep the
// namespace's broker down. What the segment contradicts is left undone,
// reported as reload_error, and a reload retries it once it is fixed.
ReloadOutcome ConfigLifecycle::apply_at_start() {
  ReloadOutcome out;
  out.reasons = validate_settings(config_.settings, writer_, segment_file());
  auto failed = apply_settings(config_.settings, writer_, segment_file(), log_, ApplyMode::best_effort);
  if (out.reasons.empty()) out.reasons = std::move(failed);
  out.ok = out.reasons.empty();
  generation_ = 1;
  loaded_unix_s_ = now_unix_s();
  if (!out.ok) {
    state_ = ConfigState::reload_error;
    last_ = LastReload{now_unix_s(), out};
  }
  return out;
}

std::expected<Settings, std::vector<std::string>> ConfigLifecycle::read_settings() const {
  const std::string& path = config_.config_path;
  Settings next;
  struct stat st{};
  const bool missing = !path.empty() && ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
  if (missing && had_file_)
    return std::unexpected(std::vector<std::string>{"the configuration file " + path +
                                                    " is gone; the one read before stays in force"});
  if (!path.empty() && !(missing && config_.config_optional)) {
    auto loaded = load_settings(path);
    if (!loaded) {
      std::vector<std::string> reasons;
      for (const ConfigProblem& p : loaded.error()) reasons.push_back(p.text());
      return std::unexpected(std::move(reasons));
    }
    next = std::move(*loaded);
  }
  config_.apply_flags(next);
  return next;
}

ReloadOutcome ConfigLifecycle::validate_and_apply(Settings next) {
  ReloadOutcome out;
  out.notes = restart_notes(next, config_.settings);
  out.reasons = scope_reasons(next, config_.settings);
  if (!out.reasons.empty()) return out;
  out.reasons = validate_settings(next, writer_, segment_file());
  if (!out.reasons.empty()) return out;
  out.reasons = apply_settings(next, writer_, segment_file(), log_);
  if (!out.reasons.empty()) return out;
  // Restart-only values stay as the running broker uses them, so that the
  // settings in force describe the broker, and a later reload notes them again.
  next.broker.segment_size = config_.settings.broker.segment_size;
  next.broker.owner_capacity = config_.settings.broker.owner_capacity;
  next.broker.grace = config_.settings.broker.grace;
  next.broker.huge_pages = config_.settings.broker.huge_pages;
  next.cluster = config_.settings.cluster;
  config_.settings = std::move(next);
  out.ok = true;
  return out;
}

ReloadOutcome ConfigLifecycle::reload() {
  if (!allowed_) {
    ReloadOutcome out;
    out.forbidden = true;
    out.reasons.push_back("reloads are forbidden (`shmreg reload --allow` allows them again)");
    return out;
  }
  state_ = ConfigState::reloading;
  auto next = read_settings();
  ReloadOutcome out = next ? validate_and_apply(std::move(*next)) : ReloadOutcome{false, false, std::move(next.error()), {}};
  if (out.ok) {
    ++generation_;
    loaded_unix_s_ = now_unix_s();
    had_file_ = had_file_ || !config_.settings.path.empty();
    state_ = ConfigState::running;
  } else {
    state_ = ConfigState::reload_error;
  }
  last_ = LastReload{now_unix_s(), out};
  return out;
}

std::string reload_failure_message(const ReloadOutcome& outcome) {
  if (outcome.reasons.empty()) return "reload failed";
  std::string msg = "reload failed: " + outcome.reasons.front();
  if (outcome.reasons.size() > 1) msg += " (and " + std::to_string(outcome.reasons.size() - 1) + " more)";
  return msg;
}

void log_reload(const BrokerLog& log, const ConfigLifecycle& lifecycle, const ReloadOutcome& outcome,
                const std::string& trigger) {
  if (outcome.forbidden) {
    log("reload (" + trigger + ") refused: " + outcome.reasons.front());
    return;
  }
  if (outcome.ok)
    log("reload (" + trigger + ") ok: configuration generation " + std::to_string(lifecycle.generation()));
  else
    log("reload (" + trigger + ") failed; the configuration in force stays (generation " +
        std::to_string(lifecycle.generation()) + ")");
  for (const std::string& r : outcome.reasons) log("  reason: " + r);
  for (const std::string& n : outcome.notes) log("  note: " + n);
}

}  // namespace shmreg::broker
