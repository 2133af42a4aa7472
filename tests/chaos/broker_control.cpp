#include "broker_control.hpp"

#include <signal.h>

#include <cctype>
#include <string_view>
#include <vector>

#include "stopped_broker.hpp"

namespace shmreg::chaos {

std::expected<void, std::string> BrokerControl::start() {
  auto r = broker_.start(args_);
  up_ = r.has_value();
  if (up_) model_.broker_available(Clock::now());
  return r;
}

void BrokerControl::kill(bool stopped_first) {
  if (!up_) return;
  if (stopped_first) (void)::kill(broker_.pid(), SIGSTOP);
  broker_.kill_hard();
  up_ = false;
  ++totals_.kills;
  ++totals_.broker_kills;
}

void BrokerControl::kill_while_starting(Clock::duration after) {
  if (up_) return;
  test::Subprocess starting = test::Subprocess::spawn(broker_.argv(args_), {.stdout_path = log_path_, .stderr_path = log_path_});
  (void)starting.wait(std::chrono::duration_cast<std::chrono::milliseconds>(after));
  if (!starting.running()) return;  // it ended by itself: the next start says why, if it must
  (void)starting.kill_and_wait();
  ++totals_.kills;
  ++totals_.broker_kills;
  ++totals_.broker_kills_at_start;
}

void BrokerControl::stop_for(Owners& owners, Clock::duration d) {
  if (!up_) return;
  {
    test::StoppedBroker stopped(broker_.pid());
    owners.pump_for(d);
  }
  model_.broker_available(Clock::now());
  ++totals_.stops;
}

std::string BrokerControl::log_tail(std::size_t lines) const {
  const std::string log = broker_.log();
  std::size_t at = log.size();
  for (std::size_t n = 0; at > 0 && n <= lines; ++n) {
    const auto nl = log.rfind('\n', at - 1);
    if (nl == std::string::npos) return log;
    at = nl;
  }
  return log.substr(at + 1);
}

std::string BrokerControl::log_lines_naming(pid_t pid, std::size_t lines) const {
  const std::string log = broker_.log();
  const std::string needle = "pid " + std::to_string(pid);
  std::vector<std::string> found;
  for (std::size_t at = 0; at < log.size();) {
    const std::size_t nl = std::min(log.find('\n', at), log.size());
    const std::string_view line = std::string_view(log).substr(at, nl - at);
    // "pid 123" but not "pid 1234".
    for (auto p = line.find(needle); p != std::string_view::npos; p = line.find(needle, p + 1)) {
      const std::size_t end = p + needle.size();
      if (end == line.size() || !std::isdigit(static_cast<unsigned char>(line[end]))) {
        found.emplace_back(line);
        break;
      }
    }
    at = nl + 1;
  }
  if (found.size() > lines) found.erase(found.begin(), found.end() - static_cast<std::ptrdiff_t>(lines));
  std::string out;
  for (const auto& l : found) out += l + "\n";
  return out;
}

std::uint64_t BrokerControl::repairs_at_attach() const {
  // The broker's own words when it attached a segment whose last write a
  // kill cut short (broker.cpp).
  constexpr std::string_view kRepaired = "repaired a write cut short by a crash";
  const std::string log = broker_.log();
  std::uint64_t n = 0;
  for (auto at = log.find(kRepaired); at != std::string::npos; at = log.find(kRepaired, at + 1)) ++n;
  return n;
}

}  // namespace shmreg::chaos
