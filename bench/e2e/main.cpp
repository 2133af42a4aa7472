// shmreg-bench-e2e: see e2e.hpp for what it measures and
// scripts/bench-e2e.sh for how to run it with its peers (it also prints the
// summary, through scripts/bench-check.py e2e). Its own flags are in kUsage.
// --broker-nice, --broker-rt, --broker-log and --broker-verbose are for
// experiments (what the deployment could change); the default run uses none.
//
// The broker is the one of this build tree (the tests' harness starts it);
// the CLI defaults to that build's too. Environment defaults: SHMREG_E2E_CLI,
// SHMREG_E2E_HELPER, SHMREG_E2E_REDIS_SOCKET, SHMREG_E2E_DBUS_ADDRESS.
#include <signal.h>

#include <cstdlib>
#include <cerrno>
#include <iostream>
#include <sstream>

#include "broker_process.hpp"
#include "e2e.hpp"

#ifndef SHMREG_E2E_HELPER
#define SHMREG_E2E_HELPER ""
#endif

namespace {

using namespace shmreg::bench;
using namespace shmreg::bench::e2e;

const char* kUsage =
    "usage: shmreg-bench-e2e [benchmark flags] [--cli=PATH] [--helper=PATH]\n"
    "         [--namespace=NAME] [--redis-socket=PATH] [--dbus-address=ADDRESS]\n"
    "         [--placements=any,same,split] [--rt-ops=N] [--lookup-ops=N] [--keys=N]\n"
    "         [--reap-rounds=N] [--handover-rounds=N] [--mass-owners=N] [--mass-rounds=N]\n"
    "         [--broker-nice=N] [--broker-rt=PRIO] [--broker-log=PATH] [--broker-verbose] [--keep-tmp]\n";

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

bool parse_int(const std::string& text, long lo, long hi, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(text.c_str(), &end, 10);
  return errno == 0 && end != text.c_str() && *end == '\0' && out >= lo && out <= hi;
}

bool parse_placements(const std::string& value, std::vector<Placement>& out) {
  out.clear();
  std::stringstream ss(value);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto p = placement_from(item);
    if (!p) return false;
    out.push_back(*p);
  }
  return !out.empty();
}

enum class Flag { ok, bad_value, unknown };

// Applies one of our flags to o.
Flag apply_flag(const std::string& name, const std::string& value, Options& o) {
  const std::pair<const char*, std::string*> strings[] = {
      {"--cli", &o.cli_path},          {"--helper", &o.helper_path},         {"--namespace", &o.ns},
      {"--broker-log", &o.broker_log}, {"--redis-socket", &o.redis_socket}, {"--dbus-address", &o.dbus_address},
  };
  const std::pair<const char*, std::uint32_t*> counts[] = {
      {"--rt-ops", &o.rt_ops},           {"--lookup-ops", &o.lookup_ops},   {"--keys", &o.keys},
      {"--reap-rounds", &o.reap_rounds}, {"--handover-rounds", &o.handover_rounds},
      {"--mass-owners", &o.mass_owners}, {"--mass-rounds", &o.mass_rounds},
  };
  auto ok_if = [](bool ok) { return ok ? Flag::ok : Flag::bad_value; };
  for (const auto& [flag, field] : strings) {
    if (name != flag) continue;
    *field = value;
    return Flag::ok;
  }
  long v = 0;
  for (const auto& [flag, field] : counts) {
    if (name != flag) continue;
    if (!parse_int(value, 1, 100'000'000, v)) return Flag::bad_value;
    *field = static_cast<std::uint32_t>(v);
    return Flag::ok;
  }
  if (name == "--broker-rt" || name == "--broker-nice") {
    const bool rt = name == "--broker-rt";
    if (!parse_int(value, rt ? 1 : -20, rt ? 99 : 19, v)) return Flag::bad_value;
    (rt ? o.broker_rt : o.broker_nice) = static_cast<int>(v);
    return Flag::ok;
  }
  if (name == "--broker-verbose") return ok_if(o.broker_verbose = true);
  if (name == "--keep-tmp") return ok_if(o.keep_tmp = true);
  if (name == "--placements") return ok_if(parse_placements(value, o.placements));
  return Flag::unknown;
}

// Parses our own flags (Google Benchmark has removed its own by then).
bool parse_flags(int argc, char** argv) {
  Options& o = options();
  o.cli_path = env_or("SHMREG_E2E_CLI", shmreg::test::cli_binary().c_str());
  o.helper_path = env_or("SHMREG_E2E_HELPER", SHMREG_E2E_HELPER);
  o.redis_socket = env_or("SHMREG_E2E_REDIS_SOCKET", "");
  o.dbus_address = env_or("SHMREG_E2E_DBUS_ADDRESS", "");
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const Flag f = apply_flag(a.substr(0, eq), eq == std::string::npos ? "" : a.substr(eq + 1), o);
    if (f == Flag::ok) continue;
    std::cerr << "shmreg-bench-e2e: " << (f == Flag::unknown ? "unknown argument '" : "bad value in '") << a << "'\n"
              << kUsage;
    return false;
  }
  return true;
}

void register_all() {
  const std::vector<Placement>& ps = options().placements;
  for (Placement p : ps) {
    register_raw_cases(Group::round_trip, p);
    register_shmreg_cases(Group::round_trip, p);
    register_peer_cases(Group::round_trip, p);
  }
  register_shmreg_cases(Group::lookup, Placement::any);
  for (Placement p : ps) register_peer_cases(Group::lookup, p);
  for (Placement p : ps) {
    register_raw_cases(Group::reap, p);
    register_shmreg_cases(Group::reap, p);
  }
  register_raw_cases(Group::mass_death, Placement::any);
  register_shmreg_cases(Group::mass_death, Placement::any);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  if (!parse_flags(argc, argv)) return 2;
  benchmark::AddCustomContext("clock_overhead_ns", std::to_string(clock_overhead_ns()));
  register_all();
  // Start the broker before the first case, so that no case times its start.
  if (const Broker& b = broker(); !b.error.empty())
    std::cerr << "shmreg-bench-e2e: " << b.error << "\n(the shmreg cases will be skipped)\n";
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  stop_broker();
  return 0;
}
