// The segment file removed while the broker runs (an admin's rm,
// systemd-tmpfiles, a clean-up script): the broker notices within its check interval,
// recreates the file at its name from the live segment and writes the new
// file from then on (segment_guard.hpp). Live owners keep their entries and
// are still reaped when they die; a name that another file took meanwhile
// stops the broker loudly instead. Processes that mapped the old file are
// told: every read, wait and write of theirs fails with segment_replaced
// until they open the namespace again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>

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
  // Removes the segment's name and waits until the broker has linked a new
  // file there (and so has marked the old one).
  ::testing::AssertionResult remove_segment_and_await_the_new_one() {
    const ino_t before = inode_of(segment_file());
    if (::unlink(segment_file().c_str()) != 0) return ::testing::AssertionFailure() << "unlink failed";
    if (!wait_until([&] { return inode_of(segment_file()) != 0 && inode_of(segment_file()) != before; }))
      return ::testing::AssertionFailure() << "no new segment file; broker log:\n" << broker().log();
    return ::testing::AssertionSuccess();
  }
  std::optional<Client> open_client() {
    auto c = Client::open({ns(), socket_path()});
    if (!c) {
      ADD_FAILURE() << "Client::open: " << c.error().message;
      return std::nullopt;
    }
    return std::move(*c);
  }
};

// True while thread tid of this process sleeps in the futex system call.
bool in_futex_wait(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string nr;
  return in >> nr && nr == std::to_string(SYS_futex);
}

// The error code of a failed Result, or "ok".
template <class T>
std::string code_of(const Result<T>& r) {
  return r ? std::string("ok") : std::string(to_string(r.error().code));
}

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
  // The survivor's Client maps the old file, which refuses writes now
  // (segment_replaced): a new one reaches the new file.
  ASSERT_EQ(errc_of(survivor.ask({"register", "svc", "later", "l"})), "segment_replaced");
  ASSERT_TRUE(survivor.expect_ok({"open"}));
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
  ASSERT_TRUE(owner.expect_ok({"open"}));  // its first Client maps the old file
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

TEST_F(SegmentUnlinked, AClientOfTheRemovedFileGetsSegmentReplacedFromReadsAndWritesAndAReopenedOneSeesTheLiveNamespace) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "alive", R"({"role":"db"})"));
  auto old_client = open_client();
  ASSERT_TRUE(old_client);
  auto old_reg = old_client->registry("svc");
  ASSERT_TRUE(old_reg);
  ASSERT_EQ(code_of(old_reg->lookup("alive")), "ok");

  ASSERT_TRUE(remove_segment_and_await_the_new_one());

  const auto hit = old_reg->lookup("alive");
  ASSERT_FALSE(hit) << "the old mapping still answered a lookup from the abandoned file";
  EXPECT_EQ(hit.error().code, Errc::segment_replaced);
  EXPECT_NE(hit.error().message.find("open the namespace again"), std::string::npos) << hit.error().message;
  EXPECT_EQ(code_of(old_reg->lookup("absent")), "segment_replaced") << "a miss";
  EXPECT_EQ(code_of(old_reg->lookup_value("alive")), "segment_replaced");
  EXPECT_EQ(code_of(old_reg->match("alive", R"("_")")), "segment_replaced");
  EXPECT_EQ(code_of(old_reg->keys(static_cast<std::uint32_t>(owner.pid()))), "segment_replaced");
  EXPECT_EQ(code_of(old_reg->count()), "segment_replaced");
  EXPECT_EQ(code_of(old_reg->list()), "segment_replaced");
  EXPECT_EQ(code_of(old_client->registry("svc")), "segment_replaced");
  // A write through the old client would land in the new file and stay
  // invisible to it: refused before it reaches the broker.
  EXPECT_EQ(code_of(old_client->register_key("svc", "through-old", "x")), "segment_replaced");

  // Opening the namespace again reaches the new file: the live owner's entry,
  // new registrations, and nothing the old client was refused.
  auto fresh = open_client();
  ASSERT_TRUE(fresh);
  auto reg = fresh->registry("svc");
  ASSERT_TRUE(reg);
  auto alive = reg->lookup("alive");
  ASSERT_TRUE(alive) << alive.error().message;
  ASSERT_EQ(alive->size(), 1u);
  EXPECT_EQ((*alive)[0].pid, static_cast<std::uint32_t>(owner.pid()));
  ASSERT_EQ(errc_of(owner.ask({"register", "svc", "later", "l"})), "segment_replaced") << "the owner's Client is old too";
  ASSERT_TRUE(owner.expect_ok({"open"}));
  ASSERT_TRUE(owner.registers("svc", "later", "l"));
  EXPECT_EQ(code_of(reg->lookup_value("later")), "ok");
  EXPECT_EQ(reg->lookup_value("later").value_or(std::nullopt), std::optional<std::string>("l"));
  auto refused = reg->lookup("through-old");
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_TRUE(refused->empty()) << "the refused write was applied";
  EXPECT_EQ(code_of(fresh->register_key("svc", "through-new", "n")), "ok");
}

TEST_F(SegmentUnlinked, AWatcherAndAnAwaitAsleepOnTheRemovedFileReturnSegmentReplacedLongBeforeTheirTimeout) {
  auto old_client = open_client();
  ASSERT_TRUE(old_client);
  auto old_reg = old_client->registry("svc");
  ASSERT_TRUE(old_reg);
  Watcher watcher = old_reg->watch();
  std::atomic<pid_t> watcher_tid{0}, await_tid{0};
  // A minute each: without the broker's wake they would sleep all of it.
  auto watched = std::async(std::launch::async, [&] {
    watcher_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return watcher.next(std::chrono::minutes(1));
  });
  auto awaited = std::async(std::launch::async, [&] {
    await_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return old_reg->await("never", std::chrono::minutes(1));
  });
  ASSERT_TRUE(wait_until([&] {
    return watcher_tid != 0 && await_tid != 0 && in_futex_wait(watcher_tid) && in_futex_wait(await_tid);
  }));

  ASSERT_TRUE(remove_segment_and_await_the_new_one());

  ASSERT_EQ(watched.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the watcher slept on";
  ASSERT_EQ(awaited.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the await slept on";
  EXPECT_EQ(code_of(watched.get()), "segment_replaced");
  EXPECT_EQ(code_of(awaited.get()), "segment_replaced");
}

TEST_F(SegmentUnlinked, ACliWatchStartedBeforeTheRemovalExitsWith2AndSaysToOpenTheNamespaceAgain) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  const std::string err = dir().path() + "/watch.err";
  Subprocess watch = Subprocess::spawn(cli_argv({"watch", "svc", "--timeout", "60"}),
                                       SpawnOptions{.stdout_path = "", .stderr_path = err, .stdout_pipe = true});
  // An event it prints shows that it has the namespace open.
  int n = 0;
  ASSERT_TRUE(wait_until([&] {
    if (!owner.registers("svc", "k" + std::to_string(n++), "v")) return false;
    return watch.read_stdout_line(std::chrono::milliseconds(200)).has_value();
  }));

  ASSERT_TRUE(remove_segment_and_await_the_new_one());

  const auto status = watch.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status) << "shmreg watch went on watching the abandoned file";
  EXPECT_EQ(describe_wait_status(*status), "exited with code 2");
  std::ifstream in(err);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("open the namespace again"), std::string::npos) << text;
}

}  // namespace
}  // namespace shmreg::test
