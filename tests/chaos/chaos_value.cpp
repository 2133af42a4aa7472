#include "chaos_value.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace shmreg::chaos {
namespace {

std::uint64_t fnv1a(std::string_view a, std::string_view b) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
  };
  mix(a);
  mix("\n");
  mix(b);
  return h;
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && !s.empty();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  for (std::size_t at; (at = s.find(sep, from)) != std::string_view::npos; from = at + 1)
    out.push_back(s.substr(from, at - from));
  out.push_back(s.substr(from));
  return out;
}

}  // namespace

std::string make_value(std::string_view key, std::uint64_t serial, std::uint32_t pid, std::uint64_t n) {
  const std::string padding(static_cast<std::size_t>((n * 7) % 41), static_cast<char>('a' + n % 26));
  const std::string body =
      std::to_string(serial) + ":" + std::to_string(pid) + ":" + std::to_string(n) + ":" + padding;
  return body + ":" + hex16(fnv1a(key, body));
}

std::expected<ValueFields, std::string> check_value(std::string_view key, std::uint32_t pid,
                                                    std::string_view value) {
  const auto fail = [&](const std::string& why) {
    return std::unexpected(why + " (key '" + std::string(key) + "', pid " + std::to_string(pid) + ", value '" +
                           std::string(value) + "')");
  };
  const auto last = value.rfind(':');
  if (last == std::string_view::npos) return fail("no checksum");
  const std::string_view body = value.substr(0, last);
  if (value.substr(last + 1) != hex16(fnv1a(key, body))) return fail("checksum mismatch");
  const auto fields = split(body, ':');
  ValueFields f;
  if (fields.size() != 4 || !parse_number(fields[0], f.serial) || !parse_number(fields[1], f.pid) ||
      !parse_number(fields[2], f.n))
    return fail("malformed fields");
  if (f.pid != pid) return fail("the value names pid " + std::to_string(f.pid));
  return f;
}

std::optional<std::uint64_t> serial_of_key(std::string_view key) {
  const auto dash = key.find('-');
  std::uint64_t serial = 0;
  if (!key.starts_with('s') || dash == std::string_view::npos || !parse_number(key.substr(1, dash - 1), serial))
    return std::nullopt;
  return serial;
}

std::string key_of(std::uint64_t serial, unsigned i) {
  return "s" + std::to_string(serial) + "-" + std::to_string(i);
}

}  // namespace shmreg::chaos
