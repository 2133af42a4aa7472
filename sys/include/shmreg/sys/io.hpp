// The read and write loops: whole buffers through descriptors, across short
// transfers and EINTR.
//
// Each returns true once all n bytes moved, false on end of file or an error
// (errno tells which; 0 at end of file). Writes to a socket whose peer has
// gone fail with EPIPE and never raise SIGPIPE; a write to a pipe whose
// reader has gone does raise it, so a process that writes to pipes it does
// not trust ignores SIGPIPE.
//
// The `_by` variants bound the whole transfer by a deadline instead: they
// never block in the kernel (MSG_DONTWAIT), wait for readiness with poll,
// resume after a signal with what is left of the time, and say which of the
// four outcomes ended them (IoOutcome), so that a caller can tell a peer that
// went away from one that stopped answering.
//
// Thread-safety: free functions over caller-owned descriptors.
#pragma once

#include <chrono>
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

using IoDeadline = std::chrono::steady_clock::time_point;

enum class IoOutcome {
  done,       // every byte moved (wait_ready: the descriptor is ready)
  closed,     // end of file before every byte came
  failed,     // an error; errno tells which
  timed_out,  // the deadline passed first
};

// Waits until fd reports one of events (poll's POLLIN, POLLOUT), a hang-up or
// an error, or the deadline passes.
[[nodiscard]] IoOutcome wait_ready(int fd, short events, IoDeadline deadline) noexcept;

// send_all on a socket, within deadline. *sent, when given, counts the bytes
// the kernel took, also on failure.
[[nodiscard]] IoOutcome send_all_by(int socket_fd,
                                    const void* data,
                                    std::size_t n,
                                    std::span<const int> fds,
                                    IoDeadline deadline,
                                    std::size_t* sent = nullptr) noexcept;

// Receives exactly n bytes from a socket, within deadline.
[[nodiscard]] IoOutcome recv_full_by(int socket_fd, void* data, std::size_t n, IoDeadline deadline) noexcept;

}  // namespace shmreg::sys
