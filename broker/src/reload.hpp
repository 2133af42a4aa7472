// The configuration lifecycle, after Tarantool Cartridge's roles: new
// Settings are validated against the ones in force and against the live
// segment BEFORE anything is applied; then applied all at once, or not at all.
//
// States: running -> reloading -> running (success: every part applied, the
// generation + 1) or reload_error (nothing applied, the old Settings stay in
// force, every reason kept; a later reload may retry). Reloads may be
// forbidden and allowed again at run time (Cartridge's forbid_reload).
//
// What "apply" does to the segment (the same at start and at each reload):
// every declared registry missing from the segment is created (owned by the
// namespace, with its meta); every declared static entry is set; a declared
// static the file no longer lists is unset; runtime statics stay. The segment
// file's group and mode follow [broker] segment_group. Then the new Settings
// replace BrokerConfig::settings, which every handler and session reads.
//
// Restart-only settings (segment_size, owner_capacity, grace, huge_pages)
// that differ from the segment's are notes, not reasons: they wait for a
// restart.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "log.hpp"
#include "settings_apply.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

enum class ConfigState { running, reloading, reload_error };
[[nodiscard]] const char* to_string(ConfigState s) noexcept;

// What one validate-and-apply came to.
struct ReloadOutcome {
  bool ok = false;
  bool forbidden = false;            // refused: reloads are forbidden (nothing read)
  std::vector<std::string> reasons;  // why it was refused (nothing applied), or where apply stopped
  std::vector<std::string> notes;    // settings that wait for a restart
};

// The last reload, for status.
struct LastReload {
  std::int64_t unix_s = 0;
  ReloadOutcome outcome;
};

class ConfigLifecycle {
 public:
  // REQUIRES: config, writer and log outlive this object; dir_fd is the
  // runtime directory holding the segment file, open while this lives.
  ConfigLifecycle(BrokerConfig& config, shm::SegmentWriter& writer, int dir_fd, const BrokerLog& log);

  // At startup, after the segment is attached or created: validates and
  // applies config.settings (already loaded) exactly as a reload does.
  // Fails with every reason: the broker must not start.
  [[nodiscard]] ReloadOutcome apply_at_start();

  // Reads the configuration file again, re-applies the command-line flags,
  // validates and applies. Refused with a reason when reloads are forbidden.
  [[nodiscard]] ReloadOutcome reload();

  void forbid() noexcept { allowed_ = false; }
  void allow() noexcept { allowed_ = true; }
  [[nodiscard]] bool reload_allowed() const noexcept { return allowed_; }

  [[nodiscard]] ConfigState state() const noexcept { return state_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] std::int64_t loaded_unix_s() const noexcept { return loaded_unix_s_; }
  [[nodiscard]] const std::optional<LastReload>& last_reload() const noexcept { return last_; }
  [[nodiscard]] const BrokerConfig& config() const noexcept { return config_; }
  [[nodiscard]] std::chrono::steady_clock::time_point started_at() const noexcept { return started_; }

 private:
  // Reads and resolves the file; reasons when it cannot be had.
  [[nodiscard]] std::expected<Settings, std::vector<std::string>> read_settings() const;
  // Validates next against the live segment and the settings in force, then
  // applies it; nothing is applied when a reason is found.
  [[nodiscard]] ReloadOutcome validate_and_apply(Settings next);
  [[nodiscard]] SegmentFile segment_file() const { return SegmentFile{dir_fd_, config_.paths.segment_name}; }

  BrokerConfig& config_;
  shm::SegmentWriter& writer_;
  int dir_fd_;
  const BrokerLog& log_;
  ConfigState state_ = ConfigState::running;
  bool allowed_ = true;
  // Whether the broker started with a file: one that disappears afterwards
  // is a reason, not a return to the defaults.
  bool had_file_ = false;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::uint64_t generation_ = 0;
  std::int64_t loaded_unix_s_ = 0;
  std::optional<LastReload> last_;
};

// "reload failed: " + the first reason (+ " (and N more)"): the message of a
// failed Reload reply.
[[nodiscard]] std::string reload_failure_message(const ReloadOutcome& outcome);

// Logs a reload's outcome with every reason and note; trigger says who asked
// ("SIGHUP", "requested by uid 0").
void log_reload(const BrokerLog& log, const ConfigLifecycle& lifecycle, const ReloadOutcome& outcome,
                const std::string& trigger);

}  // namespace shmreg::broker
