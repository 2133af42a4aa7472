#include "bursts.hpp"

#include <signal.h>

#include <algorithm>

namespace shmreg::chaos {

unsigned Bursts::burst_size() {
  const unsigned roll = draw(1, 100);
  if (roll <= 70) return draw(1, 6);
  if (roll <= 95) return draw(6, 30);
  return draw(std::min(100u, shape_.big_burst), shape_.big_burst);
}

void Bursts::start_owners(unsigned n) {
  const std::size_t alive = owners_.alive().size();
  n = alive >= shape_.max_alive ? 0 : std::min<unsigned>(n, shape_.max_alive - static_cast<unsigned>(alive));
  for (unsigned i = 0; i < n; ++i) {
    const OwnerKind kind = !chance(25) ? OwnerKind::library : chance(50) ? OwnerKind::cli_exec : OwnerKind::cli_hold;
    const bool churn = kind == OwnerKind::library && owners_.churners() < shape_.churners && chance(50);
    owners_.start(kind, draw(1, 3), churn, chance(30), rng_);
  }
}

void Bursts::signal_owners(int sig, bool many) {
  std::vector<std::uint64_t> alive = owners_.alive();
  if (alive.empty()) return;
  std::shuffle(alive.begin(), alive.end(), rng_);
  const std::size_t n = many || chance(10) ? std::max<std::size_t>(1, alive.size() * draw(30, 70) / 100)
                                   : std::min<std::size_t>(alive.size(), draw(1, 8));
  alive.resize(n);
  owners_.kill(alive, sig);
}

std::expected<void, std::string> Bursts::kill_broker(bool in_flight) {
  if (in_flight) {
    start_owners(burst_size());
    owners_.pump_for(millis(0, 30));
    ++totals_.broker_kills_in_flight;
  } else if (chance(30)) {
    // Many owners die just before the broker: it is reaping them when it is killed.
    signal_owners(SIGKILL, true);
  }
  broker_.kill(chance(20));
  owners_.pump_for(millis(0, 100));
  // Owners may die while no broker watches them: the next one must reap them.
  if (chance(30)) signal_owners(SIGKILL);
  if (chance(25)) broker_.kill_while_starting(millis(0, 40));
  return broker_.start();
}

std::expected<void, std::string> Bursts::run() {
  const unsigned actions = draw(1, 6);
  for (unsigned i = 0; i < actions; ++i) {
    const unsigned roll = draw(1, 118);
    std::expected<void, std::string> ok;
    if (roll <= 30) {
      start_owners(burst_size());
    } else if (roll <= 60) {
      signal_owners(SIGKILL);
    } else if (roll <= 66) {
      signal_owners(SIGTERM);
    } else if (roll <= 86) {
      ok = kill_broker(false);
    } else if (roll <= 98) {
      ok = kill_broker(true);
    } else if (roll <= 106) {
      // Now and then longer than the owners' call timeout (agent.hpp).
      broker_.stop_for(owners_, chance(15) ? millis(1000, 2500) : millis(10, 300));
    } else {
      owners_.pump_for(millis(0, 100));
    }
    if (!ok) return ok;
    owners_.pump();
  }
  if (!broker_.up()) return broker_.start();
  return {};
}

}  // namespace shmreg::chaos
