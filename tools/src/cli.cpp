// What every `shmreg` command shares (see cli.hpp).
#include "cli.hpp"

#include "json_bytes.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>

namespace shmreg::tools::cli {

using nlohmann::json;

int exit_code_of(Errc code) noexcept {
  switch (code) {
    case Errc::already_registered: return kExitAlreadyRegistered;
    case Errc::not_found: return kExitNotFound;
    case Errc::version_conflict: return kExitVersionConflict;
    case Errc::timeout: return kExitTimeout;
    case Errc::untrusted: return kExitUntrusted;
    // The contract gives every other outcome the one code of "any other
    // error"; the message on stderr names it. Listed one by one, without a
    // default, so that a new code is a compile error until it is placed.
    case Errc::segment_not_found:
    case Errc::permission_denied:
    case Errc::incompatible_segment:
    case Errc::corrupt_segment:
    case Errc::registry_not_found:
    case Errc::invalid_argument:
    case Errc::busy:
    case Errc::io_error:
    case Errc::quota_exceeded:
    case Errc::reload_failed:
    case Errc::reload_forbidden:
    case Errc::broker_unavailable:
    case Errc::registry_exists:
    case Errc::key_too_long:
    case Errc::value_too_long:
    case Errc::registry_full:
    case Errc::owner_table_full:
    case Errc::protocol_error:
    case Errc::reply_too_large:
    case Errc::no_mailbox:
    case Errc::mailbox_full:
    case Errc::message_too_large:
    case Errc::mailbox_exists:
    case Errc::segment_full:
    case Errc::too_many_registries:
    case Errc::meta_too_large:
    case Errc::stale_owner:
    case Errc::out_of_memory:
    case Errc::segment_replaced:
    case Errc::cluster_unavailable:
    case Errc::internal_error: return kExitError;
  }
  return kExitError;  // a value outside the enum
}

std::string pattern_json(const std::string& pattern) { return pattern == "_" ? std::string("\"_\"") : pattern; }

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double seconds = number;
  if (unit == "ms")
    seconds = number / 1000;
  else if (unit == "m")
    seconds = number * 60;
  else if (!unit.empty() && unit != "s")
    return std::nullopt;
  // Up to a year, so that the conversion below stays defined.
  if (!(seconds > 0) || seconds > 365.0 * 24 * 3600) return std::nullopt;
  return std::chrono::nanoseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(seconds * 1e9)));
}

std::chrono::nanoseconds wait_duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return std::chrono::hours(24 * 365 * 100);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

std::expected<void, int> resolve_timeout(Globals& g, const std::string& flag_text) {
  const char* env = std::getenv("SHMREG_TIMEOUT");
  const bool from_flag = !flag_text.empty();
  if (!from_flag && (env == nullptr || *env == '\0')) return {};
  const std::string text = from_flag ? flag_text : std::string(env);
  auto d = parse_duration(text);
  if (!d)
    return std::unexpected(usage_error(std::string(from_flag ? "--timeout" : "$SHMREG_TIMEOUT") + " '" + text +
                                       "' is not a duration: use a positive number with ms, s or m (500ms, 2s, "
                                       "1m), or seconds without a unit"));
  g.timeout = *d;
  return {};
}

int report_error(const Globals& g, const Error& e) {
  if (e.code == Errc::already_registered) {
    if (g.json)
      std::cerr << to_json_text({{"error", "already_registered"}, {"pid", e.pid}, {"message", e.message}}) << "\n";
    else
      std::cerr << "already registered by PID " << e.pid << "\n";
  } else if (g.json) {
    std::cerr << to_json_text({{"error", std::string(to_string(e.code))}, {"message", e.message}}) << "\n";
  } else {
    std::cerr << "shmreg: " << e.message << "\n";
  }
  return exit_code_of(e.code);
}

int usage_error(const std::string& message) {
  std::cerr << "shmreg: " << message << "\n";
  return kExitError;
}

std::string to_json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::expected<std::string, int> value_argument(const std::string& text, bool base64) {
  if (!base64) return text;
  auto bytes = base64_decode(text);
  if (!bytes)
    return std::unexpected(usage_error("VALUE '" + escaped(text) +
                                       "' is not base64 (--base64: A-Z a-z 0-9 + /, padded with = to a multiple of 4)"));
  return std::move(*bytes);
}

void add_base64_flag(CLI::App* cmd, bool& flag) {
  cmd->add_flag("--base64", flag,
                "VALUE is base64 (any bytes, NUL included; the form of \"value_base64\" in --json output)");
}

std::string escaped(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string owner_text(std::uint32_t pid) { return pid == 0 ? std::string("static") : std::to_string(pid); }

std::string owner_text(const Entry& e) { return e.host.empty() ? owner_text(e.pid) : e.host + ":" + std::to_string(e.pid); }

json entry_json(const Entry& e, bool with_key) {
  json j = {{"pid", e.pid}, {"version", e.version}};
  put_bytes(j, "value", e.value);
  if (e.pid == 0 && e.host.empty()) j["static"] = true;
  if (!e.host.empty()) j["host"] = e.host;
  if (with_key) put_bytes(j, "key", e.key);
  return j;
}

std::expected<Client, int> open_client(const Globals& g) {
  auto c = Client::open({g.ns, g.socket, g.timeout});
  if (!c) return std::unexpected(report_error(g, c.error()));
  return std::move(*c);
}

std::expected<Registry, int> open_registry(const Globals& g, const std::string& name) {
  auto c = open_client(g);
  if (!c) return std::unexpected(c.error());
  auto r = c->registry(name);
  if (!r) return std::unexpected(report_error(g, r.error()));
  return std::move(*r);
}

CLI::App* CommandTable::add(const std::string& name, const std::string& help, Run run, TrailingCommand trailing) {
  CLI::App* sub = app_.add_subcommand(name, help);
  commands_.push_back({sub, std::move(run), trailing});
  return sub;
}

bool CommandTable::parsed() const {
  return std::ranges::any_of(commands_, [](const Command& c) { return c.subcommand->parsed(); });
}

int CommandTable::run_parsed() const {
  for (const Command& c : commands_) {
    if (!c.subcommand->parsed()) continue;
    if (!g_.exec_cmd.empty() && c.trailing == TrailingCommand::refused)
      return usage_error("'-- CMD' is only valid with register");
    return c.run(g_);
  }
  return kExitError;
}

}  // namespace shmreg::tools::cli
