#include "etcd_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::test {

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

struct EtcdCluster::Impl {
  struct Member {
    std::string name;
    std::uint16_t client_port = 0;
    std::uint16_t peer_port = 0;
    std::uint16_t metrics_port = 0;  // /health, plain HTTP
    std::string data_dir;
    std::string log_path;
    Subprocess process;
    bool running = false;
  };

  EtcdClusterOptions options;
  std::string etcd;
  TempDir dir;  // declared before members: removed after they are killed
  std::string initial_cluster;
  std::string token;
  std::vector<Member> members;

  std::string client_url(const Member& m) const {
    return (options.tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(m.client_port);
  }

  std::vector<std::string> argv(const Member& m) const {
    const auto url = [](std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); };
    std::vector<std::string> args{
            etcd,
            "--name", m.name,
            "--data-dir", m.data_dir,
            "--listen-client-urls", client_url(m),
            "--advertise-client-urls", client_url(m),
            "--listen-metrics-urls", url(m.metrics_port),
            "--listen-peer-urls", url(m.peer_port),
            "--initial-advertise-peer-urls", url(m.peer_port),
            "--initial-cluster", initial_cluster,
            "--initial-cluster-token", token,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", std::to_string(options.heartbeat.count()),
            "--election-timeout", std::to_string(options.election.count()),
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn"};
    if (options.tls) {
      args.insert(args.end(), {"--cert-file", options.tls->cert_file, "--key-file", options.tls->key_file,
                               "--trusted-ca-file", options.tls->ca_file});
      if (options.tls->client_cert_auth) args.emplace_back("--client-cert-auth");
    }
    return args;
  }

  void spawn(Member& m) {
    SpawnOptions so;
    so.stderr_path = m.log_path;
    m.process = Subprocess::spawn(argv(m), so);
    m.running = true;
  }
};

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string EtcdCluster::find_etcd() { return find_on_path("etcd"); }

std::vector<std::uint16_t> free_loopback_ports(int count) {
  // All sockets stay bound until every port is known, so that the kernel
  // hands out distinct ones.
  std::vector<sys::UniqueFd> held;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < count; ++i) {
    sys::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("free_loopback_ports: cannot bind a loopback socket");
    }
    ports.push_back(ntohs(addr.sin_port));
    held.push_back(std::move(fd));
  }
  return ports;
}

std::string http_get_loopback(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  sys::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return {};
  sockaddr_in addr = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) return {};
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, poll_timeout_ms(deadline)) != 1 || (p.revents & (POLLERR | POLLHUP)) != 0) return {};
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return {};
  std::string reply;
  char buf[4096];
  for (;;) {
    p = {fd.get(), POLLIN, 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline)) != 1) return {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > (1u << 20)) return {};
  }
  const auto body = reply.find("\r\n\r\n");
  if (!reply.starts_with("HTTP/1.") || reply.find(" 200 ") != 8 || body == std::string::npos) return {};
  return reply.substr(body + 4);
}

std::expected<EtcdCluster, std::string> EtcdCluster::start(const EtcdClusterOptions& options) {
  // A port found free may be taken by another test before etcd binds it:
  // then start again on other ports.
  constexpr int kTries = 3;
  for (int attempt = 1;; ++attempt) {
    auto started = start_once(options);
    if (started || attempt == kTries || started.error().find("address already in use") == std::string::npos) {
      return started;
    }
  }
}

EtcdCluster* EtcdCluster::process_cluster(const char* who) {
  static std::unique_ptr<EtcdCluster> cluster = [who] {
    auto started = start();
    if (!started) {
      std::fprintf(stderr, "%s: %s\n", who, started.error().c_str());
      return std::unique_ptr<EtcdCluster>();
    }
    return std::make_unique<EtcdCluster>(std::move(*started));
  }();
  return cluster.get();
}

std::expected<EtcdCluster, std::string> EtcdCluster::start_once(const EtcdClusterOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->etcd = find_etcd();
  if (impl->etcd.empty()) return std::unexpected("etcd is not installed (Debian package etcd-server)");
  const auto ports = free_loopback_ports(3 * options.members);
  impl->token = "shmreg-test-" + std::to_string(::getpid()) + "-" + std::to_string(ports[0]);
  for (int i = 0; i < options.members; ++i) {
    Impl::Member m;
    m.name = "m" + std::to_string(i);
    m.client_port = ports[std::size_t(3 * i)];
    m.peer_port = ports[std::size_t(3 * i + 1)];
    m.metrics_port = ports[std::size_t(3 * i + 2)];
    m.data_dir = impl->dir.path() + "/" + m.name;
    m.log_path = impl->dir.path() + "/" + m.name + ".log";
    impl->initial_cluster += (i ? "," : "") + m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
    impl->members.push_back(std::move(m));
  }
  for (auto& m : impl->members) impl->spawn(m);
  EtcdCluster cluster(std::move(impl));
  if (!cluster.wait_healthy(options.start_timeout)) {
    std::string why = "etcd cluster of " + std::to_string(options.members) + " not healthy within " +
                      std::to_string(options.start_timeout.count()) + " ms";
    for (std::size_t i = 0; i < cluster.size(); ++i) why += "\n--- " + cluster.client_url(i) + ":\n" + cluster.log_tail(i);
    return std::unexpected(why);
  }
  return cluster;
}

EtcdCluster::EtcdCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdCluster::EtcdCluster(EtcdCluster&&) noexcept = default;
EtcdCluster& EtcdCluster::operator=(EtcdCluster&&) noexcept = default;
EtcdCluster::~EtcdCluster() {
  if (!impl_) return;
  // A stopped member dies of SIGKILL as well; reap each before the
  // directories go.
  for (auto& m : impl_->members) {
    if (m.running) m.process.kill_and_wait();
  }
}

std::size_t EtcdCluster::size() const noexcept { return impl_->members.size(); }

std::string EtcdCluster::client_url(std::size_t i) const { return impl_->client_url(impl_->members.at(i)); }

std::vector<std::string> EtcdCluster::client_urls() const {
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < size(); ++i) urls.push_back(client_url(i));
  return urls;
}

pid_t EtcdCluster::pid(std::size_t i) const { return impl_->members.at(i).process.pid(); }

void EtcdCluster::kill(std::size_t i) {
  auto& m = impl_->members.at(i);
  if (!m.running) return;
  m.process.kill_and_wait();
  m.running = false;
}

void EtcdCluster::stop(std::size_t i) { impl_->members.at(i).process.signal(SIGSTOP); }
void EtcdCluster::resume(std::size_t i) { impl_->members.at(i).process.signal(SIGCONT); }

std::expected<void, std::string> EtcdCluster::restart(std::size_t i) {
  auto& m = impl_->members.at(i);
  kill(i);
  impl_->spawn(m);  // on an existing data directory etcd ignores the initial-cluster flags
  if (!wait_until([&] { return healthy(i, std::chrono::milliseconds(500)); }, impl_->options.start_timeout)) {
    return std::unexpected("etcd member " + m.name + " not healthy after restart:\n" + log_tail(i));
  }
  return {};
}

bool EtcdCluster::healthy(std::size_t i, std::chrono::milliseconds timeout) const {
  const auto& m = impl_->members.at(i);
  if (!m.running) return false;
  return http_get_loopback(m.metrics_port, "/health", timeout).find("\"health\":\"true\"") != std::string::npos;
}

bool EtcdCluster::wait_healthy(std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        for (std::size_t i = 0; i < size(); ++i) {
          if (impl_->members[i].running && !healthy(i, std::chrono::milliseconds(500))) return false;
        }
        return true;
      },
      timeout);
}

std::string EtcdCluster::log_tail(std::size_t i) const {
  std::ifstream in(impl_->members.at(i).log_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::size_t kTail = 2000;
  return text.size() > kTail ? "..." + text.substr(text.size() - kTail) : text;
}

}  // namespace shmreg::test
