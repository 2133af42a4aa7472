#include "owners.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "chaos_value.hpp"

namespace shmreg::chaos {
namespace {

// How many recently reaped pids the loop keeps to hand out again.
constexpr std::size_t kReusablePids = 64;

// Asks the kernel to give the next fork `pid`; false when this process may
// not (not root, or no such file).
bool force_next_pid(pid_t pid) {
  sys::UniqueFd fd(::open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  const std::string text = std::to_string(pid - 1);
  return ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

// The line a holding `shmreg register` prints once its registration
// returned ("registered KEY in REG as pid PID; holding ..."), as the agent's
// reports of it: confirmed, and done. Empty for any other line.
std::vector<std::string> reports_of_cli_line(std::string_view line) {
  constexpr std::string_view kHead = "registered ";
  const auto in = line.find(" in ");
  const auto as = line.find(" as pid ");
  if (!line.starts_with(kHead) || in == std::string_view::npos || as == std::string_view::npos || as < in) return {};
  const std::string key(line.substr(kHead.size(), in - kHead.size()));
  const std::string reg(line.substr(in + 4, as - in - 4));
  const auto serial = serial_of_key(key);
  if (!serial) return {};
  const std::string head = "chaos " + std::to_string(*serial) + " ";
  return {head + "ok " + reg + " " + key, head + "done"};
}

}  // namespace

Owners::Owners(RunPaths paths, Model& model, Totals& totals)
    : paths_(std::move(paths)), model_(model), totals_(totals) {
  if (::mkfifo(paths_.fifo.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + paths_.fifo);
  fifo_read_.reset(::open(paths_.fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  // Held open so that the FIFO never reads EOF between owners.
  fifo_hold_.reset(::open(paths_.fifo.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fifo_read_ || !fifo_hold_) throw std::runtime_error("open " + paths_.fifo);
  // Hundreds of owners report at once; a roomy pipe keeps them from blocking.
  (void)::fcntl(fifo_read_.get(), F_SETPIPE_SZ, 1 << 20);
}

Owners::~Owners() { kill_all(); }

pid_t Owners::pick_reusable(std::mt19937_64& rng) {
  if (reusable_.empty() || !can_force_pid_) return 0;
  const auto at = reusable_.begin() + static_cast<long>(rng() % reusable_.size());
  const pid_t pid = *at;
  reusable_.erase(at);
  return pid > 1 ? pid : 0;
}

void Owners::start(OwnerKind kind, unsigned keys, bool churn, bool reuse_pid, std::mt19937_64& rng) {
  const std::uint64_t serial = next_serial_++;
  std::vector<std::string> argv;
  if (kind == OwnerKind::library)
    argv = {paths_.agent, "owner", paths_.ns, paths_.socket, std::to_string(serial), std::to_string(keys),
            churn ? "1" : "0"};
  else
    argv = {paths_.agent, "cli-owner", paths_.cli, paths_.ns, paths_.socket, std::to_string(serial),
            kind == OwnerKind::cli_exec ? "exec" : "hold"};
  const pid_t wanted = reuse_pid ? pick_reusable(rng) : 0;
  if (wanted > 0 && !force_next_pid(wanted)) can_force_pid_ = false;
  test::Subprocess p = test::Subprocess::spawn(argv, {.stdout_path = paths_.fifo, .stderr_path = paths_.owners_log});
  const pid_t pid = p.pid();
  if (wanted > 0 && pid == wanted)
    ++totals_.pid_reuses_forced;
  else if (seen_pids_.contains(pid))
    ++totals_.pid_reuses_natural;
  seen_pids_.insert(pid);
  model_.add(serial, pid, kind, churn && kind == OwnerKind::library);
  processes_.emplace(serial, std::move(p));
  ++totals_.owners_started;
  ++(kind == OwnerKind::library ? totals_.library_owners : totals_.cli_owners);
}

void Owners::kill(const std::vector<std::uint64_t>& serials, int sig) {
  for (const auto serial : serials) {
    auto it = processes_.find(serial);
    if (it == processes_.end()) continue;
    it->second.signal(sig);
    ++(sig == SIGKILL ? totals_.kills : totals_.sigterms);
  }
  for (const auto serial : serials) {
    auto it = processes_.find(serial);
    if (it == processes_.end()) continue;
    const pid_t pid = it->second.pid();
    if (!it->second.wait()) {
      problems_.push_back("owner " + std::to_string(serial) + " (pid " + std::to_string(pid) +
                          ") still runs after signal " + std::to_string(sig));
      ++totals_.unexpected_exits;
      (void)it->second.kill_and_wait();
    }
    reaped(serial, pid);
  }
}

void Owners::reaped(std::uint64_t serial, pid_t pid) {
  processes_.erase(serial);
  model_.died(serial, Clock::now());
  reusable_.push_back(pid);
  if (reusable_.size() > kReusablePids) reusable_.pop_front();
}

void Owners::read_reports() {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fifo_read_.get(), buf, sizeof buf);
    if (n <= 0) break;
    partial_.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t from = 0;
  for (std::size_t nl; (nl = partial_.find('\n', from)) != std::string::npos; from = nl + 1) {
    std::vector<std::string> failures;
    const std::string_view line = std::string_view(partial_).substr(from, nl - from);
    // Lines that are neither a report nor the holding CLI's are skipped.
    if (!model_.apply_report(line, failures))
      for (const auto& r : reports_of_cli_line(line)) (void)model_.apply_report(r, failures);
    totals_.failed_registrations += failures.size();
    problems_.insert(problems_.end(), failures.begin(), failures.end());
  }
  partial_.erase(0, from);
  totals_.confirmed = model_.confirmed_total();
}

// A CLI owner whose registration failed exits (the broker was down or went
// down during the call); anything else that ends without the loop's signal
// is a failure.
void Owners::reap_unasked() {
  std::vector<std::pair<std::uint64_t, pid_t>> ended;
  for (auto& [serial, p] : processes_) {
    if (p.running()) continue;
    const pid_t pid = p.pid();
    const auto status = p.wait(test::kTimeout);
    const OwnerRecord* o = model_.find(serial);
    const bool cli_refused = o != nullptr && o->kind != OwnerKind::library && !o->done && status && WIFEXITED(*status);
    if (!cli_refused) {
      ++totals_.unexpected_exits;
      problems_.push_back("owner " + std::to_string(serial) + " (pid " + std::to_string(pid) + ") " +
                          (status ? test::describe_wait_status(*status) : std::string("could not be reaped")) +
                          " unasked");
    }
    ended.emplace_back(serial, pid);
  }
  for (const auto& [serial, pid] : ended) reaped(serial, pid);
}

void Owners::pump(Clock::duration wait) {
  pollfd p{fifo_read_.get(), POLLIN, 0};
  // A wait computed from a deadline that has just passed is negative, which
  // poll() reads as "forever": it is a poll that returns at once.
  const auto ms = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
  (void)::poll(&p, 1, static_cast<int>(ms));
  read_reports();
  reap_unasked();
}

void Owners::pump_for(Clock::duration d) {
  const auto deadline = Clock::now() + d;
  do {
    pump(std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(20)));
  } while (Clock::now() < deadline);
}

bool Owners::wait_done(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pending = [&] {
    for (const auto& [serial, o] : model_.owners())
      if (o.alive && !o.done) return &o;
    return static_cast<const OwnerRecord*>(nullptr);
  };
  while (pending() != nullptr && Clock::now() < deadline) pump(std::chrono::milliseconds(20));
  if (const OwnerRecord* o = pending()) {
    problems_.push_back("owner " + std::to_string(o->serial) + " (pid " + std::to_string(o->pid) +
                        ") has not finished registering by the deadline");
    return false;
  }
  return true;
}

std::vector<std::unique_ptr<test::StoppedBroker>> Owners::hold_churners() {
  std::vector<std::unique_ptr<test::StoppedBroker>> held;
  for (const auto& [serial, o] : model_.owners())
    if (o.alive && o.churn) held.push_back(std::make_unique<test::StoppedBroker>(o.pid));
  return held;
}

std::size_t Owners::churners() const {
  std::size_t n = 0;
  for (const auto& [serial, o] : model_.owners()) n += o.alive && o.churn ? 1 : 0;
  return n;
}

std::vector<std::string> Owners::take_problems() { return std::exchange(problems_, {}); }

}  // namespace shmreg::chaos
