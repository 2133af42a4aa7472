// The segment's file system too small for it at creation: the broker
// refuses to start (exit 1) with a message that names the segment, the size
// asked and the file system with its free space, and leaves no segment file
// behind. The file system is a real tmpfs of 1 MiB mounted for the test (as
// root); without the right to mount, the test is skipped and says why.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "broker_test.hpp"

namespace shmreg::test {
namespace {

// A tmpfs of `size` mounted on a fresh directory, unmounted at destruction.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& path, const std::string& size) : path_(path) {
    std::filesystem::create_directory(path_);
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

class SegmentSpace : public BrokerTest {};

TEST_F(SegmentSpace, ASegmentLargerThanItsTmpfsIsRefusedNamingSizeAndFileSystemAndLeavesNoFile) {
  const std::string mnt = dir().path() + "/small";
  SmallTmpfs fs(mnt, "1m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs for this test: " << fs.error();
  const std::string other = unique_namespace();
  RunResult r = run({broker_binary(), "--namespace", other, "--socket", mnt + "/broker.sock", "--segment-size", "16M"});
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("cannot create the segment " + segment_path(mnt, other) + " of 16777216 bytes"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("not enough space"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(mnt + ": tmpfs, "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" of 1048576 bytes free"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(segment_path(mnt, other))) << "a half-made segment was left behind";
  EXPECT_FALSE(std::filesystem::exists(mnt + "/broker.sock"));

}

}  // namespace
}  // namespace shmreg::test
