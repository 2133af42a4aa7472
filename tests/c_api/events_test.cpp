// The C ABI's events and send by name against a real broker: a watcher woken
// by another process's registration or timing out cleanly, await, and
// messages both ways between the C API and another process.
#include <unistd.h>

#include <string>

#include "actor.hpp"
#include "c_api_fixture.hpp"

namespace shmreg::test {
namespace {

using CApiEvents = CApiTest;

const std::int64_t kWaitMs = std::chrono::duration_cast<std::chrono::milliseconds>(kTimeout).count();

TEST_F(CApiEvents, AWatcherWakesWhenAnotherProcessRegistersItsKey) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  CWatcher w = watch(r.get(), "db");
  ASSERT_TRUE(w);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.registers("svc", "other", "x")) << "another key: filtered out";
  ASSERT_TRUE(a.send({"register", "svc", "db", "v"}));

  shmreg_event e{};
  ASSERT_EQ(shmreg_watch_next(w.get(), kWaitMs, &e), SHMREG_OK) << shmreg_last_error();
  EXPECT_EQ(e.type, SHMREG_EVENT_REGISTERED);
  EXPECT_EQ(as_view(e.key, e.key_len), "db");
  EXPECT_EQ(e.pid, static_cast<std::uint32_t>(a.pid()));
  EXPECT_GT(e.seq, 0u);
  EXPECT_TRUE(is_ok(a.answer()));
}

TEST_F(CApiEvents, AWatcherTimesOutCleanlyAndStillSeesLaterEvents) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  CWatcher w = watch(r.get());
  ASSERT_TRUE(w);
  shmreg_event e{};
  e.seq = 42;
  EXPECT_EQ(shmreg_watch_next(w.get(), 20, &e), SHMREG_TIMEOUT);
  EXPECT_EQ(e.seq, 42u) << "a timeout leaves the event alone";
  EXPECT_NE(std::string(shmreg_last_error()).find("20 ms"), std::string::npos) << shmreg_last_error();

  ASSERT_EQ(reg(c.get(), "svc", "a", "1"), SHMREG_OK);
  ASSERT_EQ(reg(c.get(), "svc", "b", "2"), SHMREG_OK);
  ASSERT_EQ(shmreg_watch_next(w.get(), kWaitMs, &e), SHMREG_OK) << shmreg_last_error();
  EXPECT_EQ(as_view(e.key, e.key_len), "a");
  ASSERT_EQ(shmreg_watch_next(w.get(), kWaitMs, &e), SHMREG_OK) << shmreg_last_error();
  EXPECT_EQ(as_view(e.key, e.key_len), "b");
  EXPECT_EQ(e.pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(shmreg_watch_next(w.get(), 0, &e), SHMREG_TIMEOUT);
}

TEST_F(CApiEvents, AwaitReturnsOnceAnotherProcessRegistersTheKey) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  EXPECT_EQ(shmreg_await(r.get(), "db", 2, 20), SHMREG_TIMEOUT);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.send({"register", "svc", "db", "v"}));
  EXPECT_EQ(shmreg_await(r.get(), "db", 2, kWaitMs), SHMREG_OK) << shmreg_last_error();
  EXPECT_TRUE(is_ok(a.answer()));
  EXPECT_EQ(shmreg_await(r.get(), "db", 2, 0), SHMREG_OK) << "already there: at once";
}

TEST_F(CApiEvents, AMailboxReceivesWhatAnotherProcessSendsToItsKey) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  shmreg_mailbox* raw = nullptr;
  ASSERT_EQ(shmreg_mailbox_open(c.get(), &raw), SHMREG_OK) << shmreg_last_error();
  CMailbox m(raw);
  EXPECT_GE(shmreg_mailbox_fd(m.get()), 0);
  shmreg_mailbox* second = nullptr;
  EXPECT_EQ(shmreg_mailbox_open(c.get(), &second), SHMREG_MAILBOX_EXISTS);
  ASSERT_EQ(reg(c.get(), "svc", "worker", "w"), SHMREG_OK);

  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.expect_ok({"send", "svc", "worker", "hello"}));
  shmreg_message msg{};
  ASSERT_EQ(shmreg_mailbox_receive(m.get(), kWaitMs, &msg), SHMREG_OK) << shmreg_last_error();
  EXPECT_STREQ(msg.registry, "svc");
  EXPECT_EQ(as_view(msg.key, msg.key_len), "worker");
  EXPECT_EQ(as_view(msg.body, msg.body_len), "hello");
  EXPECT_EQ(msg.sender_pid, static_cast<std::uint32_t>(a.pid()));
  EXPECT_EQ(msg.dropped, 0u);
  EXPECT_EQ(shmreg_mailbox_receive(m.get(), 0, &msg), SHMREG_TIMEOUT);
}

TEST_F(CApiEvents, SendReachesTheMailboxOfTheKeysOwner) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.expect_ok({"open_mailbox"}));
  ASSERT_TRUE(a.registers("svc", "worker", "w"));
  const std::string body("b\0dy", 4);
  std::size_t delivered = 0;
  ASSERT_EQ(shmreg_send(c.get(), "svc", "worker", 6, body.data(), body.size(), &delivered), SHMREG_OK)
      << shmreg_last_error();
  EXPECT_EQ(delivered, 1u);
  auto got = a.ask({"receive", std::to_string(kWaitMs)});
  ASSERT_TRUE(is_ok(got));
  ASSERT_EQ(got.size(), 7u) << join_fields(got);
  EXPECT_EQ(got[1], std::to_string(::getpid()));
  EXPECT_EQ(got[6], to_hex(body));

  EXPECT_EQ(shmreg_send(c.get(), "svc", "nobody", 6, "x", 1, nullptr), SHMREG_NOT_FOUND);
}

TEST_F(CApiEvents, AMessageOverTheLimitIsRefusedWithTheLimitInTheMessage) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  const std::string body(64 * 1024 + 1, 'x');
  EXPECT_EQ(shmreg_send(c.get(), "svc", "k", 1, body.data(), body.size(), nullptr), SHMREG_MESSAGE_TOO_LARGE);
  EXPECT_NE(std::string(shmreg_last_error()).find("65536"), std::string::npos) << shmreg_last_error();
}

}  // namespace
}  // namespace shmreg::test
