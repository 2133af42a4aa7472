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

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::sys {

// pidfd_open(2) for pid; empty with errno set on failure. pidfds are always
// close-on-exec.
[[nodiscard]] UniqueFd open_pidfd(pid_t pid) noexcept;

// True when the process behind pidfd has exited (the pidfd polls readable),
// or when pidfd is not a pollable descriptor at all: a caller deciding
// whether to keep an owner's entries must not take an error for "alive".
[[nodiscard]] bool pidfd_exited(int pidfd) noexcept;

// The pid of the process behind a pidfd (the "Pid:" line of
// /proc/self/fdinfo/<fd>); 0 if fd is not a pidfd or its process has been
// reaped.
[[nodiscard]] std::uint32_t pid_of_pidfd(int pidfd) noexcept;

}  // namespace shmreg::sys
