// Where a namespace's files live, shared by the broker, libshmreg and the CLI
// so that they always agree.
//
//   namespace: --namespace, else $SHMREG_NAMESPACE, else "default"
//   socket:    --socket, else $SHMREG_SOCKET, else
//              broker run as root:      /run/shmreg/<ns>.sock
//              broker run unprivileged: $XDG_RUNTIME_DIR/shmreg/<ns>.sock
//              a client takes the user socket when it exists, else the system one
//   runtime directory D: the directory of the socket. Beside the socket, D
//              holds <ns>.segment (the segment, a file mapped shared) and
//              <ns>.lock (the namespace lock). Only the broker's uid (or root)
//              may create entries in D; the broker checks that at startup.
//
// Thread-safety: reads the environment; do not call while another thread
// changes it.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace shmreg::proto {

inline constexpr std::string_view kSystemSocketDir = "/run/shmreg";

struct NamespacePaths {
  std::string dir;           // D, the runtime directory ("." for a bare socket name)
  std::string socket;        // the socket's full path, as resolved
  std::string socket_name;   // its last component, in dir
  std::string segment_name;  // "<ns>.segment", in dir
  std::string lock_name;     // "<ns>.lock", in dir

  std::string segment() const { return dir + "/" + segment_name; }
  std::string lock() const { return dir + "/" + lock_name; }
};

std::string resolve_namespace(std::string_view flag);

// The paths a broker serves ns on. Fails (with the reason) when no socket path
// can be chosen: unprivileged and $XDG_RUNTIME_DIR unset.
std::expected<NamespacePaths, std::string> broker_paths(std::string_view socket_flag, std::string_view ns);

// The paths a client uses for ns.
NamespacePaths client_paths(std::string_view socket_flag, std::string_view ns);

}  // namespace shmreg::proto
