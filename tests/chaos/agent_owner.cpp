// The owner modes of shmreg-chaos-agent: a library owner, a CLI owner and
// the command a CLI owner holds its entry with (agent.hpp).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agent.hpp"
#include "chaos_value.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::chaos {
namespace {

using namespace std::chrono_literals;

// A registration cut short by a broker kill is retried for up to about 20 s
// (the loop restarts a killed broker well within that).
constexpr int kMaxAttempts = 400;
constexpr auto kChurnPause = 3ms;
// Shorter than the default, so that the loop's longer SIGSTOPs of the broker
// make calls time out with the request sent: a write the broker applies
// after its sender gave up on it (or died).
constexpr auto kCallTimeout = 1s;

// What a write may meet while the loop kills, stops and restarts the broker
// or recycles pids; anything else is a failure to report.
bool retryable(shmreg::Errc e) {
  return e == Errc::broker_unavailable || e == Errc::timeout || e == Errc::stale_owner || e == Errc::busy;
}

struct Owner {
  shmreg::Client client;
  std::uint64_t serial;
  std::uint32_t pid;

  // Registers until the broker confirms it; true on success. A retry after
  // an attempt that may have applied meets the owner's own entry.
  bool register_confirmed(std::string_view reg, const std::string& key, std::string& why) const {
    const std::string value = make_value(key, serial, pid, 0);
    auto pause = 5ms;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto r = client.register_key(reg, key, value);
      if (r) return true;
      if (r.error().code == Errc::already_registered && r.error().pid == pid) return true;
      why = std::string(shmreg::to_string(r.error().code));
      if (!retryable(r.error().code)) return false;
      std::this_thread::sleep_for(pause);  // a retry's backoff
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    why += "-after-retries";
    return false;
  }

  void register_reported(std::string_view reg, const std::string& key) const {
    std::string why;
    const std::string head = "chaos " + std::to_string(serial) + " ";
    if (register_confirmed(reg, key, why))
      report(head + "ok " + std::string(reg) + " " + key + "\n");
    else
      report(head + "fail " + std::string(reg) + " " + key + " " + why + "\n");
  }

  // Reads the owner's own first entry, and writes its meta, through the same
  // Client as churn() on another thread. The owner is then a two-thread
  // process whose broker is killed, stopped and restarted under it: in the
  // TSan build (label tsan) the loop checks the client's locking across
  // reconnects, which a single-threaded owner never exercises. Errors are
  // the loop's to ignore here: the settle checks judge the entries.
  [[noreturn]] void read_own_forever() const {
    const std::string first = key_of(serial, 0);
    auto registry = client.registry(kUniqueRegistry);
    for (std::uint64_t n = 1;; ++n) {
      if (registry) (void)registry->lookup(first);
      if (n % 16 == 0) (void)client.put_meta(kUniqueRegistry, "churn", std::to_string(serial) + "/" + std::to_string(n));
      std::this_thread::sleep_for(kChurnPause);
    }
  }

  [[noreturn]] void churn() const {
    std::thread([this] { read_own_forever(); }).detach();
    const std::string first = key_of(serial, 0), extra = key_of(serial, kChurnKey);
    for (std::uint64_t n = 1;; ++n) {
      (void)client.set_value(kUniqueRegistry, first, make_value(first, serial, pid, n));
      if (n % 2 == 1)
        (void)client.register_key(kUniqueRegistry, extra, make_value(extra, serial, pid, n));
      else
        (void)client.unregister(kUniqueRegistry, extra);
      std::this_thread::sleep_for(kChurnPause);  // keeps a few churners from taking a whole core
    }
  }
};

[[noreturn]] void hold_forever() {
  for (;;) ::pause();
}

}  // namespace

void report(const std::string& line) { (void)!::write(1, line.data(), line.size()); }

int run_owner(const std::vector<std::string>& args) {
  if (args.size() != 5) {
    std::fprintf(stderr, "owner NS SOCKET SERIAL KEYS CHURN\n");
    return 2;
  }
  const std::uint64_t serial = std::stoull(args[2]);
  auto client = shmreg::Client::open({args[0], args[1], kCallTimeout});
  if (!client) {
    report("chaos " + args[2] + " fail open - " + std::string(shmreg::to_string(client.error().code)) + "\n");
    hold_forever();
  }
  const Owner owner{std::move(*client), serial, static_cast<std::uint32_t>(::getpid())};
  const unsigned keys = static_cast<unsigned>(std::stoul(args[3]));
  for (unsigned i = 0; i < keys; ++i) owner.register_reported(kUniqueRegistry, key_of(serial, i));
  owner.register_reported(kPoolRegistry, std::string(kPoolKey));
  report("chaos " + args[2] + " done\n");
  if (args[4] == "1") owner.churn();
  hold_forever();
}

int run_cli_owner(const std::string& self, const std::vector<std::string>& args) {
  if (args.size() != 5) {
    std::fprintf(stderr, "cli-owner CLI NS SOCKET SERIAL exec|hold\n");
    return 2;
  }
  const std::string key = key_of(std::stoull(args[3]), 0);
  const std::string value = make_value(key, std::stoull(args[3]), static_cast<std::uint32_t>(::getpid()), 0);
  const std::string timeout = std::to_string(kCallTimeout.count()) + "s";
  std::vector<std::string> argv = {args[0], "--namespace", args[1], "--socket", args[2], "--timeout", timeout, "register",
                                   std::string(kUniqueRegistry), key, value};
  if (args[4] == "exec") argv.insert(argv.end(), {"--", self, "hold", args[3], key});
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  ::execv(c_argv[0], c_argv.data());
  std::perror("exec shmreg");
  return 127;
}

int run_hold(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fprintf(stderr, "hold SERIAL KEY\n");
    return 2;
  }
  report("chaos " + args[0] + " ok " + std::string(kUniqueRegistry) + " " + args[1] + "\n");
  report("chaos " + args[0] + " done\n");
  hold_forever();
}

}  // namespace shmreg::chaos
