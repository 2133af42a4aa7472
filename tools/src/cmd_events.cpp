// The events family of the CLI; each reads the segment alone (futex waits
// on it), so it works while the broker is down.
//   watch REG [KEY] [--from SEQ] [--count N] [--timeout S]
//         one event per line: SEQ<TAB>TYPE<TAB>KEY<TAB>PID[<TAB>OLD_PID]
//   await REG KEY [--timeout S]   exit 0 once KEY is registered, 1 on timeout
//   queue REG KEY                 PID<TAB>VALUE<TAB>primary|queued; exit 1 if none
// (register's owner-queue flags are with register, in cmd_registration.cpp.)
#include <chrono>
#include <cmath>
#include <iostream>
#include <optional>

#include "commands.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

// A negative or non-finite timeout waits for ever (a century, in practice).
std::chrono::nanoseconds to_duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return std::chrono::hours(24 * 365 * 100);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

struct WatchArgs {
  std::string reg, key;
  std::optional<std::uint64_t> from;
  std::uint64_t count = 0;
  double timeout_s = -1;
};

void print_event(const Globals& g, const Event& e) {
  if (g.json) {
    std::cout << to_json_text({{"seq", e.seq},
                               {"type", std::string(to_string(e.type))},
                               {"key", e.key},
                               {"pid", e.pid},
                               {"old_pid", e.old_pid},
                               {"version", e.version},
                               {"time_ns", e.time_ns}})
              << std::endl;
  } else {
    std::cout << e.seq << '\t' << to_string(e.type) << '\t' << e.key << '\t' << e.pid;
    if (e.type == EventType::owner_changed) std::cout << '\t' << e.old_pid;
    std::cout << std::endl;
  }
}

int run_watch(const Globals& g, const WatchArgs& a) {
  auto reg = open_registry(g, a.reg);
  if (!reg) return reg.error();
  Watcher w = reg->watch(a.key.empty() ? std::nullopt : std::optional<std::string>(a.key), a.from);
  const auto deadline = std::chrono::steady_clock::now() + to_duration(a.timeout_s);
  std::uint64_t seen = 0;
  while (a.count == 0 || seen < a.count) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto events = w.next(std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::seconds(1)));
    if (!events) return report_error(g, events.error());
    for (const Event& e : *events) {
      print_event(g, e);
      if (a.count != 0 && ++seen >= a.count) break;
    }
  }
  return kExitOk;
}

void add_watch(CommandTable& table) {
  auto [c, a] = table.add<WatchArgs>(
      "watch", "print REG's events as they happen (one per line), optionally only KEY's", run_watch);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "only this key's events");
  c->add_option("--from", a.from, "start at this sequence (default: the next event)");
  c->add_option("--count", a.count, "stop after this many events");
  c->add_option("--timeout", a.timeout_s, "stop after this many seconds");
}

struct AwaitArgs {
  std::string reg, key;
  double timeout_s = -1;
};

int run_await(const Globals& g, const AwaitArgs& a) {
  auto reg = open_registry(g, a.reg);
  if (!reg) return reg.error();
  auto got = reg->await(a.key, to_duration(a.timeout_s));
  if (!got) return report_error(g, got.error());
  if (g.json) std::cout << to_json_text({{"registry", a.reg}, {"key", a.key}, {"registered", *got}}) << "\n";
  return *got ? kExitOk : kExitNotFound;
}

void add_await(CommandTable& table) {
  auto [c, a] =
      table.add<AwaitArgs>("await", "wait until KEY is registered in REG; exit 0 then, 1 on timeout", run_await);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("--timeout", a.timeout_s, "give up after this many seconds (default: wait for ever)");
}

struct QueueArgs {
  std::string reg, key;
};

int run_queue(const Globals& g, const QueueArgs& a) {
  auto reg = open_registry(g, a.reg);
  if (!reg) return reg.error();
  auto q = reg->owner_queue(a.key);
  if (!q) return report_error(g, q.error());
  if (g.json) {
    json arr = json::array();
    for (std::size_t i = 0; i < q->size(); ++i)
      arr.push_back({{"pid", (*q)[i].pid}, {"value", (*q)[i].value}, {"role", i == 0 ? "primary" : "queued"}});
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (std::size_t i = 0; i < q->size(); ++i)
      std::cout << (*q)[i].pid << '\t' << (*q)[i].value << '\t' << (i == 0 ? "primary" : "queued") << '\n';
  }
  return q->empty() ? kExitNotFound : kExitOk;
}

void add_queue(CommandTable& table) {
  auto [c, a] = table.add<QueueArgs>(
      "queue", "print KEY's owner queue: PID<TAB>VALUE<TAB>primary|queued; exit 1 if none", run_queue);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
}

}  // namespace

void add_events_commands(CommandTable& table) {
  add_watch(table);
  add_await(table);
  add_queue(table);
}

}  // namespace shmreg::tools
