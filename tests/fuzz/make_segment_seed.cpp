// Writes the segment fuzz target's seeds (segment_image.hpp) into the
// directory given: images of segments the real writer made.
//
//   sample.img         the sample segment (sample_segment.hpp)
//   empty.img          a segment just created: no registry, no owner
//   cut-mid-write.img  the sample with one more insert cut short by a crash
//                      (the writer's fault point), as a restarted broker
//                      would find it: the write half applied
//
//   build/ci/tests/fuzz/fuzz_make_segment_seed tests/fuzz/corpus/segment
//
// Run it again when the layout changes (the replay of the committed seeds
// fails then: fuzz.segment.CommittedSeedsAreCurrentSegments).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "sample_segment.hpp"
#include "segment_image.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace {

namespace fs = std::filesystem;
namespace shm = shmreg::shm;

bool write_seed(const fs::path& segment, const fs::path& seed) {
  std::ifstream in(segment, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto image = shmreg::fuzz::encode_image(bytes);
  std::ofstream out(seed, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
  std::cout << seed.string() << ": " << image.size() << " bytes for a segment of " << bytes.size() << "\n";
  return static_cast<bool>(out);
}

// The sample, then an insert that a fault point ends halfway, in a child.
bool make_cut_segment(int dir_fd, const fs::path& dir) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto w = shmreg::fuzz::make_sample_segment(dir_fd, "cut.segment");
    if (!w) ::_exit(1);
    w = shm::SegmentWriter::attach((dir / "cut.segment").string(), shm::WriterOptions{.grace = {}, .fault_point = 3});
    if (!w) ::_exit(2);
    const std::uint32_t registry = w->find_registry("workers").value_or(0);
    (void)w->insert(registry, "jobs", "cut", shm::OwnerIdentity{4300, 1000, shm::kIdentityStartTime, 7});
    ::_exit(3);
  }
  int status = 0;
  return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) &&
         WEXITSTATUS(status) == shm::kFaultExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR\n";
    return 2;
  }
  const fs::path out(argv[1]);
  std::string tmp = (fs::temp_directory_path() / "shmreg-seed-XXXXXX").string();
  if (::mkdtemp(tmp.data()) == nullptr) return 1;
  const fs::path dir(tmp);
  shmreg::sys::UniqueFd dir_fd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  shm::CreateOptions empty;
  empty.size = shmreg::fuzz::kSampleSegmentSize;
  empty.owner_capacity = shmreg::fuzz::kSampleOwnerCapacity;
  empty.mode = 0600;
  const bool ok = dir_fd.get() >= 0 && shmreg::fuzz::make_sample_segment(dir_fd.get(), "sample.segment").has_value() &&
                  shm::SegmentWriter::create_at(dir_fd.get(), "empty.segment", empty).has_value() &&
                  make_cut_segment(dir_fd.get(), dir) && write_seed(dir / "sample.segment", out / "sample.img") &&
                  write_seed(dir / "empty.segment", out / "empty.img") &&
                  write_seed(dir / "cut.segment", out / "cut-mid-write.img");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ok) std::cerr << "make_segment_seed: failed\n";
  return ok ? 0 : 1;
}
