// Fuzz target: the segment reader and validate() on arbitrary segment bytes.
//
// Input: a sparse segment image (segment_image.hpp). It becomes the bytes of
// a memfd (nothing is written to any file system), which is attached as a
// reader attaches a segment file (SegmentReader::open_fd); then validate()
// walks all of it, and the reader answers every kind of query: the header,
// the owner table, and per registry its count, every entry, its meta, the
// keys and values of the owners it names, lookups and owner queues of the
// keys it holds and of a few keys it may not, and its event ring.
//
// The reader promises that any bytes at all give an answer or an error,
// never a fault, an endless loop or an unbounded allocation; validate()
// promises at most kMaxProblems problems, each saying where and what.
//
// A crash, a hang, an abort from require() or a sanitizer report is a
// finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "segment_image.hpp"
#include "shmreg/shm/events.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"

namespace {

namespace shm = shmreg::shm;

void require(bool ok) {
  if (!ok) std::abort();
}

// One memfd for the whole run: a segment is rewritten in place per input.
int image_fd() {
  static const int fd = ::memfd_create("shmreg-segment-fuzz", MFD_CLOEXEC);
  require(fd >= 0);
  return fd;
}

void query_keys(const shm::SegmentReader& r, const shm::RegistryView& reg, const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    std::string value;
    std::uint32_t pid = 0;
    (void)r.lookup_value(reg, key, value, &pid);
    if (auto entries = r.lookup_copy(reg, key))
      for (const shm::Entry& e : *entries) (void)r.values(reg, key, e.pid);
    (void)r.owner_queue(reg, key);
  }
}

void query_registry(const shm::SegmentReader& r, const shm::RegistryView& reg) {
  (void)r.count(reg);
  (void)r.meta(reg);
  std::vector<std::string> keys = {"db", "jobs", "leader", "config", "", std::string(reg.max_key() + 1, 'k')};
  std::vector<std::uint32_t> pids;
  (void)r.for_each(reg, [&](const shm::Entry& e) {
    if (keys.size() < 64) keys.push_back(e.key);
    if (pids.size() < 8) pids.push_back(e.pid);
  });
  query_keys(r, reg, keys);
  for (const std::uint32_t pid : pids) (void)r.keys(reg, pid);
  std::uint64_t next = 0;
  (void)shm::read_events(r, reg, 1, 64, next);
  (void)shm::event_head(r, reg);
  (void)r.registry(reg.name());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = image_fd();
  require(shmreg::fuzz::load_image(fd, std::span<const std::uint8_t>(data, size)));
  auto reader = shm::SegmentReader::open_fd(fd);
  if (!reader) return 0;
  const auto problems = shm::validate(*reader);
  require(problems.size() <= shm::kMaxProblems);
  for (const shm::Problem& p : problems) require(!p.where.empty() && !p.what.empty());
  (void)reader->header();
  (void)reader->owners();
  if (auto regs = reader->registries())
    for (const shm::RegistryView& reg : *regs) query_registry(*reader, reg);
  for (std::uint32_t id : {0u, 1u, shm::kMaxRegistries - 1, shm::kMaxRegistries})
    if (auto reg = reader->registry_by_id(id)) query_registry(*reader, *reg);
  return 0;
}
