// A real broker per test or benchmark (see broker_process.hpp).
#include "broker_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"

namespace shmreg::test {

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string broker_binary() { return SHMREG_BROKER_BIN; }
std::string cli_binary() { return SHMREG_CLI_BIN; }

std::string unique_namespace() {
  static std::atomic<unsigned> counter{0};
  return "it" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

std::string segment_path(const std::string& dir, const std::string& ns) { return dir + "/" + ns + ".segment"; }
std::string lock_path(const std::string& dir, const std::string& ns) { return dir + "/" + ns + ".lock"; }

void remove_namespace_files(const std::string& dir, const std::string& ns) {
  ::unlink(segment_path(dir, ns).c_str());
  ::unlink(lock_path(dir, ns).c_str());
}

void remove_namespaces_of_dead_tests() {
  static const std::regex ours(R"(it([0-9]+)-[0-9]+\.(segment|lock))");
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(temp_base_dir(), ec)) {
    if (!d.path().filename().string().starts_with(kTempDirPrefix)) continue;
    std::error_code dec;
    for (const auto& f : std::filesystem::directory_iterator(d.path(), dec)) {
      std::smatch m;
      const std::string name = f.path().filename().string();
      if (!std::regex_match(name, m, ours)) continue;
      const pid_t pid = static_cast<pid_t>(std::stol(m[1].str()));
      if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(f.path().c_str());
    }
  }
}

// -- RawConnection -------------------------------------------------------------------------------

std::optional<RawConnection> RawConnection::connect(const std::string& path) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  return RawConnection(std::move(fd));
}

bool RawConnection::send(std::span<const std::uint8_t> bytes) {
  return sys::send_all(fd_.get(), bytes.data(), bytes.size());
}

std::optional<std::vector<std::uint8_t>> RawConnection::receive(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::uint8_t> out(n);
  std::size_t done = 0;
  while (done < n) {
    pollfd p{fd_.get(), POLLIN, 0};
    const int k = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return std::nullopt;
    const ssize_t r = ::recv(fd_.get(), out.data() + done, n - done, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return std::nullopt;
    done += static_cast<std::size_t>(r);
  }
  return out;
}

bool RawConnection::wait_for_close(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
    const int k = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    std::uint8_t buf[4096];
    const ssize_t r = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0) return true;
    if (r < 0 && errno != EINTR && errno != EAGAIN) return true;  // reset
  }
}

void RawConnection::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

std::optional<std::vector<proto::OpResult>> RawConnection::call(const std::vector<proto::Op>& ops,
                                                                 std::chrono::milliseconds timeout) {
  const std::uint32_t id = next_id_++;
  if (!send(proto::encode_request(id, ops))) return std::nullopt;
  auto header = receive(proto::kHeaderSize, timeout);
  if (!header) return std::nullopt;
  auto h = proto::parse_header(*header);
  if (!h || h->kind != proto::FrameKind::reply || h->request_id != id) return std::nullopt;
  auto payload = receive(h->payload_len, timeout);
  if (!payload) return std::nullopt;
  auto results = proto::decode_reply(*payload);
  if (!results || results->size() != ops.size()) return std::nullopt;
  return std::move(*results);
}

std::optional<std::uint32_t> RawConnection::ping(std::chrono::milliseconds timeout) {
  auto results = call({proto::Ping{}}, timeout);
  if (!results || results->front().status != proto::Status::ok) return std::nullopt;
  return static_cast<std::uint32_t>(results->front().value);
}

// -- BrokerProcess -------------------------------------------------------------------------------

BrokerProcess::BrokerProcess(std::string ns, std::string socket_path, std::string log_path)
    : ns_(std::move(ns)), socket_(std::move(socket_path)), log_path_(std::move(log_path)) {}

std::vector<std::string> BrokerProcess::argv(const std::vector<std::string>& extra_args) const {
  std::vector<std::string> a = {broker_binary(), "--namespace", ns_, "--socket", socket_};
  a.insert(a.end(), extra_args.begin(), extra_args.end());
  return a;
}

std::expected<void, std::string> BrokerProcess::start(const std::vector<std::string>& extra_args, unsigned max_open_files) {
  if (process_.running()) return std::unexpected("a broker of this object is already running");
  SpawnOptions o;
  o.max_open_files = max_open_files;
  o.stdout_path = log_path_;
  o.stderr_path = log_path_;
  process_ = Subprocess::spawn(argv(extra_args), o);
  started_ = true;
  const pid_t pid = process_.pid();
  bool exited = false;
  const bool answered = wait_until([&] {
    if (!process_.running()) {
      exited = true;
      return true;
    }
    auto conn = RawConnection::connect(socket_);
    if (!conn) return false;
    auto broker_pid = conn->ping(2s);
    return broker_pid && static_cast<pid_t>(*broker_pid) == pid;
  });
  if (exited) {
    const auto status = process_.wait(1s);
    return std::unexpected("the broker " + (status ? describe_wait_status(*status) : std::string("exited")) +
                           " before answering; its log:\n" + log());
  }
  if (!answered)
    return std::unexpected("the broker did not answer a ping on " + socket_ + "; its log:\n" + log());
  return {};
}

std::expected<void, std::string> BrokerProcess::stop() {
  if (!process_.signal(SIGTERM)) return std::unexpected("no broker to stop");
  const auto status = process_.wait();
  if (!status) return std::unexpected("the broker ignored SIGTERM; its log:\n" + log());
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
    return std::unexpected("the broker " + describe_wait_status(*status) + " on SIGTERM (want exit 0); its log:\n" +
                           log());
  return {};
}

void BrokerProcess::kill_hard() { (void)process_.kill_and_wait(); }

std::string BrokerProcess::log() const { return started_ ? file_text(log_path_) : std::string(); }

}  // namespace shmreg::test
