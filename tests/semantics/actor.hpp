// Actor: a forked child process that uses libshmreg as the test tells it, one
// command line at a time, for the registry-semantics suites. Each actor is a
// real process with its own pid, so ownership, reaping and the broker's
// permission checks see exactly what they would in production.
//
// Commands are tab-separated fields (values in the tests hold no tabs; an
// empty field is allowed). Answers: "ok[\t...]" or "error\t<errc>\t<pid>\t<message>".
//   create REG unique|duplicate [MAX_VALUE [CAPACITY]]   -> ok
//   register REG KEY VALUE                    -> ok VERSION
//   register_filled REG KEY SIZE              -> ok VERSION  (a value of SIZE 'x's)
//   register_for PID REG KEY VALUE            -> ok VERSION  (the client opens a pidfd for PID)
//   register_for_pidfd PID REG KEY VALUE      -> ok VERSION  (the actor opens the pidfd itself)
//   hold_pidfd PID                            -> ok  (opens a pidfd now, kept for register_for_held)
//   register_for_held REG KEY VALUE           -> ok VERSION
//   update REG KEY VALUE [PID]                -> ok VERSION OLD NEW  (update_value; PID: acting for it)
//   update_throwing REG KEY                   -> the error of an update function that throws
//   set REG KEY VALUE EXPECTED|-              -> ok VERSION
//   increment REG KEY COUNT THREADS           -> ok  (THREADS threads, each COUNT update_value +1s)
//   unregister_match REG KEY PATTERN GUARDS [PID] -> ok REMOVED
//   lookup_consistent REG KEY                 -> ok PID=VALUE,...  (in the broker's order)
//   put_meta REG KEY VALUE                    -> ok
//   delete_meta REG KEY                       -> ok 1|0
//   setresuid R E S                           -> ok  (before the actor's first write, which connects)
//   open_mailbox                              -> ok  (another Mailbox each time; the old one stays open)
//   close_mailbox                             -> ok  (closes every mailbox the actor opened)
//   receive MS                                -> ok SENDER_PID SENDER_UID DROPPED REG KEY BODY_HEX | ok none
//   receive_seq COUNT MS                      -> ok DROPPED_TOTAL  (COUNT messages "0".."COUNT-1", in order)
//   reopened                                  -> ok N  (Mailbox::reopened of the newest mailbox)
//   send REG KEY BODY                         -> ok PID,PID... NO_MAILBOX MAILBOX_FULL
//   send_seq REG KEY COUNT                    -> ok DELIVERED FULL  (bodies "0".."COUNT-1")
// The actor answers "ready" once its Client is open and exits 0 when the test
// closes the channel.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <grp.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker_test.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::semantics_test {

using namespace shmreg::test;

inline std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

inline std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "\t" : "") + fields[i];
  return out;
}

inline std::string error_line(const shmreg::Error& e) {
  return join_fields({"error", std::string(shmreg::to_string(e.code)), std::to_string(e.pid), e.message});
}

inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

template <class T>
std::string reply_line(const shmreg::Result<T>& r, const std::string& ok) {
  return r ? ok : error_line(r.error());
}

class Actor {
 public:
  static Actor start(const std::string& ns, const std::string& socket) {
    Actor a;
    a.child_ = ForkedChild::start([ns, socket](ChildChannel& ch) { return serve(ch, ns, socket); });
    a.ready_ = a.child_.receive() == std::optional<std::string>("ready");
    return a;
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return child_.pid(); }
  ForkedChild& process() { return child_; }

  // The answer's fields; {"no answer"} if the actor did not answer.
  std::vector<std::string> ask(const std::vector<std::string>& command) {
    auto line = child_.request(join_fields(command));
    if (!line) return {"no answer"};
    return split_fields(*line);
  }
  // Sends without waiting for the answer (collect it with answer()).
  bool send(const std::vector<std::string>& command) { return child_.send(join_fields(command)); }
  std::vector<std::string> answer() {
    auto line = child_.receive();
    if (!line) return {"no answer"};
    return split_fields(*line);
  }

 private:
  static int serve(ChildChannel& ch, const std::string& ns, const std::string& socket) {
    auto client = shmreg::Client::open({ns, socket});
    if (!client) return child_report(ch, error_line(client.error()));
    ch.send("ready");
    int held_pidfd = -1;
    std::vector<shmreg::Mailbox> mailboxes;
    while (auto line = ch.receive()) {
      const std::vector<std::string> f = split_fields(*line);
      auto answer = run_mailbox(*client, f, mailboxes);
      ch.send(answer ? *answer : run(*client, f, held_pidfd));
    }
    return 0;
  }

  static std::string send_line(const shmreg::Result<shmreg::SendReport>& r) {
    if (!r) return error_line(r.error());
    std::string pids;
    for (auto pid : r->delivered_to) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    return join_fields({"ok", pids, std::to_string(r->no_mailbox), std::to_string(r->mailbox_full)});
  }

  // The send-by-name commands; nullopt for any other command.
  static std::optional<std::string> run_mailbox(const shmreg::Client& c, const std::vector<std::string>& f,
                                                std::vector<shmreg::Mailbox>& mailboxes) {
    const std::string& cmd = f[0];
    const std::size_t n = f.size();
    if (cmd == "open_mailbox" && n == 1) {
      auto m = shmreg::Mailbox::open(c);
      if (!m) return error_line(m.error());
      mailboxes.push_back(std::move(*m));
      return "ok";
    }
    if (cmd == "close_mailbox" && n == 1) {
      mailboxes.clear();
      return "ok";
    }
    if (cmd == "reopened" && n == 1 && !mailboxes.empty())
      return "ok\t" + std::to_string(mailboxes.back().reopened());
    if (cmd == "receive" && n == 2 && !mailboxes.empty()) {
      auto m = mailboxes.back().receive(std::chrono::milliseconds(std::stol(f[1])));
      if (!m) return error_line(m.error());
      if (!*m) return "ok\tnone";
      const shmreg::Message& x = **m;
      return join_fields({"ok", std::to_string(x.sender_pid), std::to_string(x.sender_uid), std::to_string(x.dropped),
                          x.registry, x.key, to_hex(x.body)});
    }
    if (cmd == "receive_seq" && n == 3 && !mailboxes.empty()) {
      std::uint64_t dropped = 0;
      for (long i = 0; i < std::stol(f[1]); ++i) {
        auto m = mailboxes.back().receive(std::chrono::milliseconds(std::stol(f[2])));
        if (!m) return error_line(m.error());
        if (!*m) return "error\ttimeout\t0\tmessage " + std::to_string(i) + " did not come";
        if ((*m)->body != std::to_string(i))
          return "error\torder\t0\tmessage " + std::to_string(i) + " was '" + (*m)->body + "'";
        dropped += (*m)->dropped;
      }
      return "ok\t" + std::to_string(dropped);
    }
    if (cmd == "send" && n == 4) return send_line(c.send(f[1], f[2], f[3]));
    if (cmd == "send_seq" && n == 4) {
      std::uint64_t delivered = 0, full = 0;
      for (long i = 0; i < std::stol(f[3]); ++i) {
        auto r = c.send(f[1], f[2], std::to_string(i));
        if (r)
          ++delivered;
        else if (r.error().code == shmreg::Errc::mailbox_full)
          ++full;
        else
          return error_line(r.error());
      }
      return join_fields({"ok", std::to_string(delivered), std::to_string(full)});
    }
    return std::nullopt;
  }

  static std::string run(const shmreg::Client& c, const std::vector<std::string>& f, int& held_pidfd) {
    const std::string& cmd = f[0];
    const std::size_t n = f.size();
    auto pid_at = [&](std::size_t i) { return static_cast<std::uint32_t>(std::stoul(f[i])); };
    if (cmd == "create" && n >= 3) {
      shmreg::RegistryOptions o;
      o.unique = f[2] == "unique";
      if (n >= 4) o.max_value = static_cast<std::uint32_t>(std::stoul(f[3]));
      if (n >= 5) o.capacity = static_cast<std::uint32_t>(std::stoul(f[4]));
      return reply_line(c.create_registry(f[1], o), "ok");
    }
    if (cmd == "register" && n == 4) {
      auto r = c.register_key(f[1], f[2], f[3]);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "register_filled" && n == 4) {
      auto r = c.register_key(f[1], f[2], std::string(std::stoul(f[3]), 'x'));
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "register_for" && n == 5) {
      auto r = c.register_key_for(shmreg::ProcessRef::pid(pid_at(1)), f[2], f[3], f[4]);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "register_for_pidfd" && n == 5) {
      const int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid_at(1)), 0));
      if (fd < 0) return "error\tpidfd_open\t0\tfailed";
      auto r = c.register_key_for(shmreg::ProcessRef::pidfd(fd), f[2], f[3], f[4]);
      ::close(fd);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "hold_pidfd" && n == 2) {
      held_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid_at(1)), 0));
      return held_pidfd >= 0 ? "ok" : "error\tpidfd_open\t0\tfailed";
    }
    if (cmd == "register_for_held" && n == 4) {
      auto r = c.register_key_for(shmreg::ProcessRef::pidfd(held_pidfd), f[1], f[2], f[3]);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "update" && (n == 4 || n == 5)) {
      const std::string next = f[3];
      const shmreg::ProcessRef owner = n == 5 ? shmreg::ProcessRef::pid(pid_at(4)) : shmreg::ProcessRef();
      auto r = c.update_value(f[1], f[2], [&](std::string_view) { return next; }, owner);
      return reply_line(r, r ? join_fields({"ok", std::to_string(r->version), r->old_value, r->new_value}) : "");
    }
    if (cmd == "update_throwing" && n == 3) {
      auto r = c.update_value(f[1], f[2], [](std::string_view) -> std::string { throw std::runtime_error("no"); });
      return reply_line(r, "ok");
    }
    if (cmd == "set" && n == 5) {
      std::optional<std::uint64_t> expected;
      if (f[4] != "-") expected = std::stoull(f[4]);
      auto r = c.set_value(f[1], f[2], f[3], expected);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "increment" && n == 5) {
      const int count = std::stoi(f[3]);
      std::atomic<bool> failed{false};
      std::string failure;
      std::vector<std::thread> threads;
      for (int t = 0; t < std::stoi(f[4]); ++t)
        threads.emplace_back([&] {
          for (int i = 0; i < count; ++i) {
            auto r = c.update_value(f[1], f[2], [](std::string_view old) { return std::to_string(std::stol(std::string(old)) + 1); });
            if (!r && !failed.exchange(true)) failure = error_line(r.error());
          }
        });
      for (auto& t : threads) t.join();
      return failed ? failure : "ok";
    }
    if (cmd == "unregister_match" && (n == 5 || n == 6)) {
      const shmreg::ProcessRef owner = n == 6 ? shmreg::ProcessRef::pid(pid_at(5)) : shmreg::ProcessRef();
      auto r = c.unregister_match(f[1], f[2], f[3], f[4], owner);
      return reply_line(r, r ? "ok\t" + std::to_string(*r) : "");
    }
    if (cmd == "lookup_consistent" && n == 3) {
      auto r = c.lookup_consistent(f[1], f[2]);
      if (!r) return error_line(r.error());
      std::string list;
      for (const auto& e : *r) list += (list.empty() ? "" : ",") + std::to_string(e.pid) + "=" + e.value;
      return "ok\t" + list;
    }
    if (cmd == "put_meta" && n == 4) return reply_line(c.put_meta(f[1], f[2], f[3]), "ok");
    if (cmd == "delete_meta" && n == 3) {
      auto r = c.delete_meta(f[1], f[2]);
      return reply_line(r, r ? std::string(*r ? "ok\t1" : "ok\t0") : "");
    }
    if (cmd == "setresuid" && n == 4) {
      // Groups first, while still allowed to change them.
      if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0) return "error\tsetresgid\t0\tfailed";
      if (::setresuid(static_cast<uid_t>(std::stoul(f[1])), static_cast<uid_t>(std::stoul(f[2])),
                      static_cast<uid_t>(std::stoul(f[3]))) != 0)
        return "error\tsetresuid\t0\tfailed";
      return "ok";
    }
    return "error\tbad_command\t0\t" + join_fields(f);
  }

  ForkedChild child_;
  bool ready_ = false;
};

// A process that only exists: the target of writes on its behalf. It waits
// until the test closes its channel (or kills it).
inline ForkedChild start_bystander() {
  return ForkedChild::start([](ChildChannel& ch) {
    ch.send("ready");
    while (ch.receive()) ch.send("ok");
    return 0;
  });
}

// A bystander that first drops to the given real, effective and saved uids.
inline ForkedChild start_bystander_as(uid_t real, uid_t effective, uid_t saved) {
  return ForkedChild::start([=](ChildChannel& ch) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(real, effective, saved) != 0)
      return child_report(ch, "setresuid failed");
    ch.send("ready");
    while (ch.receive()) ch.send("ok");
    return 0;
  });
}

}  // namespace shmreg::semantics_test
