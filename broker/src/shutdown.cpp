// Stopping on a broken invariant (see shutdown.hpp).
#include "shutdown.hpp"

#include <chrono>

namespace shmreg::broker {

namespace {

// Long enough for the replies already queued to reach their sockets; a
// client that does not read loses its reply, not the restart.
constexpr std::chrono::milliseconds kDrainTime{200};

}  // namespace

void Shutdown::broken_invariant(const std::string& what) {
  log_("broken invariant: " + what);
  if (halting_) return;
  halting_ = true;
  log_("stopping with exit code " + std::to_string(kBrokenInvariantExit) +
       " so that the next start repairs the segment");
  drain_.expires_after(kDrainTime);
  drain_.async_wait([this](const boost::system::error_code&) { io_.stop(); });
}

}  // namespace shmreg::broker
