// Send by name: mailboxes and Client::send through a real broker, between
// real processes (actors), with SIGKILL and a broker restart; and the CLI's
// send and receive.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

class Send : public ClientTest {
 protected:
  // An actor that opened its mailbox and then registered key.
  Actor receiver(const std::string& reg, const std::string& key, const std::string& value = "r") const {
    Actor a = Actor::start(ns(), socket_path());
    EXPECT_TRUE(a.ready());
    EXPECT_TRUE(is_ok(a.ask({"open_mailbox"})));
    EXPECT_TRUE(is_ok(a.ask({"register", reg, key, value})));
    return a;
  }
};

std::string message_of(const std::vector<std::string>& answer) { return answer.size() >= 4 ? answer[3] : ""; }

TEST_F(Send, DeliversTheBytesWithTheSendersPidAndUid) {
  create("svc", true);
  Actor r = receiver("svc", "worker");
  auto c = client();
  ASSERT_TRUE(c);
  const std::string body("bin\0ary\n\t\xff", 11);
  auto sent = c->send("svc", "worker", body);
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(sent->delivered_to, std::vector<std::uint32_t>{static_cast<std::uint32_t>(r.pid())});
  EXPECT_EQ(sent->no_mailbox, 0u);
  EXPECT_EQ(sent->mailbox_full, 0u);

  auto got = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(got));
  ASSERT_EQ(got.size(), 7u) << join_fields(got);
  EXPECT_EQ(got[1], std::to_string(::getpid()));
  EXPECT_EQ(got[2], std::to_string(::getuid()));
  EXPECT_EQ(got[3], "0");
  EXPECT_EQ(got[4], "svc");
  EXPECT_EQ(got[5], "worker");
  EXPECT_EQ(got[6], to_hex(body));
  EXPECT_EQ(r.ask({"receive", "0"}), (std::vector<std::string>{"ok", "none"}));
}

TEST_F(Send, ReachesTheOwnerOfEveryKeyItHoldsInAnyRegistry) {
  create("a", true);
  create("b", false);
  Actor r = receiver("a", "k1");
  ASSERT_TRUE(is_ok(r.ask({"register", "b", "k2", "x"})));
  Actor sender = Actor::start(ns(), socket_path());
  ASSERT_TRUE(sender.ready());
  ASSERT_TRUE(is_ok(sender.ask({"send", "a", "k1", "one"})));
  ASSERT_TRUE(is_ok(sender.ask({"send", "b", "k2", "two"})));
  auto first = r.ask({"receive", "20000"});
  auto second = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(first) && is_ok(second));
  EXPECT_EQ(first[1], std::to_string(sender.pid()));
  EXPECT_EQ(first[4] + "/" + first[5] + "/" + first[6], "a/k1/" + to_hex("one"));
  EXPECT_EQ(second[4] + "/" + second[5] + "/" + second[6], "b/k2/" + to_hex("two"));
}

TEST_F(Send, EachFailureHasItsOwnError) {
  create("svc", true);
  Actor sender = Actor::start(ns(), socket_path());
  ASSERT_TRUE(sender.ready());

  EXPECT_EQ(errc_of(sender.ask({"send", "nosuch", "k", "m"})), "registry_not_found");
  auto nobody = sender.ask({"send", "svc", "k", "m"});
  EXPECT_EQ(errc_of(nobody), "not_found");
  EXPECT_NE(message_of(nobody).find("no process owns key 'k'"), std::string::npos) << message_of(nobody);

  Actor silent = Actor::start(ns(), socket_path());
  ASSERT_TRUE(silent.ready());
  ASSERT_TRUE(is_ok(silent.ask({"register", "svc", "k", "v"})));
  auto none = sender.ask({"send", "svc", "k", "m"});
  EXPECT_EQ(errc_of(none), "no_mailbox");
  EXPECT_NE(message_of(none).find("pid " + std::to_string(silent.pid())), std::string::npos) << message_of(none);
}

TEST_F(Send, MessagesUpToTheMaximumPassAndLargerOnesAreRefused) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  auto c = client();
  ASSERT_TRUE(c);
  auto at_max = c->send("svc", "k", std::string(kMaxMessageSize, 'm'));
  ASSERT_TRUE(at_max) << at_max.error().message;
  auto got = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got[6].size(), 2 * kMaxMessageSize);

  auto over = c->send("svc", "k", std::string(kMaxMessageSize + 1, 'm'));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::message_too_large);

  // The broker checks too, for clients that are not libshmreg.
  auto conn = RawConnection::connect(socket_path());
  ASSERT_TRUE(conn);
  auto results = conn->call({proto::SendMessage{"svc", "k", std::string(proto::kMaxMessageBody + 1, 'm')}});
  ASSERT_TRUE(results);
  EXPECT_EQ(results->front().status, proto::Status::message_too_large);
  EXPECT_EQ(r.ask({"receive", "0"}), (std::vector<std::string>{"ok", "none"}));
}

TEST_F(Send, OnADuplicateRegistryEveryOwnerWithAMailboxGetsOneCopy) {
  create("topics", false);
  Actor a = receiver("topics", "news", "a");
  Actor b = receiver("topics", "news", "b");
  ASSERT_TRUE(is_ok(b.ask({"register", "topics", "news", "b2"})));  // two entries, one process: one copy
  Actor silent = Actor::start(ns(), socket_path());
  ASSERT_TRUE(silent.ready());
  ASSERT_TRUE(is_ok(silent.ask({"register", "topics", "news", "s"})));

  Actor sender = Actor::start(ns(), socket_path());
  ASSERT_TRUE(sender.ready());
  auto sent = sender.ask({"send", "topics", "news", "hello"});
  ASSERT_TRUE(is_ok(sent));
  const std::string ab = std::to_string(a.pid()) + "," + std::to_string(b.pid());
  const std::string ba = std::to_string(b.pid()) + "," + std::to_string(a.pid());
  EXPECT_TRUE(sent[1] == ab || sent[1] == ba) << sent[1];
  EXPECT_EQ(sent[2], "1");  // silent has no mailbox
  EXPECT_EQ(sent[3], "0");
  for (Actor* x : {&a, &b}) {
    auto got = x->ask({"receive", "20000"});
    ASSERT_TRUE(is_ok(got));
    EXPECT_EQ(got[6], to_hex("hello"));
    EXPECT_EQ(x->ask({"receive", "0"}), (std::vector<std::string>{"ok", "none"})) << "one copy per process";
  }
}

TEST_F(Send, MessagesFromOneSenderArriveInOrder) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  Actor sender = Actor::start(ns(), socket_path());
  ASSERT_TRUE(sender.ready());
  ASSERT_TRUE(r.send({"receive_seq", "500", "20000"}));  // reads while the sender sends
  auto sent = sender.ask({"send_seq", "svc", "k", "500"});
  ASSERT_TRUE(is_ok(sent));
  EXPECT_EQ(sent[1], "500");
  auto got = r.answer();
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got[1], "0") << "nothing dropped";
}

// A mailbox that is not read fills up: the sender is told, nothing blocks,
// and the receiver learns how many it lost from the next message it gets.
TEST_F(Send, AFullMailboxDropsNewMessagesAndTellsBothSides) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  auto c = client();
  ASSERT_TRUE(c);
  const std::string big(kMaxMessageSize, 'b');
  int accepted = 0, dropped = 0;
  for (int i = 0; i < 4000 && dropped == 0; ++i) {
    auto s = c->send("svc", "k", big);
    if (s) {
      ++accepted;
    } else {
      ASSERT_EQ(s.error().code, Errc::mailbox_full) << s.error().message;
      EXPECT_NE(s.error().message.find("full"), std::string::npos);
      ++dropped;
    }
  }
  ASSERT_EQ(dropped, 1) << "the backlog bound never applied after " << accepted << " messages";
  EXPECT_GE(accepted, static_cast<int>((4u << 20) / kMaxMessageSize) - 1);
  for (int i = 0; i < 2; ++i) {
    auto s = c->send("svc", "k", big);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::mailbox_full);
    ++dropped;
  }

  for (int i = 0; i < accepted; ++i) {
    auto got = r.ask({"receive", "20000"});
    ASSERT_TRUE(is_ok(got)) << "message " << i;
    ASSERT_EQ(got[3], "0") << "message " << i;
  }
  auto after = c->send("svc", "k", "after");
  ASSERT_TRUE(after) << after.error().message;
  auto got = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got[3], std::to_string(dropped));
  EXPECT_EQ(got[6], to_hex("after"));
}

TEST_F(Send, AfterTheOwnerIsKilledNoSendSucceedsAndTheKeyGoes) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("svc", "k", "before"));
  ASSERT_TRUE(r.process().kill_and_wait());  // SIGKILL
  bool any_ok = false;
  EXPECT_TRUE(wait_until([&] {
    auto s = c->send("svc", "k", "after");
    if (s) any_ok = true;
    return !s && s.error().code == Errc::not_found;
  }));
  EXPECT_FALSE(any_ok) << "a message was accepted for a dead owner";
}

TEST_F(Send, OneMailboxPerProcessAndAClosedOneTakesNothing) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  auto twice = r.ask({"open_mailbox"});
  EXPECT_EQ(errc_of(twice), "mailbox_exists") << join_fields(twice);

  ASSERT_TRUE(is_ok(r.ask({"close_mailbox"})));
  auto c = client();
  ASSERT_TRUE(c);
  // At once: the broker sees the closed end even before it reads it.
  auto closed = c->send("svc", "k", "m");
  ASSERT_FALSE(closed) << "a send to a closed mailbox was reported delivered";
  EXPECT_EQ(closed.error().code, Errc::no_mailbox);
  // Closing and at once reopening works even before the broker has read the
  // old connection's end.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(is_ok(r.ask({"open_mailbox"}))) << "round " << i;
    ASSERT_TRUE(is_ok(r.ask({"close_mailbox"}))) << "round " << i;
  }
  ASSERT_TRUE(is_ok(r.ask({"open_mailbox"})));
  ASSERT_TRUE(c->send("svc", "k", "again"));
  auto got = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got[6], to_hex("again"));
}

// Entries survive a broker restart (the new broker reconciles them); the
// mailbox reopens by itself on the receiver's next receive.
TEST_F(Send, TheMailboxReopensAfterABrokerRestart) {
  create("svc", true);
  Actor r = receiver("svc", "k");
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker());
  EXPECT_EQ(r.ask({"receive", "500"}), (std::vector<std::string>{"ok", "none"}));
  EXPECT_EQ(r.ask({"reopened"}), (std::vector<std::string>{"ok", "1"}));
  auto c = client();
  ASSERT_TRUE(c);
  auto s = c->send("svc", "k", "after restart");
  ASSERT_TRUE(s) << s.error().message;
  auto got = r.ask({"receive", "20000"});
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got[6], to_hex("after restart"));
}

TEST_F(Send, TheBrokerDropsAClientThatSendsAMessageFrame) {
  auto conn = RawConnection::connect(socket_path());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->send(proto::encode_message(proto::Message{.sender_pid = 1, .registry = "r", .key = "k"})));
  EXPECT_TRUE(conn->wait_for_close());
  auto again = RawConnection::connect(socket_path());
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->ping()) << "the broker itself is fine";
}

// -- the CLI ---------------------------------------------------------------------------------------

TEST_F(Send, CliReceivePrintsMessagesAndCliSendReportsWhereTheyWent) {
  ASSERT_EQ(cli({"create", "svc"}).exit_code(), 0);
  auto rx = Subprocess::spawn(cli_argv({"--json", "receive", "svc", "inbox", "v", "--count", "2", "--timeout", "20"}),
                              SpawnOptions{.stdout_pipe = true});
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "inbox").empty(); }));
  const pid_t rx_pid = cli_lookup("svc", "inbox").front().first;
  EXPECT_EQ(rx_pid, rx.pid());

  const std::string text = cli_ok({"send", "svc", "inbox", "hello"});
  EXPECT_EQ(text, "sent to pid " + std::to_string(rx_pid) + "\n");
  auto as_json = nlohmann::json::parse(cli_ok({"--json", "send", "svc", "inbox", "world"}));
  EXPECT_EQ(as_json["delivered_to"], nlohmann::json::array({rx_pid}));
  EXPECT_EQ(as_json["no_mailbox"], 0);
  EXPECT_EQ(as_json["mailbox_full"], 0);

  for (const char* body : {"hello", "world"}) {
    auto line = rx.read_stdout_line();
    ASSERT_TRUE(line);
    auto j = nlohmann::json::parse(*line);
    EXPECT_EQ(j["body"], body);
    EXPECT_EQ(j["key"], "inbox");
    EXPECT_EQ(j["registry"], "svc");
    EXPECT_EQ(j["dropped"], 0);
    EXPECT_GT(j["sender_pid"].get<int>(), 0);
  }
  EXPECT_EQ(rx.wait(), std::optional<int>(0));
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "inbox").empty(); })) << "the receiver's key is gone";

  auto gone = cli({"send", "svc", "inbox", "late"});
  EXPECT_EQ(gone.exit_code(), 1) << gone.describe();
  auto bad = cli({"send", "nosuch", "inbox", "x"});
  EXPECT_EQ(bad.exit_code(), 2) << bad.describe();
}

TEST_F(Send, CliSendTakesStdinAndFailsClearlyWithoutAMailbox) {
  ASSERT_EQ(cli({"create", "svc"}).exit_code(), 0);
  auto rx = Subprocess::spawn(cli_argv({"receive", "svc", "inbox", "--count", "1", "--timeout", "20"}),
                              SpawnOptions{.stdout_pipe = true});
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "inbox").empty(); }));
  auto tx = Subprocess::spawn(cli_argv({"send", "--stdin", "svc", "inbox"}), SpawnOptions{.stdin_pipe = true});
  const std::string body = "from stdin";
  ASSERT_EQ(::write(tx.stdin_fd(), body.data(), body.size()), static_cast<ssize_t>(body.size()));
  tx.close_stdin();
  EXPECT_EQ(tx.wait(), std::optional<int>(0));
  auto line = rx.read_stdout_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, std::to_string(tx.pid()) + "\tfrom stdin");
  EXPECT_EQ(rx.wait(), std::optional<int>(0));

  // A plain register holds the key without a mailbox.
  auto holder = Subprocess::spawn(cli_argv({"register", "svc", "plain", "v"}));
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "plain").empty(); }));
  auto none = cli({"send", "svc", "plain", "x"});
  EXPECT_EQ(none.exit_code(), 2) << none.describe();
  EXPECT_NE(none.err.find("no open mailbox"), std::string::npos) << none.err;
  auto none_json = cli({"--json", "send", "svc", "plain", "x"});
  EXPECT_EQ(nlohmann::json::parse(none_json.err)["error"], "no_mailbox") << none_json.err;

  // A stop signal ends receive cleanly (exit 0, key gone), even short of --count.
  auto stopped = Subprocess::spawn(cli_argv({"receive", "svc", "stopped", "--count", "5"}));
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "stopped").empty(); }));
  ASSERT_EQ(::kill(stopped.pid(), SIGTERM), 0);
  EXPECT_EQ(stopped.wait(), std::optional<int>(0));
  EXPECT_TRUE(cli_lookup("svc", "stopped").empty());

  auto both = cli({"send", "--stdin", "svc", "plain", "x"});
  EXPECT_EQ(both.exit_code(), 2);
  auto timeout = cli({"receive", "svc", "other", "--count", "1", "--timeout", "0.2"});
  EXPECT_EQ(timeout.exit_code(), 1) << timeout.describe();
  EXPECT_TRUE(holder.kill_and_wait());
}

}  // namespace
}  // namespace shmreg::test
