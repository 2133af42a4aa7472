// A broken invariant ends the broker: when the broker's own segment turns out
// corrupt under an op, it answers segment_corrupt, logs what it found, and
// exits non-zero (so that systemd restarts it and the attach-time repair
// runs) instead of carrying on. A real shmreg-broker; the test, as root,
// breaks the live segment through a read-write mapping of its own.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "broker_process.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {
namespace {

namespace it = shmreg::test;
using proto::Status;

class CorruptSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "writing the broker's segment needs root";
    it::remove_namespaces_of_dead_tests();
    start_broker();
  }
  void start_broker() {
    it::SpawnOptions o;
    o.stdout_path = o.stderr_path = log_path_;
    broker_ = it::Subprocess::spawn({it::broker_binary(), "--namespace", ns_, "--socket", socket_, "--segment-size",
                                     "16M"},
                                    o);
    ASSERT_TRUE(it::wait_until([&] {
      auto c = it::RawConnection::connect(socket_);
      return c && c->ping().has_value();
    })) << log();
  }
  void TearDown() override {
    broker_.kill_and_wait();
    it::remove_namespace_files(dir_.path(), ns_);
    if (HasFailure()) std::cerr << "--- broker log:\n" << log();
  }

  std::string log() const {
    std::ifstream in(log_path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Sets the length of registry 0's current meta block, in the live segment.
  void set_meta_len(std::uint32_t len) {
    sys::UniqueFd fd(::open(it::segment_path(dir_.path(), ns_).c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd);
    const std::size_t size = shm::kHeaderSize + sizeof(shm::RegistryDesc);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(p, MAP_FAILED);
    auto* base = static_cast<std::byte*>(p);
    const auto* header = reinterpret_cast<const shm::SegmentHeader*>(base);
    ASSERT_EQ(header->registry_dir_offset, shm::kHeaderSize);
    auto* desc = reinterpret_cast<shm::RegistryDesc*>(base + header->registry_dir_offset);
    desc->meta_len[desc->meta_active & 1u] = len;
    ::munmap(p, size);
  }

  std::string ns_ = it::unique_namespace();
  it::TempDir dir_;
  std::string socket_ = dir_.path() + "/broker.sock";
  std::string log_path_ = dir_.path() + "/broker.log";
  it::Subprocess broker_;
};

TEST_F(CorruptSegment, ACorruptMetaBlockUnderAnOpMakesTheBrokerAnswerSegmentCorruptAndExitNonZero) {
  auto conn = it::RawConnection::connect(socket_);
  ASSERT_TRUE(conn);
  auto setup = conn->call({proto::CreateRegistry{.name = "svc"}, proto::PutMeta{"svc", "owner", "team-a"}});
  ASSERT_TRUE(setup);
  ASSERT_EQ((*setup)[0].status, Status::ok) << (*setup)[0].message;
  ASSERT_EQ((*setup)[1].status, Status::ok) << (*setup)[1].message;

  // 12 bytes: the block now ends inside its one pair.
  set_meta_len(12);
  auto r = conn->call({proto::PutMeta{"svc", "tier", "1"}});
  ASSERT_TRUE(r) << "the broker answers the op before it stops";
  EXPECT_EQ((*r)[0].status, Status::segment_corrupt) << (*r)[0].message;

  const auto status = broker_.wait();
  ASSERT_TRUE(status) << "the broker did not stop";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << it::describe_wait_status(*status);
  EXPECT_NE(log().find("broken invariant: put_meta on registry 'svc', key 'tier'"), std::string::npos);
}

TEST_F(CorruptSegment, AnOpAfterTheBrokerFoundItsSegmentCorruptIsNotRun) {
  auto conn = it::RawConnection::connect(socket_);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->call({proto::CreateRegistry{.name = "svc"}, proto::PutMeta{"svc", "owner", "team-a"}}));
  set_meta_len(12);
  auto r = conn->call({proto::DeleteMeta{"svc", "owner"}, proto::CreateRegistry{.name = "other"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].status, Status::segment_corrupt);
  EXPECT_EQ((*r)[1].status, Status::segment_corrupt) << "a later op of the same frame must not write";
  const auto status = broker_.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << it::describe_wait_status(*status);
}

TEST_F(CorruptSegment, ARestartedBrokerReplacesAnUndecodableMetaBlockInsteadOfStoppingAgain) {
  auto conn = it::RawConnection::connect(socket_);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->call({proto::CreateRegistry{.name = "svc"}, proto::PutMeta{"svc", "owner", "team-a"}}));
  set_meta_len(12);
  auto r = conn->call({proto::PutMeta{"svc", "tier", "1"}});
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)[0].status, Status::segment_corrupt);
  ASSERT_TRUE(broker_.wait());

  // The next broker falls back to the block before the damage (the empty
  // meta the registry was created with) and serves meta writes again.
  start_broker();
  auto again = it::RawConnection::connect(socket_);
  ASSERT_TRUE(again);
  auto w = again->call({proto::PutMeta{"svc", "tier", "1"}});
  ASSERT_TRUE(w) << log();
  EXPECT_EQ((*w)[0].status, Status::ok) << (*w)[0].message;
  EXPECT_TRUE(broker_.running()) << log();
  EXPECT_NE(log().find("did not decode"), std::string::npos) << log();
}

}  // namespace
}  // namespace shmreg::broker
