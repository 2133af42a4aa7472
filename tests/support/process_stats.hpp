// What /proc says of a live process, for tests that bound what a broker
// holds: its resident memory and its open descriptors. Unlike times, these
// do not depend on the machine's load, so a test may assert on them.
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace shmreg::test {

// Resident memory in KiB, or -1 when /proc does not say.
long resident_kib(pid_t pid);

// Descriptors the process holds (entries of /proc/<pid>/fd).
std::size_t open_fd_count(pid_t pid);

}  // namespace shmreg::test
