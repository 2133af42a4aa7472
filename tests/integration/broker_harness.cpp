// A broker per test for the integration suites (see broker_harness.hpp).
#include "broker_harness.hpp"

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
#include <iostream>
#include <regex>
#include <sstream>

#include "shmreg/proto/wire.hpp"

namespace shmreg::integration {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string broker_binary() { return SHMREG_BROKER_BIN; }
std::string cli_binary() { return SHMREG_CLI_BIN; }

std::string unique_namespace() {
  static std::atomic<unsigned> counter{0};
  return "it" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

void remove_namespace_files(const std::string& ns) {
  ::unlink(("/dev/shm/shmreg." + ns).c_str());
  ::unlink(("/dev/shm/shmreg-lock." + ns).c_str());
}

void remove_namespaces_of_dead_tests() {
  static const std::regex ours(R"(shmreg(-lock)?\.it([0-9]+)-[0-9]+)");
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator("/dev/shm", ec)) {
    std::smatch m;
    const std::string name = f.path().filename().string();
    if (!std::regex_match(name, m, ours)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(m[2].str()));
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(f.path().c_str());
  }
}

// -- RawConnection -------------------------------------------------------------------------------

std::optional<RawConnection> RawConnection::connect(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  return RawConnection(std::move(fd));
}

bool RawConnection::send(std::span<const std::uint8_t> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<std::size_t>(w);
  }
  return true;
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

::testing::AssertionResult BrokerProcess::start(const std::vector<std::string>& extra_args, unsigned max_open_files) {
  if (process_.running()) return ::testing::AssertionFailure() << "a broker of this test is already running";
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
    return ::testing::AssertionFailure() << "the broker "
                                         << (status ? describe_wait_status(*status) : std::string("exited"))
                                         << " before answering; its log:\n"
                                         << log();
  }
  if (!answered)
    return ::testing::AssertionFailure() << "the broker did not answer a ping on " << socket_ << "; its log:\n" << log();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult BrokerProcess::stop() {
  if (!process_.signal(SIGTERM)) return ::testing::AssertionFailure() << "no broker to stop";
  const auto status = process_.wait();
  if (!status) return ::testing::AssertionFailure() << "the broker ignored SIGTERM; its log:\n" << log();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
    return ::testing::AssertionFailure() << "the broker " << describe_wait_status(*status)
                                         << " on SIGTERM (want exit 0); its log:\n"
                                         << log();
  return ::testing::AssertionSuccess();
}

void BrokerProcess::kill_hard() { (void)process_.kill_and_wait(); }

std::string BrokerProcess::log() const { return started_ ? read_file(log_path_) : std::string(); }

// -- BrokerTest ----------------------------------------------------------------------------------

BrokerTest::BrokerTest() : ns_(unique_namespace()), socket_(dir_.path() + "/broker.sock") {
  remove_namespaces_of_dead_tests();
  remove_namespace_files(ns_);
  broker_.emplace(ns_, socket_, dir_.path() + "/broker.log");
}

BrokerTest::~BrokerTest() {
  broker_.reset();  // kills a broker that is still there
  remove_namespace_files(ns_);
}

void BrokerTest::SetUp() { ASSERT_TRUE(broker().start(broker_args())); }

void BrokerTest::TearDown() {
  if (broker().running()) {
    EXPECT_TRUE(broker().stop());
  }
  if (HasFailure()) std::cerr << "--- broker log of namespace " << ns_ << ":\n" << broker().log();
}

std::vector<std::string> BrokerTest::cli_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> a = {cli_binary(), "--namespace", ns_, "--socket", socket_};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

std::string BrokerTest::cli_ok(const std::vector<std::string>& args) const {
  RunResult r = cli(args);
  EXPECT_EQ(r.exit_code(), 0) << "shmreg " << ::testing::PrintToString(args) << ": " << r.describe();
  return r.out;
}

std::vector<std::pair<pid_t, std::string>> BrokerTest::cli_lookup(const std::string& reg, const std::string& key) const {
  RunResult r = cli({"lookup", reg, key});
  std::vector<std::pair<pid_t, std::string>> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out.emplace_back(static_cast<pid_t>(std::stol(line.substr(0, tab))), line.substr(tab + 1));
  }
  return out;
}

long BrokerTest::cli_count(const std::string& reg) const {
  RunResult r = cli({"count", reg});
  if (r.exit_code() != 0) return -1;
  try {
    return std::stol(r.out);
  } catch (...) {
    return -1;
  }
}

}  // namespace shmreg::integration
