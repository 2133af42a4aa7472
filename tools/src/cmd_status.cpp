// The config family's `status`: the broker's state and each uid's use
// against its quotas, as text for people or, with --json, the broker's own
// JSON object unchanged (docs/config.md, "shmreg status").
//   status    state, uptime, configuration file and generation, last reload,
//             whether reloads are allowed, connections, owners, entries,
//             registries, arena use, the segment's size and huge pages;
//             then one line per uid:
//             UID USER ENTRIES VALUE-BYTES REGISTRIES REGISTRY-BYTES CONNECTIONS,
//             each "use/limit" ("-" for no limit). Root sees every uid,
//             any other caller its own.
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"

namespace shmreg::tools {

namespace {

using namespace cli;

std::string utc_time(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_s);
  char buf[32];
  return std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) > 0 ? std::string(buf) : std::to_string(unix_s);
}

std::string duration_text(double seconds) {
  auto s = static_cast<std::uint64_t>(seconds < 0 ? 0 : seconds);
  std::ostringstream out;
  if (s >= 86400) out << s / 86400 << "d ";
  if (s >= 3600) out << (s % 86400) / 3600 << "h ";
  if (s >= 60) out << (s % 3600) / 60 << "m ";
  out << s % 60 << "s";
  return out.str();
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << (whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / whole) << "%";
  return out.str();
}

void print_field(const std::string& name, const std::string& value) {
  std::cout << std::left << std::setw(13) << name << value << "\n";
}

void print_last_reload(const std::optional<LastReload>& last) {
  if (!last) {
    print_field("last reload", "none since the start");
    return;
  }
  print_field("last reload", utc_time(last->unix_s) + ": " + (last->ok ? "ok" : "failed"));
  for (const auto& r : last->reasons) print_field("", "  " + r);
  for (const auto& n : last->notes) print_field("", "  note: " + n);
}

std::string mib(std::uint64_t bytes) {
  if (bytes % (std::uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// "67108864 bytes; huge pages: 64 MiB of 64 MiB on 2 MiB pages (huge_pages = try)"
std::string segment_text(const BrokerStatus& s) {
  std::string t = std::to_string(s.segment_size) + " bytes; huge pages: ";
  if (s.huge_pages == "off") return t + "not asked (huge_pages = off)";
  if (!s.huge_page_bytes) return t + "unknown (huge_pages = " + s.huge_pages + ")";
  if (*s.huge_page_bytes == 0) return t + "none, not on huge pages (huge_pages = " + s.huge_pages + ")";
  return t + mib(*s.huge_page_bytes) + " of " + mib(s.segment_size) + " on " + mib(s.huge_page_size.value_or(0)) +
         " pages (huge_pages = " + s.huge_pages + ")";
}

void print_summary(const BrokerStatus& s) {
  print_field("namespace", s.ns + " (broker pid " + std::to_string(s.broker_pid) + ")");
  print_field("state", s.state);
  print_field("uptime", duration_text(s.uptime_s));
  print_field("config", (s.config_path.empty() ? std::string("none (defaults)") : s.config_path) + ", generation " +
                            std::to_string(s.generation) + ", loaded " + utc_time(s.config_loaded_unix_s));
  print_last_reload(s.last_reload);
  print_field("reload", s.reload_allowed ? "allowed" : "forbidden (shmreg reload --allow)");
  print_field("connections", std::to_string(s.connections));
  print_field("owners", std::to_string(s.owners));
  print_field("entries", std::to_string(s.entries));
  print_field("registries", std::to_string(s.registries));
  print_field("arena", std::to_string(s.arena_used) + " of " + std::to_string(s.arena_size) + " bytes used (" +
                           percent(s.arena_used, s.arena_size) + ")");
  if (!s.huge_pages.empty()) print_field("segment", segment_text(s));
}

std::string use_of(std::uint64_t use, const std::optional<UidLimits>& limits, std::uint64_t UidLimits::*limit) {
  return std::to_string(use) + "/" + (limits ? std::to_string((*limits).*limit) : std::string("-"));
}

void print_uids(const std::vector<UidUsage>& uids) {
  const auto row = [](const std::string& uid, const std::string& user, const std::string& entries,
                      const std::string& value_bytes, const std::string& registries,
                      const std::string& registry_bytes, const std::string& connections) {
    std::cout << std::left << std::setw(8) << uid << std::setw(12) << user << std::setw(16) << entries
              << std::setw(22) << value_bytes << std::setw(12) << registries << std::setw(22) << registry_bytes
              << connections << "\n";
  };
  std::cout << "\n";
  row("UID", "USER", "ENTRIES", "VALUE-BYTES", "REGISTRIES", "REGISTRY-BYTES", "CONNECTIONS");
  for (const auto& u : uids)
    row(std::to_string(u.uid), u.user.empty() ? std::string("?") : u.user,
        use_of(u.entries, u.limits, &UidLimits::entries), use_of(u.value_bytes, u.limits, &UidLimits::value_bytes),
        use_of(u.registries, u.limits, &UidLimits::registries),
        use_of(u.registry_bytes, u.limits, &UidLimits::registry_bytes),
        use_of(u.connections, u.limits, &UidLimits::connections));
}

int run_status(const Globals& g) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto s = c->status();
  if (!s) return report_error(g, s.error());
  if (g.json) {
    std::cout << s->json << "\n";
    return kExitOk;
  }
  print_summary(*s);
  print_uids(s->uids);
  return kExitOk;
}

}  // namespace

void add_status_command(CommandTable& table) {
  table.add("status",
            "print the broker's state, configuration, reloads and use, and each uid's use against its limits "
            "(use/limit, '-' for none)",
            run_status);
}

}  // namespace shmreg::tools
