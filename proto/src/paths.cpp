// Namespace, socket and runtime directory resolution (see paths.hpp).
#include "shmreg/proto/paths.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace shmreg::proto {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string system_path(std::string_view ns) { return std::string(kSystemSocketDir) + "/" + std::string(ns) + ".sock"; }

NamespacePaths beside_socket(std::string socket, std::string_view ns) {
  NamespacePaths p;
  const auto slash = socket.rfind('/');
  p.dir = slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : socket.substr(0, slash);
  p.socket_name = slash == std::string::npos ? socket : socket.substr(slash + 1);
  p.socket = std::move(socket);
  p.segment_name = std::string(ns) + ".segment";
  p.lock_name = std::string(ns) + ".lock";
  return p;
}

std::expected<std::string, std::string> broker_socket_path(std::string_view flag, std::string_view ns) {
  if (!flag.empty()) return std::string(flag);
  if (std::string e = env("SHMREG_SOCKET"); !e.empty()) return e;
  if (::geteuid() == 0) return system_path(ns);
  std::string xdg = env("XDG_RUNTIME_DIR");
  if (xdg.empty())
    return std::unexpected(std::string("not root and XDG_RUNTIME_DIR is unset; pass --socket or set SHMREG_SOCKET"));
  return xdg + "/shmreg/" + std::string(ns) + ".sock";
}

std::string client_socket_path(std::string_view flag, std::string_view ns) {
  if (!flag.empty()) return std::string(flag);
  if (std::string e = env("SHMREG_SOCKET"); !e.empty()) return e;
  if (std::string xdg = env("XDG_RUNTIME_DIR"); !xdg.empty()) {
    std::string user = xdg + "/shmreg/" + std::string(ns) + ".sock";
    struct stat st{};
    if (::stat(user.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return user;
  }
  return system_path(ns);
}

}  // namespace

std::string resolve_namespace(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  std::string e = env("SHMREG_NAMESPACE");
  return e.empty() ? std::string("default") : e;
}

std::expected<NamespacePaths, std::string> broker_paths(std::string_view socket_flag, std::string_view ns) {
  auto socket = broker_socket_path(socket_flag, ns);
  if (!socket) return std::unexpected(std::move(socket.error()));
  return beside_socket(std::move(*socket), ns);
}

NamespacePaths client_paths(std::string_view socket_flag, std::string_view ns) {
  return beside_socket(client_socket_path(socket_flag, ns), ns);
}

}  // namespace shmreg::proto
