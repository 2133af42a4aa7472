// Passing pidfds to the broker, and what the client needs to know of them.
//
// A write that acts for another process sends that process's pidfd with the
// request frame (SCM_RIGHTS): the broker trusts the descriptor, never a pid
// the client claims (wire.hpp, "Acting for another process").
//
// Thread-safety: free functions over caller-owned descriptors.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace shmreg::client_detail {

// One sendmsg(2) of up to n bytes with fds as SCM_RIGHTS; its return value.
ssize_t send_with_fds(int socket_fd, const std::uint8_t* p, std::size_t n, std::span<const int> fds) noexcept;

// pidfd_open(2) with O_CLOEXEC semantics (pidfds are always close-on-exec);
// -1 with errno set on failure.
int open_pidfd(std::uint32_t pid) noexcept;

// The pid of the process behind a pidfd (the "Pid:" line of
// /proc/self/fdinfo/<fd>); 0 if fd is not a pidfd or the process has been
// reaped.
std::uint32_t pid_of_pidfd(int pidfd) noexcept;

}  // namespace shmreg::client_detail
