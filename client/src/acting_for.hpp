// The process a write acts for (ProcessRef): the caller itself, or another
// process named by a pidfd. A pidfd the caller passed stays the caller's; one
// opened here for a pid is closed when the ActingFor goes. The broker trusts
// the pidfd that travels with the request, never a pid the client claims.
//
// Thread-safety: one per call, on the calling thread.
#pragma once

#include <cstdint>
#include <span>

#include "shmreg/client.hpp"
#include "shmreg/error.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::client_detail {

class ActingFor {
 public:
  // invalid_argument when the pid names no process, or the pidfd is not one
  // of a live process.
  [[nodiscard]] static Result<ActingFor> resolve(const ProcessRef& ref);

  [[nodiscard]] std::uint32_t pid() const noexcept { return pid_; }
  // The op's target field: 1 names the first pidfd of the frame, 0 the caller.
  [[nodiscard]] std::uint8_t target() const noexcept { return fd_ >= 0 ? 1 : 0; }
  // What goes with the frame as SCM_RIGHTS.
  [[nodiscard]] std::span<const int> pidfds() const noexcept {
    return fd_ >= 0 ? std::span<const int>(&fd_, 1) : std::span<const int>();
  }

 private:
  int fd_ = -1;           // borrowed, or owned_'s
  sys::UniqueFd owned_;   // the pidfd opened here for a pid
  std::uint32_t pid_ = 0;
};

}  // namespace shmreg::client_detail
