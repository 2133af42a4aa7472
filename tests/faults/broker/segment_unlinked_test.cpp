// The segment file removed while the broker runs (an admin's rm,
// systemd-tmpfiles, a clean-up script): the broker notices within its check interval,
// recreates the file at its name from the live segment and writes the new
// file from then on (segment_guard.hpp). Live owners keep their entries and
// are still reaped when they die; a name that another file took meanwhile
// stops the broker loudly instead.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

// The inode at path, or 0 when there is none.
ino_t inode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class SegmentUnlinked : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
  bool log_has(const std::string& text) {
    return wait_until([&] { return broker().log().find(text) != std::string::npos; });
  }
};

TEST_F(SegmentUnlinked, TheBrokerRecreatesTheFileWithEveryEntryAndKeepsReapingItsOwners) {
  Actor survivor = Actor::start(ns(), socket_path());
  Actor casualty = Actor::start(ns(), socket_path());
  ASSERT_TRUE(survivor.ready() && casualty.ready());
  ASSERT_TRUE(survivor.registers("svc", "alive", "a"));
  ASSERT_TRUE(casualty.registers("svc", "doomed", "d"));
  const ino_t before = inode_of(segment_file());
  ASSERT_NE(before, 0u);
  // The broker's own reader (consistent lookups, status) maps the file now.
  EXPECT_EQ(cli_ok({"lookup", "--consistent", "svc", "alive"}), std::to_string(survivor.pid()) + "\ta\n");

  ASSERT_EQ(::unlink(segment_file().c_str()), 0);
  ASSERT_TRUE(wait_until([&] { return inode_of(segment_file()) != 0; })) << broker().log();
  EXPECT_NE(inode_of(segment_file()), before);
  EXPECT_TRUE(log_has("was removed while the broker ran")) << broker().log();
  EXPECT_TRUE(log_has("recreated the segment")) << broker().log();

  // A new reader finds every entry in the new file, which passes fsck.
  EXPECT_EQ(cli_lookup("svc", "alive"), (Lookup{{survivor.pid(), "a"}}));
  EXPECT_EQ(cli_lookup("svc", "doomed"), (Lookup{{casualty.pid(), "d"}}));
  RunResult fsck = cli({"fsck"});
  EXPECT_EQ(fsck.exit_code(), 0) << fsck.describe();
  struct stat st{};
  ASSERT_EQ(::stat(segment_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "readers must be let in as before";

  // The broker writes the new file: a death is reaped there, a write lands there.
  ASSERT_TRUE(casualty.process().kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "doomed").empty(); })) << broker().log();
  ASSERT_TRUE(survivor.registers("svc", "later", "l"));
  EXPECT_EQ(cli_lookup("svc", "later"), (Lookup{{survivor.pid(), "l"}}));
  // The broker's own reader moved to the new file too.
  EXPECT_EQ(cli_ok({"lookup", "--consistent", "svc", "later"}), std::to_string(survivor.pid()) + "\tl\n");
  EXPECT_EQ(cli({"lookup", "--consistent", "svc", "doomed"}).exit_code(), 1);
  fsck = cli({"fsck"});
  EXPECT_EQ(fsck.exit_code(), 0) << fsck.describe();
  EXPECT_TRUE(broker().running());
}

TEST_F(SegmentUnlinked, ASegmentRenamedAwayIsRecreatedAtItsNameToo) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "k", "v"));
  const std::string moved = dir().path() + "/moved-away";
  ASSERT_EQ(::rename(segment_file().c_str(), moved.c_str()), 0);
  ASSERT_TRUE(wait_until([&] { return inode_of(segment_file()) != 0; })) << broker().log();
  EXPECT_EQ(cli_lookup("svc", "k"), (Lookup{{owner.pid(), "v"}}));
  ::unlink(moved.c_str());
}

// The broker's own reader (consistent lookups) maps the file the writer
// writes, never whatever the name leads to when it is first needed: here a
// stale copy put at the name just after the recreation, before the guard's
// next check stops the broker for it.
TEST_F(SegmentUnlinked, TheBrokersOwnReaderMapsTheRecreatedFileNotWhatTheNameLeadsToLater) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "before", "b"));
  const std::string stale = dir().path() + "/stale";
  ASSERT_EQ(run({"cp", segment_file(), stale}).exit_code(), 0);
  const ino_t before = inode_of(segment_file());
  ASSERT_EQ(::unlink(segment_file().c_str()), 0);
  ASSERT_TRUE(wait_until([&] { return inode_of(segment_file()) != 0 && inode_of(segment_file()) != before; }))
      << broker().log();
  ASSERT_TRUE(owner.registers("svc", "after", "a"));
  ASSERT_EQ(::rename(stale.c_str(), segment_file().c_str()), 0);
  EXPECT_EQ(cli_ok({"lookup", "--consistent", "svc", "after"}), std::to_string(owner.pid()) + "\ta\n")
      << broker().log();
  EXPECT_TRUE(wait_until([&] { return !broker().running(); })) << broker().log();
  EXPECT_TRUE(log_has("now leads to another file")) << broker().log();
}

TEST_F(SegmentUnlinked, AnotherFileAtTheNameStopsTheBrokerLoudlyAndTheNextBrokerServesIt) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "k", "v"));
  // Swapped in one step, so that the broker never sees the name free: a copy
  // of the segment as an admin might restore it from elsewhere.
  const std::string copy = dir().path() + "/copy";
  ASSERT_EQ(run({"cp", segment_file(), copy}).exit_code(), 0);
  ASSERT_EQ(::rename(copy.c_str(), segment_file().c_str()), 0);

  ASSERT_TRUE(wait_until([&] { return !broker().running(); })) << broker().log();
  EXPECT_TRUE(log_has("now leads to another file")) << broker().log();
  EXPECT_TRUE(log_has("stopping with exit code 3")) << broker().log();
  ASSERT_TRUE(start_broker());
  EXPECT_EQ(cli_lookup("svc", "k"), (Lookup{{owner.pid(), "v"}}));
}

TEST_F(SegmentUnlinked, ARemovedRuntimeDirectoryStopsTheBrokerLoudly) {
  // A broker of its own in a directory the test can remove whole, as logind
  // removes a user's runtime directory; its log stays outside.
  const std::string run_dir = dir().path() + "/run";
  BrokerProcess user_broker(unique_namespace(), run_dir + "/broker.sock", dir().path() + "/user-broker.log");
  ASSERT_TRUE(succeeded(user_broker.start()));
  std::filesystem::remove_all(run_dir);
  ASSERT_TRUE(wait_until([&] { return !user_broker.running(); })) << user_broker.log();
  EXPECT_NE(user_broker.log().find("was removed while the broker ran, with its socket and segment"), std::string::npos)
      << user_broker.log();
  EXPECT_NE(user_broker.log().find("stopping with exit code 3"), std::string::npos) << user_broker.log();
}

TEST_F(SegmentUnlinked, ARenamedRuntimeDirectoryStopsTheBrokerLoudlyAndNothingIsRecreatedAtItsPath) {
  const std::string run_dir = dir().path() + "/run";
  const std::string moved = dir().path() + "/run-moved";
  BrokerProcess user_broker(unique_namespace(), run_dir + "/broker.sock", dir().path() + "/user-broker.log");
  ASSERT_TRUE(succeeded(user_broker.start()));
  ASSERT_EQ(::rename(run_dir.c_str(), moved.c_str()), 0);
  ASSERT_TRUE(wait_until([&] { return !user_broker.running(); })) << user_broker.log();
  EXPECT_NE(user_broker.log().find("was renamed or replaced while the broker ran"), std::string::npos)
      << user_broker.log();
  EXPECT_NE(user_broker.log().find("stopping with exit code 3"), std::string::npos) << user_broker.log();
  EXPECT_FALSE(std::filesystem::exists(run_dir));
}

TEST_F(SegmentUnlinked, ARemovedSocketNameStopsTheBrokerLoudly) {
  ASSERT_EQ(::unlink(socket_path().c_str()), 0);
  ASSERT_TRUE(wait_until([&] { return !broker().running(); })) << broker().log();
  EXPECT_TRUE(log_has("socket " + socket_path() + " was removed or replaced while the broker ran")) << broker().log();
  EXPECT_TRUE(log_has("stopping with exit code 3")) << broker().log();
}

}  // namespace
}  // namespace shmreg::test
