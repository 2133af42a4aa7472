// The read and write loops: whole buffers through descriptors, across short
// transfers and EINTR.
//
// Each returns true once all n bytes moved, false on end of file or an error
// (errno tells which; 0 at end of file). Writes to a socket whose peer has
// gone fail with EPIPE and never raise SIGPIPE; a write to a pipe whose
// reader has gone does raise it, so a process that writes to pipes it does
// not trust ignores SIGPIPE.
//
// Thread-safety: free functions over caller-owned descriptors.
#pragma once

#include <cstddef>
#include <span>

namespace shmreg::sys {

// Writes n bytes to fd (a pipe, a file or a socket).
[[nodiscard]] bool write_all(int fd, const void* data, std::size_t n) noexcept;

// Sends n bytes on a socket; fds, if any, ride as SCM_RIGHTS on the first
// sendmsg, which the kernel attaches to the first byte it takes.
[[nodiscard]] bool send_all(int socket_fd, const void* data, std::size_t n, std::span<const int> fds = {}) noexcept;

// Reads exactly n bytes from fd; false if it ends or fails first.
[[nodiscard]] bool read_full(int fd, void* data, std::size_t n) noexcept;

}  // namespace shmreg::sys
