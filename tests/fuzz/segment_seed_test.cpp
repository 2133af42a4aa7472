// The segment fuzz target's committed seeds are images of segments of the
// current layout. A layout change makes them stale (the reader refuses them
// at the header, and the fuzzer would only ever test that refusal); this
// test then fails and says how to make them again.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "segment_image.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace {

namespace shm = shmreg::shm;

constexpr const char* kRemake =
    "; make the seeds again: fuzz_make_segment_seed tests/fuzz/corpus/segment (docs/reliability.md, Fuzzing)";

std::vector<std::uint8_t> read_seed(const std::string& name) {
  std::ifstream in(std::string(SHMREG_SEGMENT_CORPUS) + "/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The reader on the seed's image, or the error it gave.
shm::Result<shm::SegmentReader> attach_seed(const std::string& name) {
  const auto seed = read_seed(name);
  EXPECT_FALSE(seed.empty()) << name << " is missing or empty";
  shmreg::sys::UniqueFd fd(::memfd_create("shmreg-seed-test", MFD_CLOEXEC));
  EXPECT_TRUE(shmreg::fuzz::load_image(fd.get(), seed));
  return shm::SegmentReader::open_fd(fd.get());
}

TEST(SegmentSeeds, TheSampleAndTheEmptySegmentAttachAndValidateClean) {
  for (const char* name : {"sample.img", "empty.img"}) {
    auto reader = attach_seed(name);
    ASSERT_TRUE(reader.has_value()) << name << ": " << shm::to_string(reader.error()) << kRemake;
    for (const shm::Problem& p : shm::validate(*reader)) ADD_FAILURE() << name << ": " << p.where << ": " << p.what;
  }
}

TEST(SegmentSeeds, TheSampleHoldsItsRegistriesAndEntries) {
  auto reader = attach_seed("sample.img");
  ASSERT_TRUE(reader.has_value()) << kRemake;
  auto services = reader->registry("services");
  ASSERT_TRUE(services.has_value()) << kRemake;
  std::string value;
  ASSERT_EQ(reader->lookup_value(*services, "db", value), shm::Result<bool>(true));
  EXPECT_EQ(value, R"({"host":"db1","port":5432})");
  auto workers = reader->registry("workers");
  ASSERT_TRUE(workers.has_value()) << kRemake;
  EXPECT_EQ(reader->lookup_copy(*workers, "jobs").value_or(std::vector<shm::Entry>{}).size(), 4u);
  const auto remote = reader->lookup_copy(*services, "remote").value_or(std::vector<shm::Entry>{});
  ASSERT_EQ(remote.size(), 1u) << kRemake;
  EXPECT_EQ(remote[0].host, "node-b");
  EXPECT_EQ(remote[0].pid, 4242u);
}

TEST(SegmentSeeds, TheSegmentCutMidWriteAttachesWithItsWriteHalfApplied) {
  auto reader = attach_seed("cut-mid-write.img");
  ASSERT_TRUE(reader.has_value()) << shm::to_string(reader.error()) << kRemake;
  EXPECT_NE(reader->header().txn_state, shm::kTxnIdle) << kRemake;
}

}  // namespace
