// The command interpreter of an Actor, run in the forked child (see
// actor.hpp for the commands). Commands are grouped by op family; each group
// answers the commands it knows and returns nullopt for the others.
#include "actor_commands.hpp"

#include <grp.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "actor.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/shmreg.hpp"
#include "shmreg/sys/pidfd.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::test {

namespace {

using Fields = std::vector<std::string>;

// What an actor holds between commands.
struct ActorState {
  std::string ns;
  std::string socket;
  std::optional<shmreg::Client> client;
  std::vector<shmreg::Mailbox> mailboxes;
  sys::UniqueFd held_pidfd;  // hold_pidfd, for register_for_held
};

template <class T>
std::string reply_line(const shmreg::Result<T>& r, const std::string& ok) {
  return r ? ok : error_line(r.error());
}

// "ok\t<the result>" for results that are one number.
template <class T>
std::string number_line(const shmreg::Result<T>& r) {
  return r ? "ok\t" + std::to_string(*r) : error_line(r.error());
}

std::uint32_t pid_at(const Fields& f, std::size_t i) { return static_cast<std::uint32_t>(std::stoul(f[i])); }

// ping, open, close, setresuid: the actor's connection and identity.
std::optional<std::string> run_connection(ActorState& s, const Fields& f) {
  const std::string& cmd = f[0];
  const std::size_t n = f.size();
  if (cmd == "open" && n == 1) {
    auto c = shmreg::Client::open({s.ns, s.socket});
    if (!c) return error_line(c.error());
    s.mailboxes.clear();
    s.client.emplace(std::move(*c));
    return "ok";
  }
  if (cmd == "close" && n == 1) {
    s.mailboxes.clear();
    s.client.reset();
    return "ok";
  }
  if (cmd == "setresuid" && n == 4) {
    // Groups first, while still allowed to change them.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0) return "error\tsetresgid\t0\tfailed";
    if (::setresuid(static_cast<uid_t>(std::stoul(f[1])), static_cast<uid_t>(std::stoul(f[2])),
                    static_cast<uid_t>(std::stoul(f[3]))) != 0)
      return "error\tsetresuid\t0\tfailed";
    return "ok";
  }
  if (!s.client) return "error\tno_client\t0\tclosed";
  if (cmd == "ping" && n == 1) return number_line(s.client->ping());
  return std::nullopt;
}

// create, register*, unregister, unregister_match.
std::optional<std::string> run_registration(const shmreg::Client& c, ActorState& s, const Fields& f) {
  const std::string& cmd = f[0];
  const std::size_t n = f.size();
  if (cmd == "create" && n >= 3) {
    shmreg::RegistryOptions o;
    o.unique = f[2] == "unique";
    if (n >= 4) o.max_value = static_cast<std::uint32_t>(std::stoul(f[3]));
    if (n >= 5) o.capacity = static_cast<std::uint32_t>(std::stoul(f[4]));
    return reply_line(c.create_registry(f[1], o), "ok");
  }
  if (cmd == "register" && n == 4) return number_line(c.register_key(f[1], f[2], f[3]));
  if (cmd == "register_filled" && n == 4)
    return number_line(c.register_key(f[1], f[2], std::string(std::stoul(f[3]), 'x')));
  if (cmd == "register_for" && n == 5)
    return number_line(c.register_key_for(shmreg::ProcessRef::pid(pid_at(f, 1)), f[2], f[3], f[4]));
  if (cmd == "register_for_pidfd" && n == 5) {
    const sys::UniqueFd fd = sys::open_pidfd(static_cast<pid_t>(pid_at(f, 1)));
    if (!fd) return "error\tpidfd_open\t0\tfailed";
    return number_line(c.register_key_for(shmreg::ProcessRef::pidfd(fd.get()), f[2], f[3], f[4]));
  }
  if (cmd == "hold_pidfd" && n == 2) {
    s.held_pidfd = sys::open_pidfd(static_cast<pid_t>(pid_at(f, 1)));
    return s.held_pidfd ? "ok" : "error\tpidfd_open\t0\tfailed";
  }
  if (cmd == "register_for_held" && n == 4)
    return number_line(c.register_key_for(shmreg::ProcessRef::pidfd(s.held_pidfd.get()), f[1], f[2], f[3]));
  if (cmd == "unregister" && n == 3) return number_line(c.unregister(f[1], f[2]));
  if (cmd == "unregister_match" && (n == 5 || n == 6)) {
    const shmreg::ProcessRef owner = n == 6 ? shmreg::ProcessRef::pid(pid_at(f, 5)) : shmreg::ProcessRef();
    return number_line(c.unregister_match(f[1], f[2], f[3], f[4], owner));
  }
  return std::nullopt;
}

// increment: THREADS threads, each COUNT update_value +1s on one key.
std::string increment(const shmreg::Client& c, const Fields& f) {
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

// update, update_throwing, set, increment, put_meta, delete_meta, and the
// consistent lookup that reads them back through the broker.
std::optional<std::string> run_values(const shmreg::Client& c, const Fields& f) {
  const std::string& cmd = f[0];
  const std::size_t n = f.size();
  if (cmd == "update" && (n == 4 || n == 5)) {
    const std::string next = f[3];
    const shmreg::ProcessRef owner = n == 5 ? shmreg::ProcessRef::pid(pid_at(f, 4)) : shmreg::ProcessRef();
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
    return number_line(c.set_value(f[1], f[2], f[3], expected));
  }
  if (cmd == "increment" && n == 5) return increment(c, f);
  if (cmd == "put_meta" && n == 4) return reply_line(c.put_meta(f[1], f[2], f[3]), "ok");
  if (cmd == "delete_meta" && n == 3) {
    auto r = c.delete_meta(f[1], f[2]);
    return reply_line(r, r ? std::string(*r ? "ok\t1" : "ok\t0") : "");
  }
  if (cmd == "lookup_consistent" && n == 3) {
    auto r = c.lookup_consistent(f[1], f[2]);
    if (!r) return error_line(r.error());
    std::string list;
    for (const auto& e : *r) list += (list.empty() ? "" : ",") + std::to_string(e.pid) + "=" + e.value;
    return "ok\t" + list;
  }
  return std::nullopt;
}

std::string send_line(const shmreg::Result<shmreg::SendReport>& r) {
  if (!r) return error_line(r.error());
  std::string pids;
  for (auto pid : r->delivered_to) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
  return join_fields({"ok", pids, std::to_string(r->no_mailbox), std::to_string(r->mailbox_full)});
}

// receive_seq: COUNT messages "0".."COUNT-1", in order, each within MS.
std::string receive_seq(shmreg::Mailbox& mailbox, const Fields& f) {
  std::uint64_t dropped = 0;
  for (long i = 0; i < std::stol(f[1]); ++i) {
    auto m = mailbox.receive(std::chrono::milliseconds(std::stol(f[2])));
    if (!m) return error_line(m.error());
    if (!*m) return "error\ttimeout\t0\tmessage " + std::to_string(i) + " did not come";
    if ((*m)->body != std::to_string(i))
      return "error\torder\t0\tmessage " + std::to_string(i) + " was '" + (*m)->body + "'";
    dropped += (*m)->dropped;
  }
  return "ok\t" + std::to_string(dropped);
}

// send_seq: COUNT sends of "0".."COUNT-1", counting deliveries and full mailboxes.
std::string send_seq(const shmreg::Client& c, const Fields& f) {
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

// open_mailbox, close_mailbox, reopened, receive, receive_seq, send, send_seq.
std::optional<std::string> run_mailboxes(const shmreg::Client& c, ActorState& s, const Fields& f) {
  const std::string& cmd = f[0];
  const std::size_t n = f.size();
  if (cmd == "open_mailbox" && n == 1) {
    auto m = shmreg::Mailbox::open(c);
    if (!m) return error_line(m.error());
    s.mailboxes.push_back(std::move(*m));
    return "ok";
  }
  if (cmd == "close_mailbox" && n == 1) {
    s.mailboxes.clear();
    return "ok";
  }
  if (cmd == "send" && n == 4) return send_line(c.send(f[1], f[2], f[3]));
  if (cmd == "send_seq" && n == 4) return send_seq(c, f);
  if (s.mailboxes.empty()) return std::nullopt;
  shmreg::Mailbox& newest = s.mailboxes.back();
  if (cmd == "reopened" && n == 1) return "ok\t" + std::to_string(newest.reopened());
  if (cmd == "receive" && n == 2) {
    auto m = newest.receive(std::chrono::milliseconds(std::stol(f[1])));
    if (!m) return error_line(m.error());
    if (!*m) return "ok\tnone";
    const shmreg::Message& x = **m;
    return join_fields({"ok", std::to_string(x.sender_pid), std::to_string(x.sender_uid), std::to_string(x.dropped),
                        x.registry, x.key, to_hex(x.body)});
  }
  if (cmd == "receive_seq" && n == 3) return receive_seq(newest, f);
  return std::nullopt;
}

std::string run_command(ActorState& s, const Fields& f) {
  if (auto answer = run_connection(s, f)) return *answer;
  const shmreg::Client& c = *s.client;
  if (auto answer = run_registration(c, s, f)) return *answer;
  if (auto answer = run_values(c, f)) return *answer;
  if (auto answer = run_mailboxes(c, s, f)) return *answer;
  return "error\tbad_command\t0\t" + join_fields(f);
}

}  // namespace

int serve_actor(ChildChannel& ch, const std::string& ns, const std::string& socket) {
  ActorState s{ns, socket, std::nullopt, {}, {}};
  auto client = shmreg::Client::open({ns, socket});
  if (!client) return child_report(ch, error_line(client.error()));
  s.client.emplace(std::move(*client));
  ch.send("ready");
  while (auto line = ch.receive()) {
    const Fields f = split_fields(*line);
    if (f[0] == "exit" && f.size() == 2) return std::stoi(f[1]);
    ch.send(run_command(s, f));
  }
  return 0;
}

}  // namespace shmreg::test
