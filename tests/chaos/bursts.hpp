// One burst of the crash loop: a few actions drawn from the seeded PRNG,
// with the owners' reports read between them. The actions: start owners
// (mostly a few, sometimes a hundred or more at once; a quarter through the
// CLI; some given a dead owner's pid), SIGKILL or SIGTERM owners (sometimes
// most of them at once), SIGKILL the broker and start it again (sometimes
// right after starting a burst of owners, so that their registrations are in
// flight; sometimes while it is held with SIGSTOP), SIGSTOP the broker for a
// while, or just let time pass. A burst ends with the broker up.
//
// Thread-safety: the driver's thread only.
#pragma once

#include <expected>
#include <random>
#include <string>

#include "broker_control.hpp"
#include "owners.hpp"
#include "totals.hpp"

namespace shmreg::chaos {

struct LoopShape {
  unsigned max_alive = 150;   // owners alive at once, at most
  unsigned big_burst = 120;   // the most owners one action starts
  unsigned churners = 4;      // library owners that keep writing
};

class Bursts {
 public:
  Bursts(LoopShape shape, std::mt19937_64& rng, Owners& owners, BrokerControl& broker, Totals& totals)
      : shape_(shape), rng_(rng), owners_(owners), broker_(broker), totals_(totals) {}

  // Runs one burst; fails only when the broker cannot be started again (the
  // message carries its log).
  std::expected<void, std::string> run();

 private:
  unsigned draw(unsigned lo, unsigned hi) { return lo + static_cast<unsigned>(rng_() % (hi - lo + 1)); }
  bool chance(unsigned percent) { return rng_() % 100 < percent; }
  std::chrono::milliseconds millis(unsigned lo, unsigned hi) { return std::chrono::milliseconds(draw(lo, hi)); }
  unsigned burst_size();
  void start_owners(unsigned n);
  // A few owners, or with many (and now and then anyway) 30-70% of them.
  void signal_owners(int sig, bool many = false);
  std::expected<void, std::string> kill_broker(bool in_flight);

  LoopShape shape_;
  std::mt19937_64& rng_;
  Owners& owners_;
  BrokerControl& broker_;
  Totals& totals_;
};

}  // namespace shmreg::chaos
