// The kernel floors under shmreg's writes and reaping, measured the same way:
//
//   raw_rt/echo      a Unix-socket round trip of exactly the register request
//                    and reply frame sizes: blocking write, blocking read,
//                    against a child that reads N bytes and writes M back.
//   raw_rt/shaped    the same bytes with as many syscalls as libshmreg and the
//                    Asio broker make today: the client polls the socket
//                    before sending and reads header then payload (4 calls);
//                    the server is non-blocking, edge-triggered epoll, and
//                    makes 5 calls per request (the broker, under strace:
//                    epoll_wait, recv header, epoll_wait(0), recv payload,
//                    send; here: recv -> EAGAIN, epoll_wait, recv header, recv
//                    payload, send). No parsing, no segment write.
//   raw_rt/lean      what a leaner client and broker would make: the client
//                    sends and reads the whole reply with one recv; the
//                    epoll server reads whole frames into a buffer (recv ->
//                    EAGAIN, epoll_wait, recv, send: 4 calls).
//   reap_floor/pidfd_poll     SIGKILL a child, poll its pidfd in the killer.
//   reap_floor/pidfd_watcher  SIGKILL a child watched by another process that
//                    sleeps in epoll_wait on its pidfd and, when it turns
//                    readable, stores a flag in shared memory that the killer
//                    spins on: an ideal broker that does no work.
//   mass_death_floor/pidfd    SIGKILL a group of N children at once; time
//                    until epoll has reported all N pidfds readable.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "e2e.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"
#include "shmreg/sys/pidfd.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::bench::e2e {

namespace {

// The sizes of a register request frame and its reply, as the client and the
// broker encode them for the keys and values of the register case.
struct FrameSizes {
  std::size_t request = 0, reply = 0;
};

FrameSizes register_frame_sizes() {
  const proto::Op op = proto::RegisterKey{std::string(kRegRegister), key_string("reg/1/", 0), value_string(1)};
  const proto::OpResult res{proto::Status::ok, 123456, {}};
  return {proto::encode_request(1, std::span<const proto::Op>(&op, 1)).size(),
          proto::encode_reply(1, std::span<const proto::OpResult>(&res, 1)).size()};
}

enum class EchoKind { blocking, shaped, lean };

// Reads exactly n bytes from a non-blocking socket, sleeping in epoll_wait
// whenever a read would block.
bool recv_nb(int fd, int ep, char* p, std::size_t n) {
  epoll_event evs[16];
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
    } else if (r == 0) {
      return false;
    } else if (errno == EAGAIN) {
      if (::epoll_wait(ep, evs, 16, -1) < 0 && errno != EINTR) return false;
    } else if (errno != EINTR) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void echo_server(int fd, EchoKind kind, FrameSizes sz) {
  std::vector<char> in(sz.request), out(sz.reply, 'r');
  if (kind == EchoKind::blocking) {
    while (sys::read_full(fd, in.data(), in.size()) && sys::write_all(fd, out.data(), out.size())) {
    }
    ::_exit(0);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLET;
  ev.data.fd = fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  if (kind == EchoKind::shaped) {
    for (;;) {
      if (!recv_nb(fd, ep, in.data(), proto::kHeaderSize)) break;
      if (!recv_nb(fd, ep, in.data() + proto::kHeaderSize, sz.request - proto::kHeaderSize)) break;
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) break;
    }
    ::_exit(0);
  }
  // lean: whole frames into a buffer, one recv per readiness.
  std::vector<char> buf(4096);
  std::size_t have = 0;
  epoll_event evs[16];
  for (;;) {
    const ssize_t r = ::recv(fd, buf.data() + have, buf.size() - have, 0);
    if (r > 0) {
      have += static_cast<std::size_t>(r);
      while (have >= sz.request) {
        if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) ::_exit(0);
        std::memmove(buf.data(), buf.data() + sz.request, have - sz.request);
        have -= sz.request;
      }
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;
    } else if (errno == EAGAIN && ::epoll_wait(ep, evs, 16, -1) < 0 && errno != EINTR) {
      break;
    }
  }
  ::_exit(0);
}

void bm_raw_rt(benchmark::State& state, EchoKind kind, Placement p) {
  const FrameSizes sz = register_frame_sizes();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return state.SkipWithError(("socketpair: " + std::string(std::strerror(errno))).c_str());
  const pid_t server = ::fork();
  if (server == 0) {
    ::close(sv[0]);
    echo_server(sv[1], kind, sz);
  }
  ::close(sv[1]);
  const int fd = sv[0];
  if (server < 0) {
    ::close(fd);
    return state.SkipWithError("fork failed");
  }
  {
    PlacementGuard guard(p, server);
    if (!guard.error().empty()) {
      ::close(fd);
      kill_and_reap(server);
      return state.SkipWithError(guard.error().c_str());
    }
    std::vector<char> out(sz.request, 'q'), in(sz.reply);
    std::vector<char> rbuf(4096);
    auto round_trip = [&]() -> bool {
      if (kind == EchoKind::lean) {
        if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) return false;
        std::size_t got = 0;
        while (got < in.size()) {
          const ssize_t r = ::recv(fd, rbuf.data(), rbuf.size(), 0);
          if (r <= 0 && !(r < 0 && errno == EINTR)) return false;
          if (r > 0) got += static_cast<std::size_t>(r);
        }
        return true;
      }
      if (kind == EchoKind::blocking)
        return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()) &&
               sys::read_full(fd, in.data(), in.size());
      pollfd pf{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&pf, 1, 0) != 0) return false;
      return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()) &&
             sys::read_full(fd, in.data(), proto::kHeaderSize) &&
             sys::read_full(fd, in.data() + proto::kHeaderSize, in.size() - proto::kHeaderSize);
    };
    for (int i = 0; i < 50; ++i) (void)round_trip();

    std::vector<std::int64_t> samples;
    samples.reserve(options().rt_ops);
    CpuMeter meter(server);
    if (!time_each(state, samples, round_trip)) {
      state.SkipWithError("the echo server went away");
    } else {
      meter.finish(state, samples.size());
      report_latency(state, samples);
    }
    state.counters["req_bytes"] = benchmark::Counter(static_cast<double>(sz.request));
    state.counters["rep_bytes"] = benchmark::Counter(static_cast<double>(sz.reply));
  }
  ::close(fd);
  ::waitpid(server, nullptr, 0);
}

// -- reaping floors --------------------------------------------------------------------------------

// A victim helper (a small fresh process, see HelperSpec), running and asleep.
pid_t spawn_victim(std::uint32_t rss_mb, pid_t pgid = -1) {
  std::string error;
  return start_ready_helper({HelperSpec::Mode::victim, rss_mb, {}, {}}, error, pgid);
}

void bm_reap_floor_poll(benchmark::State& state, std::uint32_t rss_mb) {
  std::vector<std::int64_t> samples;
  for (auto _ : state) {
    const pid_t v = spawn_victim(rss_mb);
    const sys::UniqueFd pfd = v > 0 ? sys::open_pidfd(v) : sys::UniqueFd();
    if (!pfd) {
      kill_and_reap(v);
      return state.SkipWithError("spawn or pidfd_open failed");
    }
    ::usleep(200);
    const std::int64_t t0 = now_ns();
    ::kill(v, SIGKILL);
    pollfd p{pfd.get(), POLLIN, 0};
    ::poll(&p, 1, 5000);
    const std::int64_t t1 = now_ns();
    ::waitpid(v, nullptr, 0);
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  report_latency(state, samples);
}

void bm_reap_floor_watcher(benchmark::State& state, Placement placement) {
  // The flag page, shared with the watcher.
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return state.SkipWithError("mmap failed");
  auto* flag = new (page) std::atomic<std::uint64_t>(0);
  sys::Pipe cmd = sys::Pipe::make(), ack = sys::Pipe::make();
  if (!cmd.read || !ack.read) return state.SkipWithError("pipe failed");
  struct Cmd {
    pid_t pid;
    std::uint64_t round;
  };
  const pid_t watcher = ::fork();
  if (watcher == 0) {
    cmd.write.reset();
    ack.read.reset();
    const sys::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    Cmd c{};
    while (sys::read_full(cmd.read.get(), &c, sizeof c)) {
      const sys::UniqueFd pfd = sys::open_pidfd(c.pid);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, pfd.get(), &ev);
      const char ok = pfd ? '1' : '0';
      (void)sys::write_all(ack.write.get(), &ok, 1);
      epoll_event got{};
      while (::epoll_wait(ep.get(), &got, 1, -1) < 1) {
      }
      flag->store(c.round, std::memory_order_release);
      ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, pfd.get(), nullptr);
    }
    ::_exit(0);
  }
  cmd.read.reset();
  ack.write.reset();

  std::vector<std::int64_t> samples;
  std::uint64_t round = 0;
  std::string error;
  {
    PlacementGuard guard(placement, watcher);
    if (!guard.error().empty()) error = guard.error();
    for (auto _ : state) {
      if (!error.empty()) break;
      const pid_t v = spawn_victim(0);
      const Cmd c{v, ++round};
      char ok = 0;
      if (v <= 0 || !sys::write_all(cmd.write.get(), &c, sizeof c) || !sys::read_full(ack.read.get(), &ok, 1) ||
          ok != '1') {
        kill_and_reap(v);
        error = "the watcher could not watch the victim";
        break;
      }
      if (guard.server_cpu() >= 0) pin_process(v, guard.server_cpu());
      ::usleep(200);  // the watcher is asleep in epoll_wait by now
      const std::int64_t t0 = now_ns();
      ::kill(v, SIGKILL);
      std::int64_t t1 = t0;
      while (flag->load(std::memory_order_acquire) != round) {
        t1 = now_ns();
        if (t1 - t0 > 5'000'000'000) {
          error = "the watcher never saw the victim die";
          break;
        }
      }
      t1 = now_ns();
      ::waitpid(v, nullptr, 0);
      if (!error.empty()) break;
      samples.push_back(t1 - t0);
      state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    }
  }
  cmd.write.reset();
  ack.read.reset();
  ::waitpid(watcher, nullptr, 0);
  ::munmap(page, 4096);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, samples);
}

void bm_mass_floor(benchmark::State& state) {
  const std::uint32_t n = options().mass_owners;
  std::vector<std::int64_t> all, kill_call;
  std::string error;
  for (auto _ : state) {
    const pid_t leader = spawn_victim(0, 0);
    if (leader <= 0) {
      error = "could not start the group leader";
      break;
    }
    std::vector<pid_t> pids;
    std::vector<sys::UniqueFd> fds;
    const sys::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    sys::Pipe ready = sys::Pipe::make();
    if (!ready.read) error = "pipe failed";
    for (std::uint32_t i = 0; error.empty() && i < n; ++i) {
      const pid_t v = spawn_helper({HelperSpec::Mode::victim, 0, {}, {}}, leader, ready.write.get());
      if (v <= 0) break;
      pids.push_back(v);
      sys::UniqueFd fd = sys::open_pidfd(v);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (!fd || ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) break;
      fds.push_back(std::move(fd));
    }
    ready.write.reset();
    if (error.empty() && (fds.size() != n || !await_ready(ready.read.get(), n, 120000)))
      error = "could not spawn and watch every victim";
    ::usleep(20000);

    const std::int64_t t0 = now_ns();
    ::kill(-leader, SIGKILL);
    kill_call.push_back(now_ns() - t0);
    std::uint32_t seen = 0;
    epoll_event evs[256];
    while (error.empty() && seen < n) {
      const int k = ::epoll_wait(ep.get(), evs, 256, 5000);
      if (k <= 0) {
        error = "victims' pidfds did not all turn readable";
        break;
      }
      for (int j = 0; j < k; ++j) ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fds[evs[j].data.u32].get(), nullptr);
      seen += static_cast<std::uint32_t>(k);
    }
    const std::int64_t t1 = now_ns();
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
    ::waitpid(leader, nullptr, 0);
    if (!error.empty()) break;
    all.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report_latency(state, all);
  state.counters["kill_ns"] = benchmark::Counter(stats_of(kill_call).p50);
  state.counters["owners"] = benchmark::Counter(n);
}

}  // namespace

void register_raw_cases(Group g, Placement p) {
  const Options& o = options();
  const std::string sp(to_string(p));
  switch (g) {
    case Group::round_trip:
      add_case("raw_rt/echo/" + sp, [p](auto& s) { bm_raw_rt(s, EchoKind::blocking, p); }, o.rt_ops);
      add_case("raw_rt/shaped/" + sp, [p](auto& s) { bm_raw_rt(s, EchoKind::shaped, p); }, o.rt_ops);
      add_case("raw_rt/lean/" + sp, [p](auto& s) { bm_raw_rt(s, EchoKind::lean, p); }, o.rt_ops);
      break;
    case Group::lookup:
      break;
    case Group::reap:
      if (p == Placement::same) break;
      if (p == Placement::any) {
        add_case("reap_floor/pidfd_poll", [](auto& s) { bm_reap_floor_poll(s, 0); }, o.reap_rounds);
        add_case("reap_floor/pidfd_poll/rss64M", [](auto& s) { bm_reap_floor_poll(s, 64); },
                 std::max<std::uint32_t>(o.reap_rounds / 3, 1));
      }
      add_case("reap_floor/pidfd_watcher/" + sp, [p](auto& s) { bm_reap_floor_watcher(s, p); }, o.reap_rounds);
      break;
    case Group::mass_death:
      add_case("mass_death_floor/pidfd", bm_mass_floor, o.mass_rounds, benchmark::kMillisecond);
      break;
  }
}

}  // namespace shmreg::bench::e2e
