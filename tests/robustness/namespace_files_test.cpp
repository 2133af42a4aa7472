// Issue 9, items 1, 2 and 7 (the socket's mode): where a namespace's files
// live and what a broker accepts there. Each attack is staged by hand, the
// way a local user (nobody) or a confused administrator would leave the files,
// against a real broker:
// - a symlink planted as another namespace's lock or segment file;
// - files pre-created by nobody, or of ours but writable by others or linked
//   twice; a runtime directory writable by others or not ours;
// - nobody trying to hold the lock file or create files in the directory;
// - a chmod of the socket by path, which a symlink swapped in after bind()
//   would redirect.
// Each test checks the broker refused with a message naming the path, and
// that nothing it refused was changed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "broker_test.hpp"
#include "shmreg/shm/reader.hpp"

namespace shmreg::test {
namespace {

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

mode_t mode_of(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// A namespace served in a runtime directory that the test shapes first: a
// broker is started only when the test says so.
class NamespaceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "staging files of another uid needs root";
  }

  // A broker of ns with its socket in dir; started by the caller.
  BrokerProcess broker_in(const std::string& dir, const std::string& ns) {
    return BrokerProcess(ns, dir + "/" + ns + ".sock", logs_.path() + "/" + ns + ".log");
  }
  // Starts a broker that must refuse; the log it left.
  std::string refused_start(const std::string& dir, const std::string& ns) {
    BrokerProcess b = broker_in(dir, ns);
    auto started = b.start({"--segment-size", "4M"});
    EXPECT_FALSE(started) << "the broker started";
    return b.log();
  }

  TempDir dir_;   // the runtime directory of the namespaces under test
  TempDir logs_;  // broker logs, apart from the directory under test
};

TEST_F(NamespaceFiles, ASymlinkPlantedAsLockOrSegmentFileIsRefusedAndTheOtherNamespaceKeepsServing) {
  const std::string victim = unique_namespace(), attacker = unique_namespace();
  BrokerProcess served = broker_in(dir_.path(), victim);
  ASSERT_TRUE(served.start({"--segment-size", "16M"})) << served.log();
  const std::string cli_sock = dir_.path() + "/" + victim + ".sock";
  auto cli = [&](const std::vector<std::string>& args) {
    std::vector<std::string> a = {cli_binary(), "--namespace", victim, "--socket", cli_sock};
    a.insert(a.end(), args.begin(), args.end());
    return run(a);
  };
  ASSERT_EQ(cli({"create", "svc"}).exit_code(), 0);
  Subprocess owner = Subprocess::spawn({cli_binary(), "--namespace", victim, "--socket", cli_sock, "register", "svc",
                                        "k", "live", "--", "sleep", "600"});
  const std::string segment = segment_path(dir_.path(), victim);
  auto reader = shm::SegmentReader::open(segment);
  ASSERT_TRUE(reader) << shm::to_string(reader.error());
  auto value = [&] {
    std::string v;
    auto reg = reader->registry("svc");
    auto hit = reg ? reader->lookup_value(*reg, "k", v) : std::unexpected(reg.error());
    return hit && *hit ? v : std::string("(none)");
  };
  ASSERT_TRUE(wait_until([&] { return value() == "live"; }));
  const std::size_t size_before = reader->size();

  ASSERT_EQ(::symlink(segment.c_str(), lock_path(dir_.path(), attacker).c_str()), 0);
  const std::string lock_log = refused_start(dir_.path(), attacker);
  EXPECT_NE(lock_log.find(lock_path(dir_.path(), attacker)), std::string::npos) << lock_log;
  EXPECT_NE(lock_log.find("symbolic link"), std::string::npos) << lock_log;
  ASSERT_EQ(::unlink(lock_path(dir_.path(), attacker).c_str()), 0);

  ASSERT_EQ(::symlink(segment.c_str(), segment_path(dir_.path(), attacker).c_str()), 0);
  const std::string segment_log = refused_start(dir_.path(), attacker);
  EXPECT_NE(segment_log.find(segment_path(dir_.path(), attacker)), std::string::npos) << segment_log;
  EXPECT_NE(segment_log.find("symbolic link"), std::string::npos) << segment_log;

  struct stat st{};
  ASSERT_EQ(::stat(segment.c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), size_before) << "the served segment was truncated";
  EXPECT_EQ(value(), "live") << "its reader still reads";
  auto raw = RawConnection::connect(cli_sock);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->ping(), static_cast<std::uint32_t>(served.pid())) << "its broker still serves";
  const RunResult create = cli({"create", "other"});
  EXPECT_EQ(create.exit_code(), 0) << "its broker still writes: " << create.describe();
  EXPECT_EQ(cli({"lookup", "svc", "k"}).exit_code(), 0);
  EXPECT_TRUE(served.stop()) << served.log();
}

TEST_F(NamespaceFiles, LockAndSegmentPreCreatedByNobodyWithMode0666AreRefusedUntouched) {
  const std::string ns = unique_namespace();
  const std::string lock = lock_path(dir_.path(), ns), segment = segment_path(dir_.path(), ns);
  write_file(lock, "4242\n", 0666);
  write_file(segment, std::string(4096, 'n'), 0666);
  ASSERT_EQ(::chown(lock.c_str(), kNobodyUid, kNobodyGid), 0);
  ASSERT_EQ(::chown(segment.c_str(), kNobodyUid, kNobodyGid), 0);

  const std::string lock_log = refused_start(dir_.path(), ns);
  EXPECT_NE(lock_log.find(lock + " (owner uid 65534, mode 0666)"), std::string::npos) << lock_log;
  EXPECT_EQ(file_text(lock), "4242\n") << "the lock file was written";

  ASSERT_EQ(::unlink(lock.c_str()), 0);
  const std::string segment_log = refused_start(dir_.path(), ns);
  EXPECT_NE(segment_log.find(segment + " (owner uid 65534, mode 0666)"), std::string::npos) << segment_log;
  EXPECT_EQ(file_text(segment), std::string(4096, 'n')) << "the segment was adopted or changed";
  EXPECT_EQ(mode_of(segment), 0666u) << "the segment's mode was changed";
}

TEST_F(NamespaceFiles, OurOwnSegmentWritableByOthersOrWithASecondHardLinkIsRefused) {
  const std::string ns = unique_namespace();
  const std::string segment = segment_path(dir_.path(), ns);
  {
    BrokerProcess first = broker_in(dir_.path(), ns);
    ASSERT_TRUE(first.start({"--segment-size", "4M"})) << first.log();
    ASSERT_TRUE(first.stop()) << first.log();
  }
  EXPECT_EQ(mode_of(segment), 0644u);
  EXPECT_EQ(mode_of(lock_path(dir_.path(), ns)), 0600u);

  ASSERT_EQ(::chmod(segment.c_str(), 0666), 0);
  const std::string mode_log = refused_start(dir_.path(), ns);
  EXPECT_NE(mode_log.find(segment + " (owner uid 0, mode 0666)"), std::string::npos) << mode_log;
  EXPECT_EQ(mode_of(segment), 0666u) << "a refused segment is not chmod-ed";

  ASSERT_EQ(::chmod(segment.c_str(), 0644), 0);
  const std::string second = dir_.path() + "/second-link";
  ASSERT_EQ(::link(segment.c_str(), second.c_str()), 0);
  const std::string link_log = refused_start(dir_.path(), ns);
  EXPECT_NE(link_log.find("2 hard links"), std::string::npos) << link_log;

  ASSERT_EQ(::unlink(second.c_str()), 0);
  BrokerProcess again = broker_in(dir_.path(), ns);
  EXPECT_TRUE(again.start({"--segment-size", "4M"})) << "the same files, put right, are accepted";
  EXPECT_TRUE(again.stop()) << again.log();
}

TEST_F(NamespaceFiles, ARuntimeDirectoryWritableByGroupOrOtherOrOwnedByNobodyIsRefused) {
  const std::string ns = unique_namespace();
  const std::string dir = dir_.path() + "/run";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  struct Case {
    mode_t mode;
    uid_t owner;
    std::string expect;
  };
  for (const Case& c : {Case{0775, 0, "mode 0775"}, Case{0757, 0, "mode 0757"},
                        Case{0755, kNobodyUid, "owner uid 65534"}}) {
    ASSERT_EQ(::chmod(dir.c_str(), c.mode), 0);
    ASSERT_EQ(::chown(dir.c_str(), c.owner, c.owner == 0 ? 0 : kNobodyGid), 0);
    const std::string log = refused_start(dir, ns);
    EXPECT_NE(log.find("runtime directory: refused " + dir), std::string::npos) << log;
    EXPECT_NE(log.find(c.expect), std::string::npos) << log;
    EXPECT_EQ(::access(lock_path(dir, ns).c_str(), F_OK), -1) << "nothing is created in a refused directory";
  }
}

// Nobody can neither open the lock file (0600) to flock it nor create a file
// in the runtime directory: a broker restarts while such a process runs.
TEST_F(NamespaceFiles, NobodyCanNeitherHoldTheLockNorCreateFilesSoABrokerRestartsWhileItRuns) {
  const std::string ns = unique_namespace();
  const std::string lock = lock_path(dir_.path(), ns), planted = dir_.path() + "/" + ns + ".planted";
  BrokerProcess broker = broker_in(dir_.path(), ns);
  ASSERT_TRUE(broker.start({"--segment-size", "4M"})) << broker.log();
  ForkedChild nobody = ForkedChild::start([&](ChildChannel& ch) {
    if (!become_nobody()) return child_report(ch, "become_nobody failed");
    const int l = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    const int lock_errno = errno;
    const int c = ::open(planted.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    const int create_errno = errno;
    ch.send("lock " + std::string(l < 0 ? std::strerror(lock_errno) : "opened") + ", create " +
            std::string(c < 0 ? std::strerror(create_errno) : "created"));
    (void)ch.receive();  // stays alive until the test is done
    return 0;
  });
  const std::string denied = std::strerror(EACCES);
  EXPECT_EQ(nobody.receive(), "lock " + denied + ", create " + denied);
  ASSERT_TRUE(broker.stop()) << broker.log();
  EXPECT_TRUE(broker.start({"--segment-size", "4M"})) << "restart while nobody's process runs";
  EXPECT_TRUE(broker.stop()) << broker.log();
}

// The socket gets mode 0666 from bind() itself, under a umask. A chmod by
// path after bind could be sent through a symlink swapped in meanwhile (and
// make any file the broker can reach 0666); the kernel reports every such
// chmod to an inotify watch as IN_ATTRIB on the name, so the test watches
// the directory while a broker starts, twice (created and attached).
TEST_F(NamespaceFiles, TheSocketGetsMode0666FromBindAndIsNeverChmodedByPath) {
  const std::string ns = unique_namespace();
  const std::string sock = dir_.path() + "/" + ns + ".sock";
  for (int round = 0; round < 2; ++round) {
    const sys::UniqueFd watch(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    ASSERT_TRUE(watch);
    ASSERT_GE(::inotify_add_watch(watch.get(), dir_.path().c_str(), IN_ATTRIB | IN_CREATE), 0);
    BrokerProcess broker = broker_in(dir_.path(), ns);
    ASSERT_TRUE(broker.start({"--segment-size", "4M"})) << broker.log();
    EXPECT_EQ(mode_of(sock), 0666u);
    bool created = false, chmoded = false;
    alignas(inotify_event) char buf[4096];
    for (ssize_t n; (n = ::read(watch.get(), buf, sizeof buf)) > 0;) {
      for (char* p = buf; p < buf + n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(p);
        if (ev->len > 0 && std::string(ev->name) == ns + ".sock") {
          created |= (ev->mask & IN_CREATE) != 0;
          chmoded |= (ev->mask & IN_ATTRIB) != 0;
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
    EXPECT_TRUE(created) << "the watch saw the socket appear (round " << round << ")";
    EXPECT_FALSE(chmoded) << "the socket's mode was changed by path after bind (round " << round << ")";
    EXPECT_TRUE(broker.stop()) << broker.log();
  }
}

TEST_F(NamespaceFiles, TheSocketIsMode0666AndTheSegment0644EvenUnderARestrictiveUmask) {
  const std::string ns = unique_namespace();
  const mode_t old = ::umask(077);
  BrokerProcess broker = broker_in(dir_.path(), ns);
  auto started = broker.start({"--segment-size", "4M"});
  ::umask(old);
  ASSERT_TRUE(started) << broker.log();
  EXPECT_EQ(mode_of(dir_.path() + "/" + ns + ".sock"), 0666u);
  EXPECT_EQ(mode_of(segment_path(dir_.path(), ns)), 0644u);
  EXPECT_EQ(mode_of(lock_path(dir_.path(), ns)), 0600u);
  EXPECT_TRUE(broker.stop()) << broker.log();
}

}  // namespace
}  // namespace shmreg::test
