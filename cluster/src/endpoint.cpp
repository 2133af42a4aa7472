#include "endpoint.hpp"

#include <charconv>

namespace shmreg::cluster::detail {

namespace {

std::unexpected<Error> bad_url(std::string_view url, std::string_view rule) {
  return fail(Errc::invalid_argument, "etcd endpoint '" + std::string(url) + "': " + std::string(rule));
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view url) {
  Endpoint ep;
  ep.url = std::string(url);
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    ep.tls = true;
  } else {
    return bad_url(url, "must start with http:// or https://");
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return bad_url(url, "must have no path");
  std::string_view port_text;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad_url(url, "unclosed '[' in the IPv6 address");
    ep.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !rest.starts_with(":")) return bad_url(url, "expected ':port' after ']'");
    if (!rest.empty()) port_text = rest.substr(1);
  } else {
    const auto colon = rest.rfind(':');
    ep.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (ep.host.empty()) return bad_url(url, "has no host");
  if (ep.host.find_first_of("@?# ") != std::string::npos) return bad_url(url, "host has a character a host cannot have");
  ep.port = 2379;
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return bad_url(url, "port must be a number from 1 to 65535");
    }
    ep.port = static_cast<std::uint16_t>(port);
  }
  const bool v6 = ep.host.find(':') != std::string::npos;
  ep.host_header = (v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port);
  return ep;
}

}  // namespace shmreg::cluster::detail
