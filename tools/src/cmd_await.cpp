// The events family's `await`, in a file of its own because it waits for
// more than events: a namespace whose broker has not started yet (a
// service's ExecStartPre may run first) and a registry not created yet are
// polled for, with backoff, until they appear or the timeout passes.
//   await REG KEY [KEY...] [--all] [--timeout S]
//         prints the keys registered once one (default) or, with --all, every
//         KEY is; exit 0 then, 1 (kExitNotFound) on timeout.
// Race-free like Registry::await: the watcher's position is taken before the
// keys are checked, so a registration after the check is an event it sees.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "commands.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

using namespace cli;

struct AwaitArgs {
  std::string reg;
  std::vector<std::string> keys;
  bool all = false;
  double timeout_s = -1;
};

// How long a segment that is not (yet) a valid one may take to become one:
// its broker creates the file, then writes its header, so a reader that comes
// in between sees a bad magic for a moment. A segment of another version
// stays invalid, and is reported once this has passed.
constexpr auto kSegmentInitGrace = std::chrono::seconds(2);

// Whether opening the registry may succeed later: the broker has not made
// the segment or the registry yet, or is still initialising the segment.
bool may_appear(Errc code, Clock::time_point invalid_since) {
  return code == Errc::segment_not_found || code == Errc::registry_not_found ||
         (code == Errc::incompatible_segment && Clock::now() - invalid_since < kSegmentInitGrace);
}

// REG once it exists, polled with backoff up to deadline; the error that
// remains at the deadline otherwise (the caller tells a timeout by the clock).
Result<Registry> wait_for_registry(const Globals& g, const std::string& name, Clock::time_point deadline) {
  auto backoff = std::chrono::milliseconds(10);
  std::optional<Clock::time_point> invalid_since;
  for (;;) {
    auto c = Client::open({g.ns, g.socket, g.timeout});
    auto r = c ? c->registry(name) : Result<Registry>(std::unexpected(c.error()));
    if (r) return r;
    if (r.error().code == Errc::incompatible_segment && !invalid_since) invalid_since = Clock::now();
    if (!may_appear(r.error().code, invalid_since.value_or(Clock::now())) || Clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

// The keys of a.keys registered now, in a.keys's order.
Result<std::vector<std::string>> registered_keys(const Registry& reg, const AwaitArgs& a) {
  std::vector<std::string> present;
  for (const auto& key : a.keys) {
    auto entries = reg.lookup(key);
    if (!entries) return std::unexpected(std::move(entries.error()));
    if (!entries->empty() && std::ranges::find(present, key) == present.end()) present.push_back(key);
  }
  return present;
}

bool satisfied(const AwaitArgs& a, const std::vector<std::string>& present) {
  if (!a.all) return !present.empty();
  return std::ranges::all_of(a.keys, [&](const auto& k) { return std::ranges::find(present, k) != present.end(); });
}

int print_outcome(const Globals& g, const AwaitArgs& a, const std::vector<std::string>& present) {
  const bool ok = satisfied(a, present);
  std::vector<std::string> missing;
  for (const auto& k : a.keys)
    if (std::ranges::find(present, k) == present.end() && std::ranges::find(missing, k) == missing.end())
      missing.push_back(k);
  if (g.json) {
    json out = {{"registry", a.reg}, {"registered", ok}, {"keys", a.keys}, {"appeared", present},
                {"missing", missing}};
    if (a.keys.size() == 1) out["key"] = a.keys.front();  // the shape of the one-key await before KEY...
    std::cout << to_json_text(out) << "\n";
  } else if (ok) {
    for (const auto& k : present) std::cout << k << "\n";
  } else {
    std::cerr << "shmreg: await: timed out; not registered in '" << a.reg << "':";
    for (const auto& k : missing) std::cerr << ' ' << k;
    std::cerr << "\n";
  }
  return ok ? kExitOk : kExitNotFound;
}

int run_await(const Globals& g, const AwaitArgs& a) {
  const auto deadline = Clock::now() + wait_duration(a.timeout_s);
  auto reg = wait_for_registry(g, a.reg, deadline);
  if (!reg) {
    const Errc code = reg.error().code;
    if ((code == Errc::segment_not_found || code == Errc::registry_not_found) && Clock::now() >= deadline)
      return print_outcome(g, a, {});
    return report_error(g, reg.error());
  }
  Watcher w = reg->watch(std::nullopt);
  for (;;) {
    auto present = registered_keys(*reg, a);
    if (!present) return report_error(g, present.error());
    const auto now = Clock::now();
    if (satisfied(a, *present) || now >= deadline) return print_outcome(g, a, *present);
    // Any event of REG may be one of the keys (or a resync): check them all again.
    auto events = w.next(std::min<Clock::duration>(deadline - now, std::chrono::seconds(1)));
    if (!events) return report_error(g, events.error());
  }
}

}  // namespace

void add_await_command(CommandTable& table) {
  auto [c, a] = table.add<AwaitArgs>(
      "await",
      "wait until one KEY (or, with --all, every KEY) is registered in REG and print the keys registered; "
      "exit 0 then, 1 on timeout. Waits for the namespace's broker and REG to appear too",
      run_await);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.keys, "keys to wait for")->required();
  c->add_flag("--all", a.all, "wait until every KEY is registered (default: any one)");
  c->add_option("--timeout", a.timeout_s, "give up after this many seconds, exit 1 (default: wait for ever)");
}

}  // namespace shmreg::tools
