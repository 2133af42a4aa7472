// The sample segment (see sample_segment.hpp).
#include "sample_segment.hpp"

namespace shmreg::fuzz {

namespace {

shm::OwnerIdentity owner(std::uint32_t pid) {
  return shm::OwnerIdentity{pid, 1000, shm::kIdentityStartTime, std::uint64_t{pid} * 7919 + 1};
}

shm::RegistrySpec small_registry(std::string name, shm::RegistryKind kind) {
  shm::RegistrySpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.partitions = 2;
  s.max_key = 16;
  s.max_value = 48;
  s.capacity = 8;
  s.event_capacity = 8;
  return s;
}

template <class T>
shm::Status outcome(const shm::Result<T>& r) {
  if (!r) return shm::fail(r.error());
  return {};
}

// Every step of the sample, in order; the first that fails ends it with its error.
shm::Status fill(shm::SegmentWriter& w) {
  auto services = w.create_registry(small_registry("services", shm::RegistryKind::unique));
  if (!services) return shm::fail(services.error());
  auto workers = w.create_registry(small_registry("workers", shm::RegistryKind::duplicate));
  if (!workers) return shm::fail(workers.error());
  const std::uint32_t other = kSampleHolderPid + 1, third = kSampleHolderPid + 2;
  shm::Status done = outcome(w.insert(*services, "db", R"({"host":"db1","port":5432})", owner(kSampleHolderPid)));
  if (done) done = outcome(w.insert(*services, "cache", R"({"host":"c1"})", owner(other)));
  if (done) done = outcome(w.insert(*services, "gone", "x", owner(other)));
  if (done) done = outcome(w.remove(*services, "gone", other));
  if (done) done = outcome(w.update_value(*services, "cache", other, R"({"host":"c2"})", std::nullopt));
  if (done)
    done = outcome(w.insert_queued(*services, "leader", "a", owner(kSampleHolderPid), shm::kQueueAllowReplacement));
  if (done) done = outcome(w.insert_queued(*services, "leader", "b", owner(third), 0));
  if (done) done = outcome(w.insert(*workers, "jobs", R"(["w",1])", owner(kSampleHolderPid)));
  if (done) done = outcome(w.insert(*workers, "jobs", R"(["w",2])", owner(other)));
  if (done) done = outcome(w.insert(*workers, "jobs", "not json", owner(third)));
  if (done) done = outcome(w.insert(*workers, "mail", "m", owner(third)));
  if (done) done = outcome(w.set_static(*services, "config", "static value", true));
  if (done) done = outcome(w.put_meta(*services, "role", "primary"));
  if (done) done = outcome(w.put_meta(*workers, "shards", "2"));
  // Remote owners (another host's entries, as the cluster mirror puts them):
  // the host table and the owner words' remote bit in the image.
  if (done) done = outcome(w.put_remote(*services, "remote", R"({"host":"b1"})", {"node-b", 4242, 1000}));
  if (done) done = outcome(w.put_remote(*workers, "jobs", R"(["r",1])", {"node-c", 7, 1000}));
  return done;
}

}  // namespace

shm::Result<shm::SegmentWriter> make_sample_segment(int dir_fd, const std::string& name) {
  shm::CreateOptions o;
  o.size = kSampleSegmentSize;
  o.owner_capacity = kSampleOwnerCapacity;
  o.mode = 0600;
  o.writer.grace = std::chrono::nanoseconds(0);
  auto w = shm::SegmentWriter::create_at(dir_fd, name, o);
  if (!w) return w;
  if (auto filled = fill(*w); !filled) return shm::fail(filled.error());
  return w;
}

}  // namespace shmreg::fuzz
