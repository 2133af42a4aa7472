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

namespace shmreg::e2e {

namespace {

// The sizes of a register request frame and its reply, as the client and the
// broker encode them for the keys and values of the register case.
struct FrameSizes {
  std::size_t request = 0, reply = 0;
};

FrameSizes register_frame_sizes() {
  const proto::Op op = proto::RegisterKey{std::string(kRegRegister), make_key("reg/1/", 0), make_value(1)};
  const proto::OpResult res{proto::Status::ok, 123456, {}};
  return {proto::encode_request(1, std::span<const proto::Op>(&op, 1)).size(),
          proto::encode_reply(1, std::span<const proto::OpResult>(&res, 1)).size()};
}

enum class EchoKind { blocking, shaped, lean };

const char* echo_name(EchoKind k) {
  switch (k) {
    case EchoKind::blocking: return "echo";
    case EchoKind::shaped: return "shaped";
    case EchoKind::lean: return "lean";
  }
  return "?";
}

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
    while (read_all(fd, in.data(), in.size()) && write_all(fd, out.data(), out.size())) {
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
               read_all(fd, in.data(), in.size());
      pollfd pf{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&pf, 1, 0) != 0) return false;
      return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()) &&
             read_all(fd, in.data(), proto::kHeaderSize) &&
             read_all(fd, in.data() + proto::kHeaderSize, in.size() - proto::kHeaderSize);
    };
    for (int i = 0; i < 50; ++i) (void)round_trip();

    std::vector<std::int64_t> samples;
    samples.reserve(options().rt_ops);
    bool ok = true;
    CpuMeter meter(server);
    for (auto _ : state) {
      const std::int64_t t0 = now_ns();
      ok = round_trip();
      const std::int64_t t1 = now_ns();
      if (!ok) break;
      samples.push_back(t1 - t0);
      state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    }
    const std::string key =
        std::string("raw_rt/") + echo_name(kind) + "/" + std::string(to_string(p));
    if (!ok) {
      state.SkipWithError("the echo server went away");
    } else {
      meter.finish(state, key, samples.size());
      report(state, key, samples);
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
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = spawn_helper({HelperSpec::Mode::victim, rss_mb, {}, {}}, pgid, fds[1]);
  ::close(fds[1]);
  const bool ok = pid > 0 && await_ready(fds[0], 1, 10000);
  ::close(fds[0]);
  if (!ok) {
    kill_and_reap(pid);
    return -1;
  }
  return pid;
}

void bm_reap_floor_poll(benchmark::State& state, std::uint32_t rss_mb) {
  std::vector<std::int64_t> samples;
  for (auto _ : state) {
    const pid_t v = spawn_victim(rss_mb);
    const int pfd = v > 0 ? pidfd_open(v) : -1;
    if (pfd < 0) {
      kill_and_reap(v);
      return state.SkipWithError("spawn or pidfd_open failed");
    }
    ::usleep(200);
    const std::int64_t t0 = now_ns();
    ::kill(v, SIGKILL);
    pollfd p{pfd, POLLIN, 0};
    ::poll(&p, 1, 5000);
    const std::int64_t t1 = now_ns();
    ::close(pfd);
    ::waitpid(v, nullptr, 0);
    samples.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  report(state, rss_mb == 0 ? std::string("reap_floor/pidfd_poll") : "reap_floor/pidfd_poll/rss" + std::to_string(rss_mb) + "M",
         samples);
}

void bm_reap_floor_watcher(benchmark::State& state, Placement placement) {
  // The flag page, shared with the watcher.
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return state.SkipWithError("mmap failed");
  auto* flag = new (page) std::atomic<std::uint64_t>(0);
  int cmd[2], ack[2];
  if (::pipe2(cmd, O_CLOEXEC) != 0 || ::pipe2(ack, O_CLOEXEC) != 0) return state.SkipWithError("pipe failed");
  const pid_t watcher = ::fork();
  if (watcher == 0) {
    ::close(cmd[1]);
    ::close(ack[0]);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    struct Cmd {
      pid_t pid;
      std::uint64_t round;
    } c{};
    while (read_all(cmd[0], &c, sizeof c)) {
      const int pfd = pidfd_open(c.pid);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &ev);
      const char ok = pfd >= 0 ? '1' : '0';
      (void)write_all(ack[1], &ok, 1);
      epoll_event got{};
      while (::epoll_wait(ep, &got, 1, -1) < 1) {
      }
      flag->store(c.round, std::memory_order_release);
      ::epoll_ctl(ep, EPOLL_CTL_DEL, pfd, nullptr);
      ::close(pfd);
    }
    ::_exit(0);
  }
  ::close(cmd[0]);
  ::close(ack[1]);

  std::vector<std::int64_t> samples;
  std::uint64_t round = 0;
  std::string error;
  {
    PlacementGuard guard(placement, watcher);
    if (!guard.error().empty()) error = guard.error();
    for (auto _ : state) {
      if (!error.empty()) break;
      const pid_t v = spawn_victim(0);
      struct {
        pid_t pid;
        std::uint64_t round;
      } c{v, ++round};
      char ok = 0;
      if (v <= 0 || !write_all(cmd[1], &c, sizeof c) || !read_all(ack[0], &ok, 1) || ok != '1') {
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
  ::close(cmd[1]);
  ::close(ack[0]);
  ::waitpid(watcher, nullptr, 0);
  ::munmap(page, 4096);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report(state, "reap_floor/pidfd_watcher/" + std::string(to_string(placement)), samples);
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
    std::vector<int> fds;
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) error = "pipe failed";
    for (std::uint32_t i = 0; error.empty() && i < n; ++i) {
      const pid_t v = spawn_helper({HelperSpec::Mode::victim, 0, {}, {}}, leader, ready[1]);
      if (v <= 0) break;
      pids.push_back(v);
      const int fd = pidfd_open(v);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (fd < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) break;
      fds.push_back(fd);
    }
    ::close(ready[1]);
    if (error.empty() && (fds.size() != n || !await_ready(ready[0], n, 120000)))
      error = "could not spawn and watch every victim";
    ::close(ready[0]);
    ::usleep(20000);

    const std::int64_t t0 = now_ns();
    ::kill(-leader, SIGKILL);
    kill_call.push_back(now_ns() - t0);
    std::uint32_t seen = 0;
    epoll_event evs[256];
    while (error.empty() && seen < n) {
      const int k = ::epoll_wait(ep, evs, 256, 5000);
      if (k <= 0) {
        error = "victims' pidfds did not all turn readable";
        break;
      }
      for (int j = 0; j < k; ++j) ::epoll_ctl(ep, EPOLL_CTL_DEL, fds[evs[j].data.u32], nullptr);
      seen += static_cast<std::uint32_t>(k);
    }
    const std::int64_t t1 = now_ns();
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
    ::waitpid(leader, nullptr, 0);
    for (int fd : fds) ::close(fd);
    ::close(ep);
    if (!error.empty()) break;
    all.push_back(t1 - t0);
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  if (!error.empty()) return state.SkipWithError(error.c_str());
  report(state, "mass_death_floor/pidfd", all);
  pool("mass_death_floor/pidfd/kill_syscall", kill_call);
  state.counters["kill_ns"] = benchmark::Counter(stats_of(kill_call).p50);
  state.counters["owners"] = benchmark::Counter(n);
}

}  // namespace

void register_raw_cases(Group g, Placement p) {
  const Options& o = options();
  switch (g) {
    case Group::round_trip:
      {
        benchmark::RegisterBenchmark(("e2e/raw_rt/echo/" + std::string(to_string(p))).c_str(),
                                     [p](benchmark::State& s) { bm_raw_rt(s, EchoKind::blocking, p); })
            ->UseManualTime()
            ->Iterations(o.rt_ops)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("e2e/raw_rt/shaped/" + std::string(to_string(p))).c_str(),
                                     [p](benchmark::State& s) { bm_raw_rt(s, EchoKind::shaped, p); })
            ->UseManualTime()
            ->Iterations(o.rt_ops)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("e2e/raw_rt/lean/" + std::string(to_string(p))).c_str(),
                                     [p](benchmark::State& s) { bm_raw_rt(s, EchoKind::lean, p); })
            ->UseManualTime()
            ->Iterations(o.rt_ops)
            ->Unit(benchmark::kMicrosecond);
      }
      break;
    case Group::lookup:
      break;
    case Group::reap:
      if (p == Placement::same) break;
      if (p == Placement::any) {
        benchmark::RegisterBenchmark("e2e/reap_floor/pidfd_poll",
                                     [](benchmark::State& s) { bm_reap_floor_poll(s, 0); })
            ->UseManualTime()
            ->Iterations(o.reap_rounds)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark("e2e/reap_floor/pidfd_poll/rss64M",
                                     [](benchmark::State& s) { bm_reap_floor_poll(s, 64); })
            ->UseManualTime()
            ->Iterations(std::max<std::uint32_t>(o.reap_rounds / 3, 1))
            ->Unit(benchmark::kMicrosecond);
      }
      benchmark::RegisterBenchmark(("e2e/reap_floor/pidfd_watcher/" + std::string(to_string(p))).c_str(),
                                   [p](benchmark::State& s) { bm_reap_floor_watcher(s, p); })
          ->UseManualTime()
          ->Iterations(o.reap_rounds)
          ->Unit(benchmark::kMicrosecond);
      break;
    case Group::mass_death:
      benchmark::RegisterBenchmark("e2e/mass_death_floor/pidfd", bm_mass_floor)
          ->UseManualTime()
          ->Iterations(o.mass_rounds)
          ->Unit(benchmark::kMillisecond);
      break;
  }
}

}  // namespace shmreg::e2e
