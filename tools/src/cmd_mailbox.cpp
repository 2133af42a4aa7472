// The CLI's send-by-name commands (see cmd_mailbox.hpp).
#include "cmd_mailbox.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_output.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;
using namespace cli;

// A stop signal (SIGINT/SIGTERM) as a descriptor, so that receive can wait
// on it and on the mailbox at once and end cleanly.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
    // Without the descriptor, let the signals act as usual (end the process).
    if (fd_ < 0) pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  ~StopSignals() {
    if (fd_ >= 0) ::close(fd_);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool raised() const {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  int fd() const { return fd_; }

 private:
  sigset_t set_{};
  int fd_ = -1;
};

}  // namespace

MailboxCommands::MailboxCommands(CLI::App& app) {
  send_ = app.add_subcommand("send", "send MESSAGE to the mailbox of KEY's owner in REG; exit 1 if nobody owns KEY");
  send_->add_option("REG", reg_, "registry name")->required();
  send_->add_option("KEY", key_, "key")->required();
  send_->add_option("MESSAGE", message_, "the message (at most 64 KiB)");
  send_->add_flag("--stdin", from_stdin_, "send the bytes of stdin instead of MESSAGE");

  receive_ = app.add_subcommand(
      "receive", "open this process's mailbox, register KEY in REG, print SENDER_PID<TAB>BODY per message");
  receive_->add_option("REG", reg_, "registry name")->required();
  receive_->add_option("KEY", key_, "key to register (owned by this command while it runs)")->required();
  receive_->add_option("VALUE", value_, "value of the entry (default: empty)");
  receive_->add_option("--count", count_, "stop after this many messages");
  receive_->add_option("--timeout", timeout_s_, "stop after this many seconds");
}

std::optional<int> MailboxCommands::run(const std::string& ns, const std::string& socket, bool json) const {
  if (send_->parsed()) return send(ns, socket, json);
  if (receive_->parsed()) return receive(ns, socket, json);
  return std::nullopt;
}

int MailboxCommands::send(const std::string& ns, const std::string& socket, bool as_json) const {
  std::string body = message_;
  if (from_stdin_) {
    if (!message_.empty()) {
      std::cerr << "shmreg: give MESSAGE or --stdin, not both\n";
      return kExitError;
    }
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  auto c = Client::open({ns, socket});
  if (!c) return report_error(as_json, c.error());
  auto r = c->send(reg_, key_, body);
  if (!r) {
    const int rc = report_error(as_json, r.error());
    return r.error().code == Errc::not_found ? kExitNotFound : rc;
  }
  if (as_json) {
    std::cout << to_json_text({{"registry", reg_},
                               {"key", key_},
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

int MailboxCommands::receive(const std::string& ns, const std::string& socket, bool as_json) const {
  StopSignals stop;  // before anything is registered: a signal from now on ends the loop cleanly
  auto c = Client::open({ns, socket});
  if (!c) return report_error(as_json, c.error());
  // The mailbox first: once KEY is visible, a send to it finds the mailbox.
  auto mailbox = Mailbox::open(*c);
  if (!mailbox) return report_error(as_json, mailbox.error());
  if (auto v = c->register_key(reg_, key_, value_); !v) return report_error(as_json, v.error());

  // Anything from a year on is "for ever" (and keeps the cast below defined).
  constexpr double kYear = 365.0 * 24 * 3600;
  const bool forever = timeout_s_ < 0 || !std::isfinite(timeout_s_) || timeout_s_ >= kYear;
  const auto deadline =
      std::chrono::steady_clock::now() +
      (forever ? std::chrono::nanoseconds(std::chrono::hours(24 * 365))
               : std::chrono::nanoseconds(static_cast<std::int64_t>(timeout_s_ * 1e9)));
  std::uint64_t seen = 0;
  bool stopped = false;
  while (count_ == 0 || seen < count_) {
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
    for (;;) {
      auto m = mailbox->receive(std::chrono::nanoseconds::zero());
      if (!m) {
        if (m.error().code == Errc::broker_unavailable) break;  // retried on the next round
        return report_error(as_json, m.error());
      }
      if (!*m) break;
      const Message& msg = **m;
      if (msg.dropped > 0 && !as_json)
        std::cerr << "shmreg: " << msg.dropped << " message(s) dropped before this one (mailbox full)\n";
      if (as_json)
        std::cout << to_json_text({{"registry", msg.registry},
                                   {"key", msg.key},
                                   {"sender_pid", msg.sender_pid},
                                   {"sender_uid", msg.sender_uid},
                                   {"dropped", msg.dropped},
                                   {"body", msg.body}})
                  << std::endl;
      else
        std::cout << msg.sender_pid << '\t' << msg.body << std::endl;
      if (count_ != 0 && ++seen >= count_) break;
    }
  }
  (void)c->unregister(reg_, key_);
  // Fewer than --count messages is a failure only when the timeout ended it.
  return count_ != 0 && seen < count_ && !stopped ? kExitNotFound : kExitOk;
}

}  // namespace shmreg::tools
