// The broker SIGKILLed and restarted while clients run. Readers looping on
// lookups never see an error or a miss, before, during or after the
// downtime (the segment outlives the broker); writers looping on writes get
// broker_unavailable while it is down (each call tries to connect a few
// times with a doubling delay, connection.hpp) and succeed again on the same
// Client once it is back; neither writes a line to stderr, and the new
// broker logs a bounded number of lines, not one per client attempt.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <sstream>

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

constexpr int kReaders = 2;
constexpr int kRestartWriters = 4;

// Counters the children bump and the test reads: one anonymous shared
// mapping, inherited by fork.
struct Tally {
  std::atomic<std::uint64_t> lookups, lookup_errors, misses;
  std::atomic<std::uint64_t> writes_ok, writes_unavailable, writes_other;
  std::atomic<bool> stop;
  char other_error[256];  // the first write error other than broker_unavailable
};

class SharedTally {
 public:
  SharedTally() {
    void* p = ::mmap(nullptr, sizeof(Tally), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    t_ = new (p) Tally{};
  }
  ~SharedTally() { ::munmap(t_, sizeof(Tally)); }
  Tally& operator*() const { return *t_; }
  Tally* operator->() const { return t_; }

 private:
  Tally* t_;
};

// The child's stderr into path, so that the test can count what it logged.
bool stderr_to(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  return fd >= 0 && ::dup2(fd, STDERR_FILENO) == STDERR_FILENO && ::close(fd) == 0;
}

int reader(ChildChannel& ch, const std::string& ns, const std::string& socket, Tally& t, const std::string& err) {
  if (!stderr_to(err)) return child_report(ch, "stderr");
  auto client = shmreg::Client::open({ns, socket});
  if (!client) return child_report(ch, "open " + client.error().message);
  auto reg = client->registry("svc");
  if (!reg) return child_report(ch, "registry " + reg.error().message);
  while (!t.stop.load()) {
    auto v = reg->lookup_value("held");
    t.lookups.fetch_add(1);
    if (!v)
      t.lookup_errors.fetch_add(1);
    else if (*v != std::optional<std::string>("here"))
      t.misses.fetch_add(1);
  }
  return 0;
}

int writer(ChildChannel& ch, const std::string& ns, const std::string& socket, Tally& t, const std::string& err,
           int id) {
  if (!stderr_to(err)) return child_report(ch, "stderr");
  auto client = shmreg::Client::open({ns, socket, std::chrono::seconds(2)});
  if (!client) return child_report(ch, "open " + client.error().message);
  const std::string key = "w" + std::to_string(id);
  for (std::uint64_t n = 0; !t.stop.load(); ++n) {
    // Unregister first: a registration cut by the kill may have applied.
    auto r = client->unregister("svc", key);
    if (r) r = client->register_key("svc", key, std::to_string(n));
    if (r)
      t.writes_ok.fetch_add(1);
    else if (r.error().code == shmreg::Errc::broker_unavailable)
      t.writes_unavailable.fetch_add(1);
    else if (t.writes_other.fetch_add(1) == 0)
      std::snprintf(t.other_error, sizeof t.other_error, "%s: %s", std::string(shmreg::to_string(r.error().code)).c_str(),
                    r.error().message.c_str());
  }
  return 0;
}

class BrokerRestartUnderLoad : public BrokerTest {};

TEST_F(BrokerRestartUnderLoad, LookupsNeverStopAndWritersReconnectWithoutLogging) {
  cli_ok({"create", "svc"});
  ForkedChild owner = ForkedChild::start([n = ns(), s = socket_path()](ChildChannel& ch) {
    auto client = shmreg::Client::open({n, s});
    if (!client || !client->register_key("svc", "held", "here")) return child_report(ch, "cannot register");
    ch.send("held");
    ch.receive();
    return 0;
  });
  ASSERT_EQ(owner.receive(), std::optional<std::string>("held"));

  SharedTally t;
  std::vector<ForkedChild> children;
  std::vector<std::string> stderr_files;
  for (int i = 0; i < kReaders + kRestartWriters; ++i) {
    stderr_files.push_back(dir().path() + "/child" + std::to_string(i) + ".err");
    const std::string err = stderr_files.back();
    children.push_back(ForkedChild::start([&, i, err](ChildChannel& ch) {
      return i < kReaders ? reader(ch, ns(), socket_path(), *t, err)
                          : writer(ch, ns(), socket_path(), *t, err, i - kReaders);
    }));
  }
  auto beyond = [&](const std::atomic<std::uint64_t>& counter, std::uint64_t by) {
    const std::uint64_t from = counter.load();
    return wait_until([&] { return counter.load() >= from + by; });
  };
  ASSERT_TRUE(beyond(t->writes_ok, 20) && beyond(t->lookups, 1000));

  const std::size_t log_before = broker().log().size();
  broker().kill_hard();
  ASSERT_TRUE(beyond(t->writes_unavailable, kRestartWriters)) << "the writers never noticed the broker gone";
  EXPECT_TRUE(beyond(t->lookups, 10000)) << "lookups stopped while the broker was down";
  const std::uint64_t failed_while_down = t->writes_unavailable.load();

  ASSERT_TRUE(start_broker());
  EXPECT_TRUE(beyond(t->writes_ok, 20)) << "the writers did not reconnect; broker log:\n" << broker().log();
  EXPECT_TRUE(beyond(t->lookups, 1000));
  // Taken before the writers exit: their deaths are reaped, one line each.
  const std::string restarted_log = broker().log().substr(log_before);
  t->stop.store(true);
  for (auto& c : children) {
    const auto status = c.wait();
    ASSERT_TRUE(status) << "a child did not stop";
    EXPECT_EQ(*status, 0) << describe_wait_status(*status);
  }

  EXPECT_EQ(t->lookup_errors.load(), 0u) << "of " << t->lookups.load() << " lookups";
  EXPECT_EQ(t->misses.load(), 0u) << "of " << t->lookups.load() << " lookups";
  EXPECT_EQ(t->writes_other.load(), 0u) << "writes failed other than broker_unavailable, first: " << t->other_error;
  for (const auto& f : stderr_files) EXPECT_EQ(file_text(f), "") << f;
  // The new broker's whole log: its start and what the writers did, which is
  // nothing that needs a line (no verbose flag).
  std::istringstream restarted(restarted_log);
  int lines = 0;
  for (std::string line; std::getline(restarted, line);) ++lines;
  EXPECT_LE(lines, 5) << restarted_log;
  std::cout << "[          ] " << t->lookups.load() << " lookups, 0 failed; " << t->writes_ok.load()
            << " write pairs, " << failed_while_down << " refused while the broker was down; " << lines
            << " broker log lines after the restart\n";
}

}  // namespace
}  // namespace shmreg::test
