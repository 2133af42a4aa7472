// The events family of the CLI; each reads the segment alone (futex waits
// on it), so it works while the broker is down.
//   watch REG [KEY] [--from SEQ] [--count N] [--timeout S]
//         one event per line: SEQ<TAB>TYPE<TAB>KEY<TAB>PID[<TAB>OLD_PID]; PID is
//         "static" for a static entry's events (pid 0, "static": true in --json);
//         exit 0 after --count events, 1 when --timeout ends it first
//   await REG KEY [KEY...] [--all] [--timeout S]
//         exit 0 once one (or every) KEY is registered, 1 on timeout (cmd_await.cpp)
//   queue REG KEY                 PID<TAB>VALUE<TAB>primary|queued; exit 1 if none
// (register's owner-queue flags are with register, in cmd_registration.cpp.)
#include <chrono>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "json_bytes.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

struct WatchArgs {
  std::string reg, key;
  std::optional<std::uint64_t> from;
  std::uint64_t count = 0;
  double timeout_s = -1;
};

// A static entry's write: lagged and resync events carry no pid either, but
// they are about the stream, not an entry.
bool of_static_entry(const Event& e) {
  return e.pid == 0 && e.type != EventType::lagged && e.type != EventType::resync;
}

void print_event(const Globals& g, const Event& e) {
  if (g.json) {
    json j = {{"seq", e.seq},         {"type", std::string(to_string(e.type))},
              {"pid", e.pid},         {"old_pid", e.old_pid},
              {"version", e.version}, {"time_ns", e.time_ns}};
    put_bytes(j, "key", e.key);
    if (of_static_entry(e)) j["static"] = true;
    std::cout << to_json_text(j) << std::endl;
  } else {
    std::cout << e.seq << '\t' << to_string(e.type) << '\t' << escaped(e.key) << '\t'
              << (of_static_entry(e) ? owner_text(0) : std::to_string(e.pid));
    if (e.type == EventType::owner_changed) std::cout << '\t' << e.old_pid;
    std::cout << std::endl;
  }
}

int run_watch(const Globals& g, const WatchArgs& a) {
  auto reg = open_registry(g, a.reg);
  if (!reg) return reg.error();
  Watcher w = reg->watch(a.key.empty() ? std::nullopt : std::optional<std::string>(a.key), a.from);
  const auto deadline = std::chrono::steady_clock::now() + wait_duration(a.timeout_s);
  std::uint64_t seen = 0;
  while (a.count == 0 || seen < a.count) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return kExitNotFound;  // timed out, as every wait of the CLI
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
  c->add_option("--count", a.count, "stop after this many events (exit 0)");
  c->add_option("--timeout", a.timeout_s, "stop after this many seconds, exit 1 (default: watch for ever)");
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
    for (std::size_t i = 0; i < q->size(); ++i) {
      json one = {{"pid", (*q)[i].pid}, {"role", i == 0 ? "primary" : "queued"}};
      put_bytes(one, "value", (*q)[i].value);
      arr.push_back(one);
    }
    std::cout << to_json_text(arr) << "\n";
  } else {
    for (std::size_t i = 0; i < q->size(); ++i)
      std::cout << (*q)[i].pid << '\t' << escaped((*q)[i].value) << '\t' << (i == 0 ? "primary" : "queued") << '\n';
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
  add_await_command(table);
  add_queue(table);
}

}  // namespace shmreg::tools
