// Peers, measured the same way in the same run:
//
//   redis/GET, redis/SET           one client, no pipelining, over a Unix socket,
//                                  with a minimal RESP client written here.
//   dbus/GetNameOwner, RequestName a private bus, through sd-bus.
//   dbus/MethodCall                a call to a method of a service that owns a
//                                  well-known name, and its reply, through the
//                                  daemon (sd-bus on both sides).
//
// GET and GetNameOwner are the peers of a lookup; SET and RequestName are the
// peers of a register; MethodCall is the peer of a message sent by name and
// its echo (send_rt). Keys and values have the shmreg cases' sizes. A peer
// that was not given (or cannot be reached) is skipped with a message.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "e2e.hpp"
#include "shmreg/sys/io.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::bench::e2e {

namespace {

// -- A minimal RESP2 client ----------------------------------------------------------------------------

class Resp {
 public:
  Resp() = default;
  Resp(const Resp&) = delete;
  Resp& operator=(const Resp&) = delete;

  // Empty on success, else the reason.
  std::string connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return "socket path too long";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_ || ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      return "cannot connect to redis at " + path + ": " + std::strerror(errno);
    return {};
  }

  int fd() const noexcept { return fd_.get(); }

  // SET of every key to value, pipelined: all the commands in one write,
  // then the replies, each of which must be +OK. False otherwise.
  bool set_pipelined(const std::vector<std::string>& keys, std::string_view value) {
    out_.clear();
    for (const std::string& k : keys) {
      out_ += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n";
      out_ += k;
      out_ += "\r\n$" + std::to_string(value.size()) + "\r\n";
      out_.append(value);
      out_ += "\r\n";
    }
    if (!sys::write_all(fd_.get(), out_.data(), out_.size())) return false;
    in_.clear();
    const std::size_t need = keys.size() * 5;  // "+OK\r\n" each
    while (in_.size() < need)
      if (!fill()) return false;
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (in_.compare(i * 5, 5, "+OK\r\n") != 0) return false;
    return in_.size() == need;
  }

  // Sends one command and reads its reply. The reply's type byte goes to
  // *type and its payload (simple string, error, integer text or bulk
  // string) to *payload. False on a broken connection or a reply we cannot read.
  bool command(std::initializer_list<std::string_view> args, char* type, std::string_view* payload) {
    out_.clear();
    out_ += '*';
    out_ += std::to_string(args.size());
    out_ += "\r\n";
    for (std::string_view a : args) {
      out_ += '$';
      out_ += std::to_string(a.size());
      out_ += "\r\n";
      out_.append(a);
      out_ += "\r\n";
    }
    if (!sys::write_all(fd_.get(), out_.data(), out_.size())) return false;
    in_.clear();
    // Header line first, then (for a bulk string) the announced length.
    std::size_t eol = std::string::npos;
    while ((eol = in_.find("\r\n")) == std::string::npos)
      if (!fill()) return false;
    *type = in_[0];
    if (*type != '$') {
      *payload = std::string_view(in_).substr(1, eol - 1);
      return true;
    }
    const long len = std::strtol(in_.c_str() + 1, nullptr, 10);
    if (len < 0) {
      *payload = {};
      *type = '_';  // nil
      return true;
    }
    const std::size_t need = eol + 2 + static_cast<std::size_t>(len) + 2;
    while (in_.size() < need)
      if (!fill()) return false;
    *payload = std::string_view(in_).substr(eol + 2, static_cast<std::size_t>(len));
    return true;
  }

 private:
  bool fill() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  sys::UniqueFd fd_;
  std::string out_, in_;
};

std::unique_ptr<Resp> redis_connect(benchmark::State& state) {
  const std::string& path = options().redis_socket;
  if (path.empty()) {
    state.SkipWithError("Redis peer not configured: pass --redis-socket=PATH (scripts/bench-e2e.sh starts one)");
    return nullptr;
  }
  auto r = std::make_unique<Resp>();
  if (auto err = r->connect(path); !err.empty()) {
    state.SkipWithError(("Redis peer unavailable: " + err).c_str());
    return nullptr;
  }
  char t = 0;
  std::string_view pl;
  if (!r->command({"PING"}, &t, &pl) || t != '+') {
    state.SkipWithError("Redis peer unavailable: PING failed");
    return nullptr;
  }
  return r;
}

void bm_redis_get(benchmark::State& state, Placement p) {
  auto r = redis_connect(state);
  if (!r) return;
  const std::uint32_t nkeys = options().keys;
  std::vector<std::string> keys;
  char t = 0;
  std::string_view pl;
  for (std::uint32_t i = 0; i < nkeys; ++i) {
    keys.push_back(key_string("lookup/", i));
    if (!r->command({"SET", keys.back(), value_string(i)}, &t, &pl) || t != '+')
      return state.SkipWithError("Redis SET of the key set failed");
  }
  PlacementGuard guard(p, peer_pid(r->fd()));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const auto idx = random_indexes(nkeys, options().rt_ops, 43);
  for (int i = 0; i < 50; ++i) (void)r->command({"GET", keys[static_cast<std::size_t>(i) % nkeys]}, &t, &pl);

  std::vector<std::int64_t> samples;
  samples.reserve(idx.size());
  std::size_t i = 0;
  CpuMeter meter(peer_pid(r->fd()));
  auto get = [&] { return r->command({"GET", keys[idx[i++ % idx.size()]]}, &t, &pl) && t == '$' && pl.size() == kValueLen; };
  if (!time_each(state, samples, get)) return state.SkipWithError("Redis GET failed or returned the wrong value");
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

void bm_redis_set(benchmark::State& state, Placement p) {
  auto r = redis_connect(state);
  if (!r) return;
  static std::uint64_t run = 0;
  ++run;
  std::vector<std::string> keys;
  for (std::uint32_t i = 0; i < options().rt_ops; ++i)
    keys.push_back(key_string("set/" + std::to_string(run) + "/", i));
  const std::string value = value_string(run);
  PlacementGuard guard(p, peer_pid(r->fd()));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  char t = 0;
  std::string_view pl;
  for (int i = 0; i < 50; ++i) (void)r->command({"PING"}, &t, &pl);

  std::vector<std::int64_t> samples;
  samples.reserve(keys.size());
  std::size_t i = 0;
  CpuMeter meter(peer_pid(r->fd()));
  auto set = [&] { return r->command({"SET", keys[i++], value}, &t, &pl) && t == '+'; };
  if (!time_each(state, samples, set)) return state.SkipWithError("Redis SET failed");
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

// A thousand SETs through one connection, pipelined: the peer of a WriteBatch
// of a thousand registrations (register_batch/client_api). One iteration is
// one batch of fresh keys; the keys are deleted (untimed) between batches.
void bm_redis_set_pipelined(benchmark::State& state, Placement p) {
  auto r = redis_connect(state);
  if (!r) return;
  static std::uint64_t run = 0;
  ++run;
  const std::string value = value_string(run);
  PlacementGuard guard(p, peer_pid(r->fd()));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  char t = 0;
  std::string_view pl;
  std::vector<std::string> keys(kBatchEntries);
  std::vector<std::int64_t> samples;
  std::uint64_t round = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < keys.size(); ++i)
      keys[i] = key_string("pipe/" + std::to_string(run) + "/" + std::to_string(round) + "/", i);
    const std::int64_t t0 = now_ns();
    const bool ok = r->set_pipelined(keys, value);
    const std::int64_t t1 = now_ns();
    if (!ok) return state.SkipWithError("Redis pipelined SET failed");
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    for (const std::string& k : keys)
      if (!r->command({"DEL", k}, &t, &pl)) return state.SkipWithError("Redis DEL failed");
    ++round;
  }
  report_latency(state, samples);
  report_entries_per_second(state, samples, kBatchEntries);
}

// -- D-Bus through sd-bus -------------------------------------------------------------------------------------

struct BusDeleter {
  void operator()(sd_bus* b) const noexcept { sd_bus_flush_close_unref(b); }
};
using BusPtr = std::unique_ptr<sd_bus, BusDeleter>;

// A client connection to the private bus (sd_bus_open_user would find the
// user's bus, not ours).
BusPtr bus_connect(std::string& error) {
  const std::string& address = options().dbus_address;
  if (address.empty()) {
    error = "D-Bus peer not configured: pass --dbus-address=ADDRESS (scripts/bench-e2e.sh starts a private bus)";
    return nullptr;
  }
  sd_bus* raw = nullptr;
  int r = sd_bus_new(&raw);
  BusPtr bus(raw);
  if (r >= 0) r = sd_bus_set_address(raw, address.c_str());
  if (r >= 0) r = sd_bus_set_bus_client(raw, 1);
  if (r >= 0) r = sd_bus_start(raw);
  if (r < 0) {
    error = "D-Bus peer unavailable at " + address + ": " + std::strerror(-r);
    return nullptr;
  }
  return bus;
}

std::string bus_name(std::string_view kind, std::uint64_t run, std::uint64_t i) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "org.shmreg.e2e.%.*s%llu.k%016llx", static_cast<int>(kind.size()), kind.data(),
                static_cast<unsigned long long>(run), static_cast<unsigned long long>(i));
  return buf;
}

// Drops the signals (NameAcquired...) queued on a connection, untimed, so
// that sd_bus_call never scans a long queue for its reply.
void drain(sd_bus* bus) {
  while (sd_bus_process(bus, nullptr) > 0) {
  }
}

// RequestName with DO_NOT_QUEUE; true when this connection became the owner.
bool request_name(sd_bus* bus, const std::string& name) {
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  std::uint32_t code = 0;
  const int r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "RequestName", &err, &reply, "su", name.c_str(), 4u /* DO_NOT_QUEUE */);
  const bool ok = r >= 0 && sd_bus_message_read(reply, "u", &code) >= 0 && code == 1;
  sd_bus_message_unref(reply);
  sd_bus_error_free(&err);
  return ok;
}

void bm_dbus_get_name_owner(benchmark::State& state, Placement p) {
  std::string error;
  BusPtr owner = bus_connect(error);
  BusPtr client = owner ? bus_connect(error) : nullptr;
  if (!client) return state.SkipWithError(error.c_str());
  // The owner connection holds the name set; the client looks names up.
  const std::uint32_t nkeys = options().keys;
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < nkeys; ++i) {
    names.push_back(bus_name("lookup", 0, i));
    if (!request_name(owner.get(), names.back())) return state.SkipWithError("D-Bus RequestName of the name set failed");
  }
  drain(owner.get());
  const char* owner_unique = nullptr;
  sd_bus_get_unique_name(owner.get(), &owner_unique);
  const std::string expected = owner_unique != nullptr ? owner_unique : "";
  PlacementGuard guard(p, peer_pid(sd_bus_get_fd(client.get())));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const auto idx = random_indexes(nkeys, options().rt_ops, 44);

  auto get_owner = [&](const std::string& name, std::string& out) -> bool {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const char* s = nullptr;
    const int r = sd_bus_call_method(client.get(), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetNameOwner", &err, &reply, "s", name.c_str());
    const bool ok = r >= 0 && sd_bus_message_read(reply, "s", &s) >= 0 && s != nullptr;
    if (ok) out = s;
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return ok;
  };
  std::string got;
  for (int i = 0; i < 50; ++i) (void)get_owner(names[static_cast<std::size_t>(i) % nkeys], got);

  std::vector<std::int64_t> samples;
  samples.reserve(idx.size());
  std::size_t i = 0;
  CpuMeter meter(peer_pid(sd_bus_get_fd(client.get())));
  auto lookup = [&] { return get_owner(names[idx[i++ % idx.size()]], got) && got == expected; };
  if (!time_each(state, samples, lookup))
    return state.SkipWithError("D-Bus GetNameOwner failed or named the wrong owner");
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

void bm_dbus_request_name(benchmark::State& state, Placement p) {
  std::string error;
  // A fresh connection per run: closing it releases every name it took.
  BusPtr bus = bus_connect(error);
  if (!bus) return state.SkipWithError(error.c_str());
  static std::uint64_t run = 0;
  ++run;
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < options().rt_ops; ++i) names.push_back(bus_name("reg", run, i));
  PlacementGuard guard(p, peer_pid(sd_bus_get_fd(bus.get())));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  for (int i = 0; i < 50; ++i) (void)request_name(bus.get(), bus_name("warm", run, static_cast<std::uint64_t>(i)));
  drain(bus.get());

  std::vector<std::int64_t> samples;
  samples.reserve(names.size());
  std::size_t i = 0;
  CpuMeter meter(peer_pid(sd_bus_get_fd(bus.get())));
  for (auto _ : state) {
    const std::int64_t t0 = now_ns();
    const bool ok = request_name(bus.get(), names[i++]);
    const std::int64_t t1 = now_ns();
    if (!ok) {
      state.SkipWithError("D-Bus RequestName failed");
      return;
    }
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    drain(bus.get());
  }
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

// The service of dbus/MethodCall: a forked process with a connection of its
// own, which owns `name` and answers org.shmreg.e2e.Echo.Echo(s) -> s.
int echo_method(sd_bus_message* m, void*, sd_bus_error*) {
  const char* s = nullptr;
  if (sd_bus_message_read(m, "s", &s) < 0) return -EINVAL;
  return sd_bus_reply_method_return(m, "s", s);
}

const sd_bus_vtable kEchoVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Echo", "s", "s", echo_method, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

// Forks the service; its pid once it owns the name, or -1 (and `error`).
pid_t start_echo_service(const std::string& name, std::string& error) {
  sys::Pipe ready = sys::Pipe::make();
  if (!ready.read) {
    error = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ready.read.reset();
    std::string e;
    BusPtr bus = bus_connect(e);
    const bool ok = bus && sd_bus_add_object_vtable(bus.get(), nullptr, "/org/shmreg/e2e", "org.shmreg.e2e.Echo",
                                                    kEchoVtable, nullptr) >= 0 &&
                    request_name(bus.get(), name);
    const char c = ok ? '1' : '0';
    (void)sys::write_all(ready.write.get(), &c, 1);
    ready.write.reset();
    if (!ok) ::_exit(3);
    for (;;) {
      const int r = sd_bus_process(bus.get(), nullptr);
      if (r < 0) ::_exit(4);
      if (r == 0 && sd_bus_wait(bus.get(), UINT64_MAX) < 0) ::_exit(5);
    }
  }
  ready.write.reset();
  if (pid > 0 && await_ready(ready.read.get(), 1, 10000)) return pid;
  kill_and_reap(pid);
  error = "the D-Bus echo service did not start";
  return -1;
}

void bm_dbus_method_call(benchmark::State& state, Placement p) {
  std::string error;
  BusPtr client = bus_connect(error);
  if (!client) return state.SkipWithError(error.c_str());
  static std::uint64_t run = 0;
  const std::string name = bus_name("echo", ++run, 0);
  const pid_t service = start_echo_service(name, error);
  if (service < 0) return state.SkipWithError(error.c_str());
  struct Reaper {
    pid_t pid;
    ~Reaper() { kill_and_reap(pid); }
  } reaper{service};
  PlacementGuard guard(p, peer_pid(sd_bus_get_fd(client.get())));
  if (!guard.error().empty()) return state.SkipWithError(guard.error().c_str());
  const std::string body(32, 'm');
  auto call = [&]() -> bool {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const char* s = nullptr;
    const int r = sd_bus_call_method(client.get(), name.c_str(), "/org/shmreg/e2e", "org.shmreg.e2e.Echo", "Echo",
                                     &err, &reply, "s", body.c_str());
    const bool ok = r >= 0 && sd_bus_message_read(reply, "s", &s) >= 0 && s != nullptr && body == s;
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return ok;
  };
  for (int i = 0; i < 50; ++i)
    if (!call()) return state.SkipWithError("D-Bus Echo call failed");

  std::vector<std::int64_t> samples;
  samples.reserve(options().rt_ops);
  CpuMeter meter(peer_pid(sd_bus_get_fd(client.get())));
  if (!time_each(state, samples, call)) return state.SkipWithError("D-Bus Echo call failed");
  meter.finish(state, samples.size());
  report_latency(state, samples);
}

}  // namespace

void register_peer_cases(Group g, Placement p) {
  const Options& o = options();
  const std::string sp(to_string(p));
  switch (g) {
    case Group::round_trip:
      add_case("redis/SET/" + sp, [p](auto& s) { bm_redis_set(s, p); }, o.rt_ops);
      add_case("redis/SET_pipelined_1000/" + sp, [p](auto& s) { bm_redis_set_pipelined(s, p); }, kBatchRounds);
      add_case("dbus/RequestName/" + sp, [p](auto& s) { bm_dbus_request_name(s, p); }, o.rt_ops);
      add_case("dbus/MethodCall/" + sp, [p](auto& s) { bm_dbus_method_call(s, p); }, o.rt_ops);
      break;
    case Group::lookup:
      add_case("redis/GET/" + sp, [p](auto& s) { bm_redis_get(s, p); }, o.rt_ops);
      add_case("dbus/GetNameOwner/" + sp, [p](auto& s) { bm_dbus_get_name_owner(s, p); }, o.rt_ops);
      break;
    case Group::reap:
    case Group::mass_death:
      break;
  }
}

}  // namespace shmreg::bench::e2e
