// A file at the segment's path before the broker starts, made by the broker's
// own uid (another uid's is NamespaceFiles' case): zeros of the right size,
// a few bytes of text, a segment of another namespace's broker cut short.
// The broker refuses to start, says why and which file to remove, and leaves
// the file as it found it; once it is removed, the broker starts afresh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "broker_test.hpp"

namespace shmreg::test {
namespace {

class PreCreatedSegment : public BrokerTest {
 protected:
  // Stops the test's broker if it runs and plants content at its segment's
  // path.
  ::testing::AssertionResult plant(const std::string& content) {
    if (broker().running())
      if (auto stopped = stop_broker(); !stopped) return stopped;
    remove_namespace_files(dir().path(), ns());
    std::ofstream out(segment_file(), std::ios::binary);
    out << content;
    out.close();
    if (!out || ::chmod(segment_file().c_str(), 0644) != 0) return ::testing::AssertionFailure() << "cannot plant";
    return ::testing::AssertionSuccess();
  }
  // A broker on the planted file: it must fail to start, name the file and
  // the reason, and leave the file's bytes alone.
  void expect_refused_untouched(const std::string& content, const std::string& reason) {
    auto started = broker().start(broker_args());
    ASSERT_FALSE(started) << "a broker started on a planted file";
    EXPECT_NE(started.error().find(reason), std::string::npos) << started.error();
    EXPECT_NE(started.error().find("remove " + segment_file()), std::string::npos) << started.error();
    EXPECT_EQ(file_text(segment_file()), content) << "the planted file was changed";
  }
};

TEST_F(PreCreatedSegment, AFileThatIsNoSegmentIsRefusedNamedAndLeftUntouchedThenRemovedAndReplaced) {
  const std::string zeros(std::size_t{16} << 20, '\0');
  ASSERT_TRUE(plant(zeros));
  expect_refused_untouched(zeros, "bad magic");

  const std::string text = "not a segment\n";
  ASSERT_TRUE(plant(text));
  expect_refused_untouched(text, "smaller than its header says");

  // Once an admin removes it, the broker creates its own and serves.
  ASSERT_TRUE(std::filesystem::remove(segment_file()));
  ASSERT_TRUE(start_broker(broker_args()));
  cli_ok({"create", "svc"});
  cli_ok({"register", "svc", "k", "v", "--", "true"});
  RunResult f = cli({"fsck"});
  EXPECT_EQ(f.exit_code(), 0) << f.describe();
}

TEST_F(PreCreatedSegment, ASegmentCutShortIsRefusedAndLeftUntouched) {
  cli_ok({"create", "svc"});
  ASSERT_TRUE(stop_broker());
  std::string image = file_text(segment_file());
  ASSERT_GT(image.size(), std::size_t{4096});
  image.resize(image.size() / 2);
  ASSERT_TRUE(plant(image));
  expect_refused_untouched(image, "smaller than its header says");
  ASSERT_TRUE(std::filesystem::remove(segment_file()));
  ASSERT_TRUE(start_broker(broker_args()));
}

}  // namespace
}  // namespace shmreg::test
