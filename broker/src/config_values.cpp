#include "config_values.hpp"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <charconv>
#include <string>
#include <vector>

namespace shmreg::broker {

namespace {

// Leading decimal digits of text, and where they end; nullopt on none or overflow.
std::optional<std::pair<std::uint64_t, std::size_t>> leading_number(std::string_view text) noexcept {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return std::pair{n, static_cast<std::size_t>(end - text.data())};
}

std::optional<std::uint32_t> whole_id(std::string_view text) noexcept {
  const auto n = leading_number(text);
  if (!n || n->second != text.size() || n->first >= 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(n->first);
}

// The database calls want a buffer that grows on ERANGE.
template <class Entry, class Lookup>
bool find_entry(Lookup lookup, Entry& entry) {
  std::vector<char> buffer(1024);
  for (;;) {
    Entry* found = nullptr;
    const int rc = lookup(&entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (std::size_t{1} << 20)) {
      buffer.resize(buffer.size() * 4);
      continue;
    }
    return rc == 0 && found != nullptr;
  }
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  const auto n = leading_number(text);
  if (!n) return std::nullopt;
  const std::string_view suffix = text.substr(n->second);
  unsigned shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) return std::nullopt;
  if (n->first > (~std::uint64_t{0} >> shift)) return std::nullopt;
  return n->first << shift;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  const auto n = leading_number(text);
  if (!n) return std::nullopt;
  const std::string_view unit = text.substr(n->second);
  std::uint64_t factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "m") factor = 60'000;
  else return std::nullopt;
  if (n->first > (std::uint64_t{1} << 40) / factor) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(n->first * factor));
}

std::optional<uid_t> resolve_user(std::string_view name_or_uid) {
  if (name_or_uid.empty()) return std::nullopt;
  if (const auto id = whole_id(name_or_uid)) return static_cast<uid_t>(*id);
  const std::string name(name_or_uid);
  passwd entry{};
  const bool found = find_entry<passwd>(
      [&](passwd* e, char* buf, std::size_t len, passwd** out) { return getpwnam_r(name.c_str(), e, buf, len, out); },
      entry);
  if (!found) return std::nullopt;
  return entry.pw_uid;
}

std::optional<gid_t> resolve_group(std::string_view name_or_gid, bool must_exist) {
  if (name_or_gid.empty()) return std::nullopt;
  group entry{};
  if (const auto id = whole_id(name_or_gid)) {
    if (!must_exist) return static_cast<gid_t>(*id);
    const bool found = find_entry<group>(
        [&](group* e, char* buf, std::size_t len, group** out) { return getgrgid_r(*id, e, buf, len, out); }, entry);
    if (!found) return std::nullopt;
    return entry.gr_gid;
  }
  const std::string name(name_or_gid);
  const bool found = find_entry<group>(
      [&](group* e, char* buf, std::size_t len, group** out) { return getgrnam_r(name.c_str(), e, buf, len, out); },
      entry);
  if (!found) return std::nullopt;
  return entry.gr_gid;
}

}  // namespace shmreg::broker
