// target_of (broker/src/target.hpp): who is behind a pidfd a client passes,
// and whether that client may act for it. The uid rule is checked against
// real children that change their uids (the suite runs as root, as CI does).
#include "target.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include "shmreg/sys/io.hpp"
#include "shmreg/sys/pidfd.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {
namespace {

constexpr uid_t kNobody = 65534;
constexpr uid_t kSomeoneElse = 4321;

struct Uids {
  uid_t real, effective, saved;
};

// A forked child that takes the given uids, then waits until released.
class Child {
 public:
  explicit Child(std::optional<Uids> uids = std::nullopt) {
    sys::Pipe ready = sys::Pipe::make(), release = sys::Pipe::make();
    pid_ = ::fork();
    if (pid_ == 0) {
      release.write.reset();
      if (uids && ::setresuid(uids->real, uids->effective, uids->saved) != 0) ::_exit(2);
      const char ok = 'r';
      if (!sys::write_all(ready.write.get(), &ok, 1)) ::_exit(3);
      char c;
      (void)sys::read_full(release.read.get(), &c, 1);  // returns at EOF: the parent released us
      ::_exit(0);
    }
    release_ = std::move(release.write);
    ready.write.reset();
    char c = 0;
    started_ = pid_ > 0 && sys::read_full(ready.read.get(), &c, 1);
    pidfd_ = sys::open_pidfd(pid_);
  }
  ~Child() { reap(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void reap() {
    release_.reset();
    if (pid_ > 0) (void)::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool started() const { return started_ && pidfd_; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }

 private:
  pid_t pid_ = -1;
  bool started_ = false;
  sys::UniqueFd release_;
  sys::UniqueFd pidfd_;
};

class TargetOf : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the uid rule needs root to start children under other uids";
  }
};

TEST_F(TargetOf, APidfdOfALiveProcessNamesItsPidUidAndIdentity) {
  Child child;
  ASSERT_TRUE(child.started());
  auto t = target_of(child.pidfd(), 0);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->pid, child.pid());
  EXPECT_EQ(t->uid, 0u);
  auto id = identity_of(child.pidfd(), child.pid());
  ASSERT_TRUE(id);
  EXPECT_EQ(t->identity.kind, id->kind);
  EXPECT_EQ(t->identity.value, id->value);
}

TEST_F(TargetOf, ACallerMayActForAProcessWhoseUidsAreAllItsOwn) {
  Child child(Uids{kNobody, kNobody, kNobody});
  ASSERT_TRUE(child.started());
  auto t = target_of(child.pidfd(), kNobody);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->uid, kNobody);
}

TEST_F(TargetOf, ACallerMayNotActForAProcessOfAnotherUid) {
  Child child(Uids{kNobody, kNobody, kNobody});
  ASSERT_TRUE(child.started());
  auto t = target_of(child.pidfd(), kSomeoneElse);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().status, proto::Status::permission_denied);
}

TEST_F(TargetOf, ACallerMayNotActForAProcessThatCanRegainAnotherUid) {
  // Real and effective uid are the caller's, but the saved uid is root: a
  // set-uid program the caller started, which is not the caller's to speak for.
  Child child(Uids{kNobody, kNobody, 0});
  ASSERT_TRUE(child.started());
  auto t = target_of(child.pidfd(), kNobody);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().status, proto::Status::permission_denied);
}

TEST_F(TargetOf, RootMayActForAProcessOfAnyUid) {
  Child child(Uids{kNobody, kNobody, kNobody});
  ASSERT_TRUE(child.started());
  auto t = target_of(child.pidfd(), 0);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->uid, kNobody);
}

TEST_F(TargetOf, ADescriptorThatIsNotAPidfdIsInvalidArgument) {
  sys::Pipe p = sys::Pipe::make();
  ASSERT_TRUE(p.read);
  auto t = target_of(p.read.get(), 0);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().status, proto::Status::invalid_argument);
}

TEST_F(TargetOf, APidfdOfAProcessThatHasExitedIsInvalidArgument) {
  Child child;
  ASSERT_TRUE(child.started());
  sys::UniqueFd kept(::fcntl(child.pidfd(), F_DUPFD_CLOEXEC, 0));
  ASSERT_TRUE(kept);
  child.reap();
  auto t = target_of(kept.get(), 0);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().status, proto::Status::invalid_argument);
  EXPECT_NE(t.error().message.find("has exited"), std::string::npos) << t.error().message;
}

}  // namespace
}  // namespace shmreg::broker
