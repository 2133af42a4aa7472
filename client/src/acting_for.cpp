// Resolving the process a write acts for (see acting_for.hpp).
#include "acting_for.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "shmreg/sys/pidfd.hpp"

namespace shmreg::client_detail {

Result<ActingFor> ActingFor::resolve(const ProcessRef& ref) {
  ActingFor a;
  if (ref.is_self()) {
    a.pid_ = static_cast<std::uint32_t>(::getpid());
    return a;
  }
  if (ref.pidfd_value() >= 0) {
    a.fd_ = ref.pidfd_value();
  } else {
    a.owned_ = sys::open_pidfd(static_cast<pid_t>(ref.pid_value()));
    if (!a.owned_)
      return std::unexpected(Error{Errc::invalid_argument,
                                   errno == ESRCH ? "no process with pid " + std::to_string(ref.pid_value())
                                                  : std::string("pidfd_open: ") + std::strerror(errno)});
    a.fd_ = a.owned_.get();
  }
  a.pid_ = sys::pid_of_pidfd(a.fd_);
  if (a.pid_ == 0)
    return std::unexpected(Error{Errc::invalid_argument, "the descriptor is not a pidfd of a live process"});
  return a;
}

}  // namespace shmreg::client_detail
