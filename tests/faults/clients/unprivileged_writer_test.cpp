// An unprivileged process (nobody) that tries every way it has to write the
// segment (invariant 1): open it for writing, truncate it, map it writable,
// make a read-only mapping writable, reach the broker's writable mapping
// through /proc, unlink it or plant a file beside it. Each attempt fails with the kernel's
// refusal, and the segment's bytes are the same afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

class UnprivilegedWriter : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
};

// "name: <strerror>" for a failed attempt, or "name: succeeded".
std::string outcome(const char* name, bool failed) {
  return std::string(name) + ": " + (failed ? std::strerror(errno) : "succeeded");
}

TEST_F(UnprivilegedWriter, NobodyCannotWriteTheSegmentByAnyPathAndItsBytesStayTheSame) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "k", "v"));
  const std::string before = file_text(segment_file());
  ASSERT_FALSE(before.empty());
  // The broker's memory, where its writable mapping of the segment lives.
  const std::string broker_mem = "/proc/" + std::to_string(broker().pid()) + "/mem";

  const std::string path = segment_file();
  const std::string elsewhere = dir().path() + "/planted";
  ForkedChild nobody = ForkedChild::start([&](ChildChannel& ch) {
    if (!become_nobody()) return child_report(ch, "cannot become nobody");
    std::vector<std::string> out;
    out.push_back(outcome("open O_RDWR", ::open(path.c_str(), O_RDWR | O_CLOEXEC) < 0));
    out.push_back(outcome("open O_WRONLY", ::open(path.c_str(), O_WRONLY | O_CLOEXEC) < 0));
    out.push_back(outcome("open O_TRUNC", ::open(path.c_str(), O_RDONLY | O_TRUNC | O_CLOEXEC) < 0));
    out.push_back(outcome("truncate", ::truncate(path.c_str(), 0) != 0));
    out.push_back(outcome("chmod", ::chmod(path.c_str(), 0666) != 0));
    out.push_back(outcome("unlink", ::unlink(path.c_str()) != 0));
    out.push_back(outcome("create beside it", ::open(elsewhere.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644) < 0));
    out.push_back(outcome("broker's mem O_RDWR", ::open(broker_mem.c_str(), O_RDWR | O_CLOEXEC) < 0));
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return child_report(ch, std::string("cannot even read: ") + std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0) return child_report(ch, "fstat failed");
    const auto len = static_cast<std::size_t>(st.st_size);
    out.push_back(outcome("mmap PROT_WRITE MAP_SHARED",
                          ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED));
    void* ro = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    if (ro == MAP_FAILED) return child_report(ch, "cannot map it for reading");
    out.push_back(outcome("mprotect PROT_WRITE", ::mprotect(ro, len, PROT_READ | PROT_WRITE) != 0));
    // A private mapping may be written: the copy is the process's own.
    void* priv = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (priv == MAP_FAILED) return child_report(ch, "cannot map it privately");
    std::memset(priv, 0x5a, len);
    ch.send(join_fields(out));
    return 0;
  });
  const auto line = nobody.receive();
  ASSERT_TRUE(line);
  const std::string denied = std::strerror(EACCES);
  const std::string not_permitted = std::strerror(EPERM);
  const std::vector<std::string> expected{
      "open O_RDWR: " + denied,   "open O_WRONLY: " + denied,        "open O_TRUNC: " + denied,
      "truncate: " + denied,      "chmod: " + not_permitted,         "unlink: " + denied,
      "create beside it: " + denied, "broker's mem O_RDWR: " + denied, "mmap PROT_WRITE MAP_SHARED: " + denied,
      "mprotect PROT_WRITE: " + denied};
  EXPECT_EQ(split_fields(*line), expected);
  ASSERT_TRUE(nobody.wait());

  EXPECT_EQ(file_text(segment_file()), before) << "the segment's bytes changed";
  EXPECT_FALSE(std::filesystem::exists(elsewhere));
  EXPECT_EQ(cli_lookup("svc", "k"), (Lookup{{owner.pid(), "v"}}));
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();
}

}  // namespace
}  // namespace shmreg::test
