// The CLI's event and owner-queue commands (see cmd_events.hpp).
#include "cmd_events.hpp"

#include "cli_output.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "shmreg/shmreg.hpp"

namespace shmreg::tools {

namespace {

using nlohmann::json;

using namespace cli;

int report(bool as_json, const Error& e) { return report_error(as_json, e); }

std::optional<Registry> open_registry(const std::string& ns, const std::string& socket, const std::string& name,
                                      bool as_json, int& rc) {
  auto c = Client::open({ns, socket});
  if (!c) {
    rc = report(as_json, c.error());
    return std::nullopt;
  }
  auto r = c->registry(name);
  if (!r) {
    rc = report(as_json, r.error());
    return std::nullopt;
  }
  return std::move(*r);
}

std::chrono::nanoseconds to_duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return std::chrono::hours(24 * 365 * 100);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

}  // namespace

int hold_or_exec(const std::vector<std::string>& cmd, const std::function<void()>& on_stop) {
  if (!cmd.empty()) {
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::cerr << "shmreg: cannot run " << cmd[0] << ": " << std::strerror(errno) << "\n";
    return 127;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  int sig = 0;
  sigwait(&stop, &sig);
  on_stop();
  return kExitOk;
}

EventCommands::EventCommands(CLI::App& app, CLI::App* register_cmd, const std::string& reg, const std::string& key,
                             const std::string& value)
    : register_(register_cmd), register_reg_(reg), register_key_(key), register_value_(value) {
  watch_ = app.add_subcommand("watch", "print REG's events as they happen (one per line), optionally only KEY's");
  watch_->add_option("REG", reg_, "registry name")->required();
  watch_->add_option("KEY", key_, "only this key's events");
  watch_->add_option("--from", from_, "start at this sequence (default: the next event)");
  watch_->add_option("--count", count_, "stop after this many events");
  watch_->add_option("--timeout", timeout_s_, "stop after this many seconds");

  await_ = app.add_subcommand("await", "wait until KEY is registered in REG; exit 0 then, 1 on timeout");
  await_->add_option("REG", reg_, "registry name")->required();
  await_->add_option("KEY", key_, "key")->required();
  await_->add_option("--timeout", timeout_s_, "give up after this many seconds (default: wait for ever)");

  queue_ = app.add_subcommand("queue", "print KEY's owner queue: PID<TAB>VALUE<TAB>primary|queued; exit 1 if none");
  queue_->add_option("REG", reg_, "registry name")->required();
  queue_->add_option("KEY", key_, "key")->required();

  register_cmd->add_flag("--queue", queue_flag_, "D-Bus rules: wait in the owner queue if KEY is taken");
  register_cmd->add_flag("--allow-replacement", allow_replacement_,
                         "D-Bus rules: let a later --replace-existing take KEY over");
  register_cmd->add_flag("--replace-existing", replace_existing_,
                         "D-Bus rules: take KEY over if its owner allows replacement");
  register_cmd->add_flag("--do-not-queue", do_not_queue_, "D-Bus rules: fail (exit 3) instead of queueing");
}

std::optional<int> EventCommands::run(const std::string& ns, const std::string& socket, bool json,
                                      const std::vector<std::string>& exec_cmd) const {
  if (watch_->parsed()) return watch(ns, json);
  if (await_->parsed()) return await(ns, json);
  if (queue_->parsed()) return queue(ns, json);
  if (register_->parsed() && (queue_flag_ || allow_replacement_ || replace_existing_ || do_not_queue_))
    return request_name(ns, socket, json, exec_cmd);
  return std::nullopt;
}

int EventCommands::watch(const std::string& ns, bool as_json) const {
  int rc = 0;
  auto reg = open_registry(ns, {}, reg_, as_json, rc);
  if (!reg) return rc;
  Watcher w = reg->watch(key_.empty() ? std::nullopt : std::optional<std::string>(key_), from_);
  const auto deadline = std::chrono::steady_clock::now() + to_duration(timeout_s_);
  std::uint64_t seen = 0;
  while (count_ == 0 || seen < count_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto events = w.next(std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::seconds(1)));
    if (!events) return report(as_json, events.error());
    for (const Event& e : *events) {
      if (as_json) {
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
      if (count_ != 0 && ++seen >= count_) break;
    }
  }
  return kExitOk;
}

int EventCommands::await(const std::string& ns, bool as_json) const {
  int rc = 0;
  auto reg = open_registry(ns, {}, reg_, as_json, rc);
  if (!reg) return rc;
  auto got = reg->await(key_, to_duration(timeout_s_));
  if (!got) return report(as_json, got.error());
  if (as_json) std::cout << to_json_text({{"registry", reg_}, {"key", key_}, {"registered", *got}}) << "\n";
  return *got ? kExitOk : kExitNotFound;
}

int EventCommands::queue(const std::string& ns, bool as_json) const {
  int rc = 0;
  auto reg = open_registry(ns, {}, reg_, as_json, rc);
  if (!reg) return rc;
  auto q = reg->owner_queue(key_);
  if (!q) return report(as_json, q.error());
  if (as_json) {
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

int EventCommands::request_name(const std::string& ns, const std::string& socket, bool as_json,
                                const std::vector<std::string>& exec_cmd) const {
  auto c = Client::open({ns, socket});
  if (!c) return report(as_json, c.error());
  std::uint8_t flags = 0;
  if (allow_replacement_) flags |= kAllowReplacement;
  if (replace_existing_) flags |= kReplaceExisting;
  if (do_not_queue_) flags |= kDoNotQueue;
  auto r = c->request_name(register_reg_, register_key_, register_value_, flags);
  if (!r) return report(as_json, r.error());
  if (r->reply == QueueReply::exists) {
    if (as_json)
      std::cerr << to_json_text({{"error", "already_registered"}, {"pid", r->owner_pid}, {"reply", "exists"}}) << "\n";
    else
      std::cerr << "already registered by PID " << r->owner_pid << "\n";
    return kExitAlreadyRegistered;
  }
  if (exec_cmd.empty()) {
    if (as_json)
      std::cout << to_json_text({{"reply", std::string(to_string(r->reply))}, {"owner_pid", r->owner_pid}, {"pid", ::getpid()}})
                << std::endl;
    else
      std::cout << to_string(r->reply) << " (owner pid " << r->owner_pid << ")" << std::endl;
  }
  const std::string reg = register_reg_, key = register_key_;
  return hold_or_exec(exec_cmd, [&] { (void)c->unregister(reg, key); });
}

}  // namespace shmreg::tools
