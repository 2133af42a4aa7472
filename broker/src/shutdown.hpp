// How the broker stops when it finds a broken invariant.
//
// A `corrupt` from the broker's own segment, or an owner it cannot remove,
// means the segment no longer holds what the broker wrote. Carrying on would
// build new writes on bad state, so the broker logs what it found (with the
// op, registry and key as far as known), answers the op at hand with
// segment_corrupt, refuses every later op, and stops its event loop shortly
// after, so that replies already queued still leave. run() then exits
// non-zero; systemd restarts the broker and the attach-time repair runs.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>

#include "log.hpp"

namespace shmreg::broker {

class Shutdown {
 public:
  // The exit status of a broker stopped by a broken invariant.
  static constexpr int kBrokenInvariantExit = 3;

  Shutdown(boost::asio::io_context& io, const BrokerLog& log) : io_(io), log_(log), drain_(io) {}

  // Logs what broke and stops the event loop soon; later calls only log.
  void broken_invariant(const std::string& what);

  // True once a broken invariant was found: no op may touch the segment.
  [[nodiscard]] bool halting() const noexcept { return halting_; }

  // 0, or kBrokenInvariantExit once halting.
  [[nodiscard]] int exit_code() const noexcept { return halting_ ? kBrokenInvariantExit : 0; }

 private:
  boost::asio::io_context& io_;
  const BrokerLog& log_;
  boost::asio::steady_timer drain_;  // lets queued replies leave before the loop stops
  bool halting_ = false;
};

}  // namespace shmreg::broker
