// pidfds: the kernel's handle on a process, which a recycled pid cannot fool.
//
// The one place shmreg calls pidfd_open(2) and asks whether the process
// behind a pidfd has exited. pidfd_open needs Linux 5.3; every caller must
// handle its failure (errno ENOSYS on older kernels, ESRCH for no such
// process, EMFILE when out of descriptors).
//
// Thread-safety: free functions over caller-owned descriptors.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::sys {

// pidfd_open(2) for pid; empty with errno set on failure. pidfds are always
// close-on-exec.
[[nodiscard]] UniqueFd open_pidfd(pid_t pid) noexcept;

// True when the process behind pidfd has exited (the pidfd polls readable),
// or when pidfd is not a pollable descriptor at all: a caller deciding
// whether to keep an owner's entries must not take an error for "alive".
[[nodiscard]] bool pidfd_exited(int pidfd) noexcept;

// True when fd lives on pidfs (Linux 6.9+), whose inode numbers identify a
// process for the whole boot.
[[nodiscard]] bool on_pidfs(int fd) noexcept;

// True when fd is a pidfd: on pidfs, or, before pidfs, the anonymous inode
// "[pidfd]".
[[nodiscard]] bool is_pidfd(int fd) noexcept;

// The kernel's "Pid:" line of /proc/self/fdinfo/<fd>, as it stands: the pid
// in this pid namespace, 0 when the process is not visible in it, -1 once it
// has exited; nullopt when there is no such line (fd is not a pidfd).
[[nodiscard]] std::optional<long> pidfd_pid_field(int pidfd) noexcept;

// The pid of the process behind a pidfd; 0 if fd is not a pidfd, its process
// has exited or is not visible in this pid namespace.
[[nodiscard]] std::uint32_t pid_of_pidfd(int pidfd) noexcept;

}  // namespace shmreg::sys
