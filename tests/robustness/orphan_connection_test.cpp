// A connection outlives the process that opened it: a child kept it, or it
// was passed on. The kernel named the opener as the peer when it connected;
// once the opener is gone its pid can be recycled by another user's process,
// and a write on the old connection would act for (or settle against)
// whoever holds that pid now. The broker answers such a connection's pings
// and refuses everything else.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

class OrphanConnectionTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
  // A connection the test holds, opened (connect(2)) by a child that has
  // exited since; the broker answered the child's ping first, so it knows
  // the child as the peer.
  std::optional<RawConnection> connection_of_an_exited_process() const {
    sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return std::nullopt;
    const int raw = fd.get();
    const std::string path = socket_path();
    ForkedChild opener = ForkedChild::start(
        [raw, path](ChildChannel&) {
          sockaddr_un addr{};
          addr.sun_family = AF_UNIX;
          std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
          if (::connect(raw, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return 10;
          auto own = RawConnection::adopt(sys::UniqueFd(::dup(raw)));
          return own.ping() ? 0 : 11;
        },
        {raw});
    const auto status = opener.wait();
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) return std::nullopt;
    return RawConnection::adopt(std::move(fd));
  }
};

TEST_F(OrphanConnectionTest, AConnectionWhoseOpenerExitedIsRefusedEveryWriteAndStillAnswersPings) {
  Actor victim = Actor::start(ns(), socket_path());
  ASSERT_TRUE(victim.ready());
  ASSERT_TRUE(victim.registers("svc", "name", "theirs"));

  auto orphan = connection_of_an_exited_process();
  ASSERT_TRUE(orphan) << "no connection of an exited process";
  const std::vector<proto::Op> ops{proto::RegisterKey{"svc", "mine", "v"}, proto::UnregisterAll{},
                                   proto::Unregister{"svc", "name"}};
  auto replies = orphan->call(ops);
  ASSERT_TRUE(replies && replies->size() == ops.size());
  for (const proto::OpResult& r : *replies) {
    EXPECT_EQ(r.status, proto::Status::permission_denied) << r.message;
    EXPECT_NE(r.message.find("which has exited"), std::string::npos) << r.message;
  }
  EXPECT_TRUE(orphan->ping());
  EXPECT_EQ(cli_ok({"lookup", "svc", "name"}), std::to_string(victim.pid()) + "\ttheirs\n");
  EXPECT_NE(cli({"lookup", "svc", "mine"}).exit_code(), 0);
}

}  // namespace
}  // namespace shmreg::test
