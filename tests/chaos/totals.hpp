// What one run of the crash loop did and found, printed as one line at the
// end (docs/reliability.md quotes it) and with every failure.
//
// Thread-safety: a plain value of the driver's thread.
#pragma once

#include <cstdint>
#include <string>

namespace shmreg::chaos {

struct Totals {
  // What the loop did.
  std::uint64_t kills = 0;         // SIGKILLs sent, to owners and to the broker
  std::uint64_t broker_kills = 0;  // of those, to the broker
  std::uint64_t broker_kills_in_flight = 0;  // of those, right after a burst of owners was started
  std::uint64_t broker_kills_at_start = 0;   // of those, a few ms after the broker was started
  std::uint64_t sigterms = 0;      // SIGTERMs sent to owners
  std::uint64_t stops = 0;         // SIGSTOP/SIGCONT pairs of the broker
  std::uint64_t owners_started = 0, library_owners = 0, cli_owners = 0;
  std::uint64_t pid_reuses_forced = 0;   // an owner got a dead owner's pid through ns_last_pid
  std::uint64_t pid_reuses_natural = 0;  // an owner got a pid an earlier owner had, unasked
  std::uint64_t confirmed = 0;           // registrations whose call returned success
  std::uint64_t settle_points = 0;
  std::uint64_t repairs_at_attach = 0;  // a restarted broker repaired a write its predecessor's kill cut short
  std::uint64_t reader_lookups = 0;
  // What it found (the target is 0 for each).
  std::uint64_t lost = 0;                 // a live owner's confirmed entry missing
  std::uint64_t stale = 0;                // a dead owner's entry present past the reap window
  std::uint64_t validation_failures = 0;  // validate() not clean, or a torn entry at a settle point
  std::uint64_t foreign = 0;              // an entry naming no owner of the run, or the wrong pid
  std::uint64_t failed_registrations = 0; // a registration refused, or not through after its retries
  std::uint64_t unexpected_exits = 0;     // an owner, a reader or the broker ended unasked
  std::uint64_t stuck = 0;                // an owner still registering at a settle point's deadline
  std::uint64_t torn = 0;                 // a reader handed a torn entry

  std::uint64_t failures() const {
    return lost + stale + validation_failures + foreign + failed_registrations + unexpected_exits + stuck + torn;
  }

  std::string line() const {
    auto f = [](const char* name, std::uint64_t v) { return std::string(" ") + name + "=" + std::to_string(v); };
    return "chaos totals:" + f("kills", kills) + f("broker_kills", broker_kills) +
           f("broker_kills_in_flight", broker_kills_in_flight) + f("broker_kills_at_start", broker_kills_at_start) + f("sigterms", sigterms) + f("stops", stops) +
           f("owners_started", owners_started) + f("library", library_owners) + f("cli", cli_owners) +
           f("pid_reuses_forced", pid_reuses_forced) + f("pid_reuses_natural", pid_reuses_natural) +
           f("confirmed", confirmed) + f("settle_points", settle_points) + f("repairs_at_attach", repairs_at_attach) + f("reader_lookups", reader_lookups) +
           f("lost", lost) + f("stale", stale) + f("validation_failures", validation_failures) +
           f("foreign", foreign) + f("failed_registrations", failed_registrations) +
           f("unexpected_exits", unexpected_exits) + f("stuck", stuck) + f("torn", torn);
  }
};

}  // namespace shmreg::chaos
