// Where a namespace's broker socket lives, shared by the broker, libshmreg
// and the CLI so that they always agree.
//
//   namespace: --namespace, else $SHMREG_NAMESPACE, else "default"
//   socket:    --socket, else $SHMREG_SOCKET, else
//              broker run as root:      /run/shmreg/<ns>.sock
//              broker run unprivileged: $XDG_RUNTIME_DIR/shmreg/<ns>.sock
//              a client takes the user socket when it exists, else the system one
//
// Thread-safety: reads the environment; do not call while another thread
// changes it.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace shmreg::proto {

inline constexpr std::string_view kSystemSocketDir = "/run/shmreg";

std::string resolve_namespace(std::string_view flag);

// The path a broker should listen on. Fails (with the reason) when no path can
// be chosen: unprivileged and $XDG_RUNTIME_DIR unset.
std::expected<std::string, std::string> broker_socket_path(std::string_view flag, std::string_view ns);

// The path a client should connect to.
std::string client_socket_path(std::string_view flag, std::string_view ns);

}  // namespace shmreg::proto
