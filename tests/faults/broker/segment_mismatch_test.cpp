// A segment of another layout version, another ABI signature or no magic at
// all at the namespace's path (left by another build, or not shmreg's): the
// broker refuses to start and says what differs and what to do, leaving the
// file untouched; the library, the CLI's lookups and fsck refuse it as
// incompatible with a message. The header checks themselves are unit-tested
// in tests/shm (HeaderCheck).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <functional>

#include "broker_test.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

struct Mismatch {
  const char* name;
  std::function<void(shm::SegmentHeader&)> change;
  const char* broker_says;
};

const std::vector<Mismatch>& mismatches() {
  static const std::vector<Mismatch> all = {
      {"LayoutVersion", [](shm::SegmentHeader& h) { h.layout_version += 1; },
       "segment layout version differs from this build"},
      {"AbiSignature", [](shm::SegmentHeader& h) { h.abi_signature ^= 1; },
       "segment ABI signature differs from this build"},
      {"Magic", [](shm::SegmentHeader& h) { h.magic = 0; }, "not a shmreg segment (bad magic)"},
  };
  return all;
}

// Rewrites the header of the segment file at path through pwrite.
bool change_header(const std::string& path, const std::function<void(shm::SegmentHeader&)>& change) {
  const sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  shm::SegmentHeader h{};
  if (!fd || ::pread(fd.get(), &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return false;
  change(h);
  return ::pwrite(fd.get(), &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
}

class SegmentMismatch : public BrokerTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(SegmentMismatch, TheBrokerTheLibraryAndTheCliRefuseItClearlyAndLeaveItUntouched) {
  const Mismatch& m = mismatches()[GetParam()];
  cli_ok({"create", "svc"});
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(change_header(segment_file(), m.change));
  const std::string before = file_text(segment_file());

  RunResult second = run(broker().argv());
  EXPECT_EQ(second.exit_code(), 1) << second.describe();
  EXPECT_NE(second.err.find(std::string("cannot attach the existing segment: ") + m.broker_says), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("remove " + segment_file() + " to start afresh"), std::string::npos) << second.err;
  EXPECT_EQ(file_text(segment_file()), before) << "the broker changed a segment it refused";

  auto client = shmreg::Client::open({ns(), socket_path()});
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, shmreg::Errc::incompatible_segment) << client.error().message;
  EXPECT_NE(client.error().message.find(m.broker_says), std::string::npos) << client.error().message;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"lookup", "svc", "k"}, {"fsck"}}) {
    RunResult r = cli(args);
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_NE(r.err.find(m.broker_says), std::string::npos) << r.describe();
  }

  // Removed as the broker said: the next broker starts afresh.
  ASSERT_EQ(::unlink(segment_file().c_str()), 0);
  ASSERT_TRUE(start_broker());
}

INSTANTIATE_TEST_SUITE_P(Header, SegmentMismatch, ::testing::Range<std::size_t>(0, mismatches().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& p) { return mismatches()[p.param].name; });

}  // namespace
}  // namespace shmreg::test
