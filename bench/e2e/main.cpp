// shmreg-bench-e2e: see e2e.hpp for what it measures and
// scripts/bench-e2e.sh for how to run it with its peers.
//
//   shmreg-bench-e2e [benchmark flags] [--broker=PATH] [--cli=PATH] [--helper=PATH]
//                    [--namespace=NAME] [--redis-socket=PATH] [--dbus-address=ADDRESS]
//                    [--placements=any,same,split] [--rt-ops=N] [--lookup-ops=N]
//                    [--keys=N] [--reap-rounds=N] [--handover-rounds=N] [--mass-owners=N]
//                    [--mass-rounds=N] [--broker-nice=N] [--broker-rt=PRIO] [--broker-log=PATH]
//                    [--broker-verbose] [--keep-tmp] [--no-summary]
//
// --broker-nice, --broker-rt, --broker-log and --broker-verbose are for
// experiments (what the deployment could change); the default run uses none.
//
// Environment defaults: SHMREG_E2E_BROKER, SHMREG_E2E_CLI, SHMREG_E2E_HELPER,
// SHMREG_E2E_REDIS_SOCKET, SHMREG_E2E_DBUS_ADDRESS.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "e2e.hpp"

#ifndef SHMREG_E2E_BROKER
#define SHMREG_E2E_BROKER ""
#endif
#ifndef SHMREG_E2E_CLI
#define SHMREG_E2E_CLI ""
#endif
#ifndef SHMREG_E2E_HELPER
#define SHMREG_E2E_HELPER ""
#endif

namespace {

using namespace shmreg::e2e;

const char* kUsage =
    "usage: shmreg-bench-e2e [benchmark flags] [--broker=PATH] [--cli=PATH] [--helper=PATH]\n"
    "         [--namespace=NAME] [--redis-socket=PATH] [--dbus-address=ADDRESS]\n"
    "         [--placements=any,same,split] [--rt-ops=N] [--lookup-ops=N] [--keys=N]\n"
    "         [--reap-rounds=N] [--handover-rounds=N] [--mass-owners=N] [--mass-rounds=N]\n"
    "         [--broker-nice=N] [--broker-rt=PRIO] [--broker-log=PATH] [--broker-verbose] [--keep-tmp]\n"
    "         [--no-summary]\n";

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

bool parse_u32(const std::string& text, std::uint32_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0' || v == 0 || v > 100'000'000) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// Parses our own flags (Google Benchmark has removed its own by then).
bool parse_flags(int argc, char** argv, bool& summary) {
  Options& o = options();
  o.broker_path = env_or("SHMREG_E2E_BROKER", SHMREG_E2E_BROKER);
  o.cli_path = env_or("SHMREG_E2E_CLI", SHMREG_E2E_CLI);
  o.helper_path = env_or("SHMREG_E2E_HELPER", SHMREG_E2E_HELPER);
  o.redis_socket = env_or("SHMREG_E2E_REDIS_SOCKET", "");
  o.dbus_address = env_or("SHMREG_E2E_DBUS_ADDRESS", "");
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string name = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    bool ok = true;
    if (name == "--broker") o.broker_path = value;
    else if (name == "--cli") o.cli_path = value;
    else if (name == "--helper") o.helper_path = value;
    else if (name == "--namespace") o.ns = value;
    else if (name == "--broker-log") o.broker_log = value;
    else if (name == "--broker-verbose") o.broker_verbose = true;
    else if (name == "--broker-rt") {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      ok = end != value.c_str() && *end == '\0' && v >= 1 && v <= 99;
      o.broker_rt = static_cast<int>(v);
    }
    else if (name == "--broker-nice") {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      ok = end != value.c_str() && *end == '\0' && v >= -20 && v <= 19;
      o.broker_nice = static_cast<int>(v);
    }
    else if (name == "--redis-socket") o.redis_socket = value;
    else if (name == "--dbus-address") o.dbus_address = value;
    else if (name == "--rt-ops") ok = parse_u32(value, o.rt_ops);
    else if (name == "--lookup-ops") ok = parse_u32(value, o.lookup_ops);
    else if (name == "--keys") ok = parse_u32(value, o.keys);
    else if (name == "--reap-rounds") ok = parse_u32(value, o.reap_rounds);
    else if (name == "--handover-rounds") ok = parse_u32(value, o.handover_rounds);
    else if (name == "--mass-owners") ok = parse_u32(value, o.mass_owners);
    else if (name == "--mass-rounds") ok = parse_u32(value, o.mass_rounds);
    else if (name == "--keep-tmp") o.keep_tmp = true;
    else if (name == "--no-summary") summary = false;
    else if (name == "--placements") {
      o.placements.clear();
      std::stringstream ss(value);
      std::string item;
      while (std::getline(ss, item, ','))
        if (placement_from(item)) o.placements.push_back(item);
        else ok = false;
      ok = ok && !o.placements.empty();
    } else {
      std::cerr << "shmreg-bench-e2e: unknown argument '" << a << "'\n" << kUsage;
      return false;
    }
    if (!ok) {
      std::cerr << "shmreg-bench-e2e: bad value in '" << a << "'\n" << kUsage;
      return false;
    }
  }
  return true;
}

// -- Summary -----------------------------------------------------------------------------------------

std::string human(double ns) {
  char buf[32];
  if (ns < 1e3) std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6) std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  else if (ns < 1e9) std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  return buf;
}

std::optional<Stats> find(const std::string& key) {
  const auto& all = all_samples();
  auto it = all.find(key);
  if (it == all.end() || it->second.empty()) return std::nullopt;
  return stats_of(it->second);
}

void print_summary() {
  std::printf("\n== shmreg-bench-e2e: pooled per-operation samples of this run ==\n");
  std::printf("(every sample includes one clock pair, %lld ns)\n", static_cast<long long>(clock_overhead_ns()));
  std::printf("%-44s %8s %11s %11s %11s\n", "case", "n", "p50", "p99", "max");
  for (const auto& [key, samples] : all_samples()) {
    const Stats s = stats_of(samples);
    std::printf("%-44s %8zu %11s %11s %11s\n", key.c_str(), s.n, human(s.p50).c_str(), human(s.p99).c_str(),
                human(s.max).c_str());
  }
  if (!cpu_splits().empty()) {
    std::printf("\nCPU time per operation (kernel accounting; the client's includes the clock reads):\n");
    std::printf("%-34s %11s %11s %11s %9s %9s\n", "case", "client cpu", "server cpu", "server wait", "cli runs",
                "srv runs");
    for (const auto& [key, sp] : cpu_splits())
      std::printf("%-34s %11s %11s %11s %9.2f %9.2f\n", key.c_str(), human(sp.client_cpu).c_str(),
                  human(sp.server_cpu).c_str(), human(sp.server_wait).c_str(), sp.client_slices, sp.server_slices);
  }

  std::printf("\n== ratios and bars (p50 unless said) ==\n");
  auto verdict = [](bool ok) { return ok ? "MET" : "MISSED"; };
  for (Placement p : placements()) {
    const std::string sp(to_string(p));
    for (const std::string lk : {"lookup/value", "lookup/view"}) {
      auto l = find(lk);
      if (!l) continue;
      auto net = find(lk + "/batch64_mean");
      for (const char* peer : {"redis/GET/", "dbus/GetNameOwner/"}) {
        auto q = find(peer + sp);
        if (!q) continue;
        const double ratio = q->p50 / l->p50;
        std::printf("[lookup x1000]   %s%s / %s = %.0fx (%s vs %s)", peer, sp.c_str(), lk.c_str(), ratio,
                    human(q->p50).c_str(), human(l->p50).c_str());
        if (net) std::printf("; without the clock pair %.0fx", q->p50 / std::max(net->p50, 1.0));
        std::printf("   %s\n", verdict(ratio >= 1000));
      }
    }
  }
  for (Placement p : placements()) {
    const std::string sp(to_string(p));
    auto reg = find("register/client_api/" + sp), raw = find("raw_rt/echo/" + sp);
    auto shaped = find("raw_rt/shaped/" + sp), ping = find("ping/client_api/" + sp);
    if (reg && raw) {
      const double ratio = reg->p50 / raw->p50;
      std::printf("[register 1.3x]  register %s / raw echo %s = %.2fx (%s vs %s)   %s\n", sp.c_str(), sp.c_str(), ratio,
                  human(reg->p50).c_str(), human(raw->p50).c_str(), verdict(ratio <= 1.3));
      if (shaped) std::printf("                 shaped echo / raw echo = %.2fx\n", shaped->p50 / raw->p50);
      if (auto lean = find("raw_rt/lean/" + sp))
        std::printf("                 lean echo / raw echo = %.2fx\n", lean->p50 / raw->p50);
      if (ping) std::printf("                 ping / raw echo = %.2fx\n", ping->p50 / raw->p50);
      if (ping) std::printf("                 register - ping = %s\n", human(reg->p50 - ping->p50).c_str());
    }
    if (auto send = find("send_rt/client_api/" + sp); send && raw) {
      std::printf("[send by name]   send+echo %s: p50 %s, p99 %s; / raw echo = %.2fx", sp.c_str(),
                  human(send->p50).c_str(), human(send->p99).c_str(), send->p50 / raw->p50);
      if (ping) std::printf("; / ping = %.2fx", send->p50 / ping->p50);
      if (auto call = find("dbus/MethodCall/" + sp))
        std::printf("; D-Bus method call %s / send+echo = %.2fx", human(call->p50).c_str(), call->p50 / send->p50);
      std::printf("\n");
    }
    for (const char* peer : {"redis/SET/", "dbus/RequestName/"}) {
      auto q = find(peer + sp);
      if (reg && q)
        std::printf("                 %s%s / register %s = %.2fx\n", peer, sp.c_str(), sp.c_str(), q->p50 / reg->p50);
    }
  }
  for (const std::string rk : {"reap/broker/any", "reap/broker/split"}) {
    auto r = find(rk);
    if (!r) continue;
    std::printf("[reap p99 < 1ms] %s: p50 %s, p99 %s   %s\n", rk.c_str(), human(r->p50).c_str(),
                human(r->p99).c_str(), verdict(r->p99 < 1e6));
    auto c = find(rk + "/broker_cpu"), w = find(rk + "/broker_runq_wait");
    if (c && w)
      std::printf("                 broker CPU per reap p50 %s; broker runnable but waiting p50 %s, p99 %s\n",
                  human(c->p50).c_str(), human(w->p50).c_str(), human(w->p99).c_str());
  }
  for (const char* floor : {"reap/broker/any/rss64M", "reap_floor/pidfd_poll", "reap_floor/pidfd_poll/rss64M",
                            "reap_floor/pidfd_watcher/any", "reap_floor/pidfd_watcher/split"})
    if (auto f = find(floor))
      std::printf("                 %s: p50 %s, p99 %s\n", floor, human(f->p50).c_str(), human(f->p99).c_str());
  // A handover is a reap plus one promotion in the owner queue: against the
  // reap of the same placement, measured the same way (spin) and as a reader
  // following the key sees it (watcher, futex-woken).
  for (const std::string rk : {"reap/broker/any", "reap/broker/split"}) {
    const std::string hk = "handover/broker/" + rk.substr(rk.rfind('/') + 1);
    auto r = find(rk);
    for (const std::string& k : {hk, hk + "/spin"}) {
      auto h = find(k);
      if (!h) continue;
      std::printf("[handover]       %s: p50 %s, p99 %s", k.c_str(), human(h->p50).c_str(), human(h->p99).c_str());
      if (r) std::printf("; / %s = %.2fx p50, %.2fx p99", rk.c_str(), h->p50 / r->p50, h->p99 / r->p99);
      std::printf("\n");
      auto c = find(k + "/broker_cpu"), w = find(k + "/broker_runq_wait");
      if (c && w)
        std::printf("                 broker CPU per handover p50 %s; broker runnable but waiting p50 %s, p99 %s\n",
                    human(c->p50).c_str(), human(w->p50).c_str(), human(w->p99).c_str());
    }
  }
  for (const std::string mk : {"mass_death/client_api", "mass_death/cli_exec"}) {
    auto m = find(mk);
    if (!m) continue;
    std::printf("[mass < 100ms]   %s: %zu rounds, p50 %s, worst %s   %s\n", mk.c_str(), m->n, human(m->p50).c_str(),
                human(m->max).c_str(), verdict(m->max < 1e8));
    auto k = find(mk + "/kill_syscall"), c = find(mk + "/broker_cpu"), w = find(mk + "/broker_runq_wait");
    if (k && c && w)
      std::printf("                 kill(-pgid) returned after %s; broker CPU %s (%s per owner), "
                  "broker runnable but waiting %s (p50s)\n",
                  human(k->p50).c_str(), human(c->p50).c_str(),
                  human(c->p50 / std::max<double>(options().mass_owners, 1)).c_str(), human(w->p50).c_str());
  }
  if (auto f = find("mass_death_floor/pidfd"))
    std::printf("                 mass_death_floor/pidfd: p50 %s, worst %s\n", human(f->p50).c_str(),
                human(f->max).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  bool summary = true;
  if (!parse_flags(argc, argv, summary)) return 2;
  (void)clock_overhead_ns();

  const std::vector<Placement> ps = placements();
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

  // Start the broker before the first case, so that no case times its start.
  if (const Broker& b = broker(); !b.error.empty())
    std::cerr << "shmreg-bench-e2e: " << b.error << "\n(the shmreg cases will be skipped)\n";
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  stop_broker();
  if (summary) print_summary();
  return 0;
}
