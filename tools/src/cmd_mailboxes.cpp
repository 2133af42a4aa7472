// The mailboxes family of the CLI: send by name (docs/send-by-name.md).
//   send REG KEY [MESSAGE] [--stdin]
//         has the broker route MESSAGE (or stdin's bytes) to KEY's owner's
//         mailbox; prints where it went. Exit 1 if nobody owns KEY; 2 if no
//         owner has a mailbox, every mailbox is full, or any other error.
//   receive REG KEY [VALUE] [--count N] [--timeout S]
//         opens this process's mailbox, registers KEY in REG (owned by this
//         process, so it is reaped when the command ends), then prints each
//         message: SENDER_PID<TAB>BODY, one per line (BODY escaped as
//         cli::escaped does). Ends after N messages (exit 0), at the timeout
//         (exit 1, as every wait of the CLI that times out), or on
//         SIGINT/SIGTERM (exit 0).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <iterator>
#include <optional>

#include "commands.hpp"
#include "json_bytes.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::tools {

namespace {

using namespace cli;

struct SendArgs {
  std::string reg, key, message;
  bool from_stdin = false;
};

int run_send(const Globals& g, const SendArgs& a) {
  std::string body = a.message;
  if (a.from_stdin) {
    if (!a.message.empty()) return usage_error("give MESSAGE or --stdin, not both");
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  auto c = open_client(g);
  if (!c) return c.error();
  auto r = c->send(a.reg, a.key, body);
  if (!r) return report_error(g, r.error());
  if (g.json) {
    std::cout << to_json_text({{"registry", a.reg},
                               {"key", a.key},
                               {"delivered_to", r->delivered_to},
                               {"no_mailbox", r->no_mailbox},
                               {"mailbox_full", r->mailbox_full}})
              << "\n";
  } else {
    std::cout << "sent to pid";
    for (std::uint32_t pid : r->delivered_to) std::cout << ' ' << pid;
    if (r->no_mailbox > 0) std::cout << "; " << r->no_mailbox << " owner(s) without a mailbox";
    if (r->mailbox_full > 0) std::cout << "; " << r->mailbox_full << " owner(s) with a full mailbox (dropped)";
    std::cout << "\n";
  }
  return kExitOk;
}

void add_send(CommandTable& table) {
  auto [c, a] = table.add<SendArgs>(
      "send", "send MESSAGE to the mailbox of KEY's owner in REG; exit 1 if nobody owns KEY", run_send);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key")->required();
  c->add_option("MESSAGE", a.message, "the message (at most 64 KiB)");
  c->add_flag("--stdin", a.from_stdin, "send the bytes of stdin instead of MESSAGE");
}

// A stop signal (SIGINT/SIGTERM) as a descriptor, so that receive can wait
// on it and on the mailbox at once and end cleanly.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    fd_.reset(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
    // Without the descriptor, let the signals act as usual (end the process).
    if (!fd_) pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  bool raised() const {
    if (!fd_) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  int fd() const { return fd_.get(); }

 private:
  sigset_t set_{};
  sys::UniqueFd fd_;
};

struct ReceiveArgs {
  std::string reg, key, value;
  std::uint64_t count = 0;
  double timeout_s = -1;
};

// Prints every message waiting in the mailbox, up to the count; the exit code
// when the command must end on an error, else nullopt.
std::optional<int> print_waiting(const Globals& g, const ReceiveArgs& a, Mailbox& mailbox, std::uint64_t& seen) {
  for (;;) {
    auto m = mailbox.receive(std::chrono::nanoseconds::zero());
    if (!m) {
      // A broker that is gone or not answering: reopened on the next round.
      if (m.error().code == Errc::broker_unavailable || m.error().code == Errc::timeout) return std::nullopt;
      return report_error(g, m.error());
    }
    if (!*m) return std::nullopt;
    const Message& msg = **m;
    if (msg.dropped > 0 && !g.json)
      std::cerr << "shmreg: " << msg.dropped << " message(s) dropped before this one (mailbox full)\n";
    if (g.json) {
      nlohmann::json out = {{"registry", msg.registry},
                  {"key", msg.key},
                  {"sender_pid", msg.sender_pid},
                  {"sender_uid", msg.sender_uid},
                  {"dropped", msg.dropped}};
      put_bytes(out, "body", msg.body);
      std::cout << to_json_text(out) << std::endl;
    } else {
      std::cout << msg.sender_pid << '\t' << escaped(msg.body) << std::endl;
    }
    if (a.count != 0 && ++seen >= a.count) return std::nullopt;
  }
}

int run_receive(const Globals& g, const ReceiveArgs& a) {
  StopSignals stop;  // before anything is registered: a signal from now on ends the loop cleanly
  auto c = open_client(g);
  if (!c) return c.error();
  // The mailbox first: once KEY is visible, a send to it finds the mailbox.
  auto mailbox = Mailbox::open(*c);
  if (!mailbox) return report_error(g, mailbox.error());
  if (auto v = c->register_key(a.reg, a.key, a.value); !v) return report_error(g, v.error());

  // Anything from a year on is "for ever" (and keeps the cast below defined).
  constexpr double kYear = 365.0 * 24 * 3600;
  const bool forever = a.timeout_s < 0 || !std::isfinite(a.timeout_s) || a.timeout_s >= kYear;
  const auto deadline = std::chrono::steady_clock::now() +
                        (forever ? std::chrono::nanoseconds(std::chrono::hours(24 * 365))
                                 : std::chrono::nanoseconds(static_cast<std::int64_t>(a.timeout_s * 1e9)));
  std::uint64_t seen = 0;
  bool stopped = false;
  while (a.count == 0 || seen < a.count) {
    const auto now = std::chrono::steady_clock::now();
    if (stop.raised()) stopped = true;
    if (stopped || (!forever && now >= deadline)) break;
    // Wake for a message or a stop signal, whichever comes first; receive
    // itself never blocks longer than a short slice, so a stop is prompt
    // even while the mailbox reopens after a broker restart.
    pollfd p[2] = {{mailbox->fd(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    const long long slice = p[0].fd < 0 ? 100 : 1000;  // no descriptor: the mailbox is reopening
    (void)::poll(p, 2, static_cast<int>(std::min<long long>(std::max<long long>(left, 0), slice)));
    if (stop.raised()) {
      stopped = true;
      break;
    }
    if (auto rc = print_waiting(g, a, *mailbox, seen)) return *rc;
  }
  (void)c->unregister(a.reg, a.key);
  // The timeout ended it (not the count, not a stop signal): timed out.
  const bool counted_out = a.count != 0 && seen >= a.count;
  return counted_out || stopped ? kExitOk : kExitNotFound;
}

void add_receive(CommandTable& table) {
  auto [c, a] = table.add<ReceiveArgs>(
      "receive", "open this process's mailbox, register KEY in REG, print SENDER_PID<TAB>BODY per message",
      run_receive);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("KEY", a.key, "key to register (owned by this command while it runs)")->required();
  c->add_option("VALUE", a.value, "value of the entry (default: empty)");
  c->add_option("--count", a.count, "stop after this many messages (exit 0)");
  c->add_option("--timeout", a.timeout_s, "stop after this many seconds, exit 1 (default: wait for ever)");
}

}  // namespace

void add_mailboxes_commands(CommandTable& table) {
  add_send(table);
  add_receive(table);
}

}  // namespace shmreg::tools
