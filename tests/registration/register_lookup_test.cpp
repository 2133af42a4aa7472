// Registrations made by one process, seen by others: through the CLI and the
// client library, with the owner named by the kernel (invariant 2), conflicts
// reported with the owner's pid, entries that outlive their connection
// (invariant 7), and read-your-writes across processes (invariant 6).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"

namespace shmreg::test {
namespace {

class RegisterLookupTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
  }

  // A Client of the test process itself (lookups only, unless a test says so).
  shmreg::Client client() {
    auto c = shmreg::Client::open({ns(), socket_path()});
    if (!c) throw std::runtime_error("Client::open: " + c.error().message);
    return std::move(*c);
  }

  std::vector<shmreg::Entry> api_lookup(const std::string& reg, const std::string& key) {
    auto c = client();
    auto r = c.registry(reg);
    if (!r) throw std::runtime_error("registry: " + r.error().message);
    auto e = r->lookup(key);
    if (!e) throw std::runtime_error("lookup: " + e.error().message);
    return *e;
  }
};

TEST_F(RegisterLookupTest, KeyRegisteredByCliChildIsSeenWithItsPidByOtherProcesses) {
  Subprocess owner = Subprocess::spawn(cli_argv({"register", "svc", "db", "host=a:5432", "--", "sleep", "60"}));
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "db").empty(); })) << broker().log();

  // The CLI, in a third process.
  EXPECT_EQ(cli_lookup("svc", "db"), (Lookup{{owner.pid(), "host=a:5432"}}));
  // The client library, in this process.
  const auto entries = api_lookup("svc", "db");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].pid, static_cast<std::uint32_t>(owner.pid()));
  EXPECT_EQ(entries[0].value, "host=a:5432");
  EXPECT_EQ(entries[0].key, "db");
  // And the client library in yet another process.
  ForkedChild reader = ForkedChild::start([&](ChildChannel& ch) {
    auto c = shmreg::Client::open({ns(), socket_path()});
    if (!c) return child_report(ch, error_line(c.error()));
    auto v = c->registry("svc")->lookup_value("db");
    std::uint32_t pid = 0;
    (void)c->registry("svc")->lookup("db", [&](std::span<const shmreg::EntryView> views) {
      if (!views.empty()) pid = views[0].pid;
    });
    ch.send(v && *v ? std::to_string(pid) + " " + **v : std::string("missing"));
    return 0;
  });
  EXPECT_EQ(reader.receive(), std::to_string(owner.pid()) + " host=a:5432");
}

TEST_F(RegisterLookupTest, KeyRegisteredThroughTheApiInAChildIsSeenWithThatChildsPid) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "cache", "redis://x"));
  ASSERT_TRUE(owner.registers("pool", "worker", "w1"));

  // No polling: a write returns only once every reader can see it.
  EXPECT_EQ(cli_lookup("svc", "cache"), (Lookup{{owner.pid(), "redis://x"}}));
  EXPECT_EQ(cli_lookup("pool", "worker"), (Lookup{{owner.pid(), "w1"}}));
  const auto entries = api_lookup("svc", "cache");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].pid, static_cast<std::uint32_t>(owner.pid()));

  auto keys = client().registry("svc")->keys(static_cast<std::uint32_t>(owner.pid()));
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, std::vector<std::string>{"cache"});
  EXPECT_EQ(cli_ok({"keys", "pool", std::to_string(owner.pid())}), "worker\n");
}

// lookup_value into the caller's string: the value when there is one, an
// empty string for a missing key, and the string's room kept from call to
// call (no allocation once it is large enough).
TEST_F(RegisterLookupTest, LookupValueIntoACallersStringFillsItReusesItsRoomAndEmptiesItOnAMiss) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "long", std::string(40, 'x')));
  // Longer than the small-string buffer, so that a fresh string per call
  // would bring its own heap room.
  ASSERT_TRUE(owner.registers("svc", "short", std::string(20, 'y')));
  auto reg = client().registry("svc");
  ASSERT_TRUE(reg);

  std::string out = "left over";
  auto hit = reg->lookup_value("long", out);
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_TRUE(*hit);
  EXPECT_EQ(out, std::string(40, 'x'));
  const char* room = out.data();
  const std::size_t capacity = out.capacity();

  hit = reg->lookup_value("short", out);
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_TRUE(*hit);
  EXPECT_EQ(out, std::string(20, 'y'));
  EXPECT_EQ(out.data(), room) << "the shorter value was not copied into the string's room";
  EXPECT_EQ(out.capacity(), capacity);

  hit = reg->lookup_value("absent", out);
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_FALSE(*hit);
  EXPECT_EQ(out, "");
}

TEST_F(RegisterLookupTest, UniqueConflictAcrossProcessesReportsTheOwnersPid) {
  Actor holder = Actor::start(ns(), socket_path());
  ASSERT_TRUE(holder.ready());
  ASSERT_TRUE(holder.registers("svc", "leader", "node-1"));
  const std::string holder_pid = std::to_string(holder.pid());

  // The API, from another child: Error::pid names the holder.
  Actor rival = Actor::start(ns(), socket_path());
  ASSERT_TRUE(rival.ready());
  const auto words = rival.ask({"register", "svc", "leader", "node-2"});
  ASSERT_GE(words.size(), 3u) << join_fields(words);
  EXPECT_EQ(words[0], "error");
  EXPECT_EQ(words[1], "already_registered");
  EXPECT_EQ(words[2], holder_pid);

  // The API, from this process.
  auto mine = client().register_key("svc", "leader", "node-3");
  ASSERT_FALSE(mine);
  EXPECT_EQ(mine.error().code, shmreg::Errc::already_registered);
  EXPECT_EQ(mine.error().pid, static_cast<std::uint32_t>(holder.pid()));

  // The CLI: exit 3 and the holder's pid on stderr.
  RunResult r = cli({"register", "svc", "leader", "node-4"});
  EXPECT_EQ(r.exit_code(), 3) << r.describe();
  EXPECT_NE(r.err.find("already registered by PID " + holder_pid), std::string::npos) << r.describe();

  RunResult j = cli({"--json", "register", "svc", "leader", "node-5"});
  EXPECT_EQ(j.exit_code(), 3) << j.describe();
  const auto err = nlohmann::json::parse(j.err, nullptr, false);
  ASSERT_FALSE(err.is_discarded()) << j.err;
  EXPECT_EQ(err.value("error", ""), "already_registered");
  EXPECT_EQ(err.value("pid", 0u), static_cast<unsigned>(holder.pid()));

  // With -- CMD: exit 3, and CMD never runs.
  RunResult c = cli({"register", "svc", "leader", "node-6", "--", "echo", "cmd-ran"});
  EXPECT_EQ(c.exit_code(), 3) << c.describe();
  EXPECT_EQ(c.out.find("cmd-ran"), std::string::npos) << c.describe();

  // Nothing changed hands.
  EXPECT_EQ(cli_lookup("svc", "leader"), (Lookup{{holder.pid(), "node-1"}}));
}

TEST_F(RegisterLookupTest, ClosingTheConnectionKeepsTheEntriesUntilTheProcessExits) {
  Actor owner = Actor::start(ns(), socket_path());
  ASSERT_TRUE(owner.ready());
  ASSERT_TRUE(owner.registers("svc", "keep-a", "1"));
  ASSERT_TRUE(owner.registers("pool", "keep-b", "2"));
  ASSERT_TRUE(owner.expect_ok({"close"}));  // destroys the Client: the broker sees EOF

  // Make sure the broker has handled that EOF: it closed before these round
  // trips started, and each needs the broker's event loop to come round again.
  ASSERT_TRUE(owner.expect_ok({"open"}));
  ASSERT_TRUE(owner.expect_ok({"ping"}));
  cli_ok({"ping"});

  EXPECT_EQ(cli_lookup("svc", "keep-a"), (Lookup{{owner.pid(), "1"}}));
  EXPECT_EQ(cli_lookup("pool", "keep-b"), (Lookup{{owner.pid(), "2"}}));
  EXPECT_EQ(broker().log().find("reaped pid " + std::to_string(owner.pid())), std::string::npos) << broker().log();

  // A registration on the new connection joins the old ones.
  ASSERT_TRUE(owner.registers("svc", "keep-c", "3"));
  ASSERT_TRUE(owner.send({"exit", "0"}));
  const auto status = owner.process().wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0 && cli_count("pool") == 0; })) << broker().log();
}

// Invariant 2: the owner is the process that connected (SO_PEERCRED), not the
// one that happens to write on the socket. Raw frames on an inherited socket:
// libshmreg itself connects anew in a forked child (DeadlineTest covers that).
TEST_F(RegisterLookupTest, TheKernelNamesTheOwnerTheProcessThatConnectedNotTheOneThatWrites) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);  // the grandchild comes back to us
  sys::Pipe hold = make_pipe();                         // the grandchild lives until we close it
  ForkedChild connector = ForkedChild::start(
      [&](ChildChannel& ch) {
        auto c = RawConnection::connect(socket_path());  // from this process
        if (!c || !c->ping()) return child_report(ch, "cannot connect");
        const pid_t g = ::fork();
        if (g == 0) {
          // The same socket, from the grandchild.
          auto r = c->call({proto::RegisterKey{"svc", "inherited", "v"}});
          const bool ok = r && r->size() == 1 && r->front().status == proto::Status::ok;
          ch.send(join_fields({"registered", std::to_string(::getpid()),
                               ok ? "ok" : (r && !r->empty() ? r->front().message : "no reply")}));
          char b;
          while (::read(hold.read.get(), &b, 1) > 0) {
          }
          ::_exit(0);
        }
        while (ch.receive()) {
        }
        return 0;
      },
      {hold.read.get()});
  hold.read.reset();
  const auto line = connector.receive();
  ASSERT_TRUE(line);
  const auto words = split_fields(*line);
  ASSERT_EQ(words.size(), 3u) << *line;
  ASSERT_EQ(words[2], "ok") << *line;
  const pid_t grandchild = static_cast<pid_t>(std::stol(words[1]));
  ASSERT_NE(grandchild, connector.pid());

  EXPECT_EQ(cli_lookup("svc", "inherited"), (Lookup{{connector.pid(), "v"}}));

  // The entry goes with the connecting process, while the writer lives on.
  ASSERT_TRUE(connector.kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_lookup("svc", "inherited").empty(); })) << broker().log();
  EXPECT_EQ(::kill(grandchild, 0), 0) << "the grandchild should still be alive";

  hold.write.reset();
  int status = 0;
  EXPECT_EQ(::waitpid(grandchild, &status, 0), grandchild);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// Invariant 6: once register_key (or unregister) returns in process A, a
// lookup in process B, already running and told through a pipe, sees it.
TEST_F(RegisterLookupTest, WriteReturnedInOneProcessIsVisibleAtOnceInAnother) {
  constexpr int kRounds = 400;
  sys::Pipe a_to_b = make_pipe(), b_to_a = make_pipe();

  ForkedChild b = ForkedChild::start(
      [&](ChildChannel& ch) {
        auto c = shmreg::Client::open({ns(), socket_path()});
        if (!c) return child_report(ch, error_line(c.error()));
        auto svc = c->registry("svc");
        auto pool = c->registry("pool");
        if (!svc || !pool) return child_report(ch, "no registry");
        ch.send("ready");
        LineReader from_a(a_to_b.read.get());
        int checked = 0, misses = 0;
        std::string first_miss;
        while (auto line = from_a.read_line(std::chrono::hours(1))) {
          if (*line == "done") break;
          const auto w = split_fields(*line);  // "present|absent REG KEY PID"
          const auto& reg = w[1] == "svc" ? *svc : *pool;
          auto entries = reg.lookup(w[2]);
          const bool present =
              entries && std::any_of(entries->begin(), entries->end(),
                                     [&](const shmreg::Entry& e) { return std::to_string(e.pid) == w[3]; });
          ++checked;
          if (present != (w[0] == "present")) {
            if (misses++ == 0) first_miss = *line;
          }
          if (::write(b_to_a.write.get(), "k", 1) != 1) return 2;
        }
        ch.send(join_fields({"checked", std::to_string(checked), "misses", std::to_string(misses), first_miss}));
        return 0;
      },
      {a_to_b.read.get(), b_to_a.write.get()});
  ASSERT_EQ(b.receive(), "ready");

  ForkedChild a = ForkedChild::start(
      [&](ChildChannel& ch) {
        auto c = shmreg::Client::open({ns(), socket_path()});
        if (!c) return child_report(ch, error_line(c.error()));
        const std::string me = std::to_string(::getpid());
        auto tell_b = [&](const std::string& line) {
          const std::string l = line + "\n";
          char ack;
          return ::write(a_to_b.write.get(), l.data(), l.size()) == static_cast<ssize_t>(l.size()) &&
                 ::read(b_to_a.read.get(), &ack, 1) == 1;
        };
        for (int i = 0; i < kRounds; ++i) {
          const std::string reg = i % 2 == 0 ? "svc" : "pool";
          const std::string key = "k" + std::to_string(i % 5);  // reuses keys and record slots
          auto r = c->register_key(reg, key, "v" + std::to_string(i));
          if (!r) return child_report(ch, error_line(r.error()));
          if (!tell_b(join_fields({"present", reg, key, me}))) return 2;
          auto u = c->unregister(reg, key);
          if (!u || *u != 1) return child_report(ch, "unregister failed");
          if (!tell_b(join_fields({"absent", reg, key, me}))) return 2;
        }
        (void)!::write(a_to_b.write.get(), "done\n", 5);
        ch.send("done");
        return 0;
      },
      {a_to_b.write.get(), b_to_a.read.get()});

  EXPECT_EQ(a.receive(std::chrono::minutes(2)), "done");
  EXPECT_EQ(b.receive(std::chrono::minutes(2)), join_fields({"checked", std::to_string(2 * kRounds), "misses", "0", ""}));
}

}  // namespace
}  // namespace shmreg::test
