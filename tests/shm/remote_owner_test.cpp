// Remote owners (layout.hpp, kIdentityRemote): entries the broker's cluster
// mirror puts for processes on other hosts, with the host's name readable by
// every reader, and nothing local able to touch them.
#include <atomic>
#include <set>
#include <thread>

#include "shmreg/shm/events.hpp"
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

class RemoteOwnerTest : public SegmentFixture {
 protected:
  void SetUp() override {
    create(small_segment(std::size_t{4} << 20, 64));
    uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, 2)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2)));
  }
  std::vector<Entry> entries(std::string_view reg, std::string_view key) {
    return ok(r().lookup_copy(view(reg), key));
  }
  std::vector<EventType> event_types(std::string_view reg) {
    std::uint64_t next = 0;
    std::vector<EventType> out;
    for (const Event& e : ok(read_events(r(), view(reg), 1, 100, next))) out.push_back(e.type);
    return out;
  }
  std::uint32_t uniq_ = 0, dup_ = 0;
};

TEST_F(RemoteOwnerTest, RemoteEntryIsReadWithItsHostAndItsPidThere) {
  ok(w().put_remote(uniq_, "db", "10.0.0.2:5432", {"node-b", 4242, 1000}));
  const auto got = entries("uniq", "db");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, "10.0.0.2:5432");
  EXPECT_EQ(got[0].pid, 4242u);
  EXPECT_EQ(got[0].host, "node-b");
  // The zero-copy view carries the host too.
  std::string host;
  ok(r().lookup(view("uniq"), "db", [&](std::span<const EntryView> views) {
    if (!views.empty()) host = std::string(views[0].host);
  }));
  EXPECT_EQ(host, "node-b");
  // for_each, the owner table and the writer's host list agree.
  std::vector<Entry> walked;
  ok(r().for_each(view("uniq"), [&](const Entry& e) { walked.push_back(e); }));
  ASSERT_EQ(walked.size(), 1u);
  EXPECT_EQ(walked[0].host, "node-b");
  const auto owners = ok(r().owners());
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].identity_kind, kIdentityRemote);
  EXPECT_EQ(owners[0].host, "node-b");
  EXPECT_EQ(w().hosts(), std::vector<std::string>{"node-b"});
  EXPECT_EQ(event_types("uniq"), std::vector<EventType>{EventType::registered});
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, ALocalInsertOnARemoteNameNamesItsHostAndPid) {
  ok(w().put_remote(uniq_, "db", "v", {"node-b", 4242, 0}));
  std::uint32_t holder = 0;
  EXPECT_EQ(error_of(w().insert(uniq_, "db", "mine", owner(77), &holder)), Errc::already_registered);
  EXPECT_TRUE(is_remote_owner(holder));
  EXPECT_EQ(w().remote_owner(holder), (std::pair<std::string, std::uint32_t>{"node-b", 4242}));
  EXPECT_EQ(w().remote_owner(77), std::nullopt) << "a local pid";
}

TEST_F(RemoteOwnerTest, LocalEntryHasNoHost) {
  ok(w().insert(uniq_, "db", "v", owner(4242)));
  const auto got = entries("uniq", "db");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].pid, 4242u);
  EXPECT_TRUE(got[0].host.empty());
}

TEST_F(RemoteOwnerTest, RemotePidEqualToALocalPidIsAnotherOwner) {
  ok(w().insert(uniq_, "local", "l", owner(4242)));
  ok(w().put_remote(uniq_, "remote", "r", {"node-b", 4242, 0}));
  EXPECT_EQ(ok(r().keys(view("uniq"), 4242)), std::vector<std::string>{"local"});
  EXPECT_TRUE(ok(r().values(view("uniq"), "remote", 4242)).empty()) << "values(pid) means this host's pid";
  // What a local process can do with its pid never reaches the remote entry.
  EXPECT_EQ(ok(w().remove(uniq_, "remote", 4242)), 0u);
  EXPECT_EQ(error_of(w().update_value(uniq_, "remote", 4242, "x", std::nullopt)), Errc::not_found);
  EXPECT_EQ(ok(w().remove_owner(4242, RemoveReason::owner_died)), 1u);
  ASSERT_EQ(entries("uniq", "remote").size(), 1u);
  EXPECT_EQ(entries("uniq", "remote")[0].host, "node-b");
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, RemoteOwnersAreNeitherReapedNorCounted) {
  ok(w().put_remote(uniq_, "a", "1234", {"node-b", 7, 1000}));
  ok(w().put_remote(dup_, "a", "1234", {"node-b", 7, 1000}));
  EXPECT_TRUE(w().owners().empty()) << "the broker re-arms or reaps what owners() lists";
  EXPECT_EQ(w().usage_of(1000), UidUsage{}) << "a remote uid is not this host's user";
  EXPECT_TRUE(w().usage().empty());
}

TEST_F(RemoteOwnerTest, LocalInsertCannotClaimARemoteWordOrKind) {
  const std::uint32_t word = make_remote_owner(0, 7);
  EXPECT_EQ(error_of(w().insert(uniq_, "k", "v", owner(word))), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().insert(uniq_, "k", "v", OwnerIdentity{7, 0, kIdentityRemote, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().insert_queued(uniq_, "k", "v", owner(word), 0)), Errc::invalid_argument);
}

TEST_F(RemoteOwnerTest, PutRemoteRefusesBadHostsAndPids) {
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "v", {"", 1, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "v", {std::string(64, 'h'), 1, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "v", {"bad host", 1, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "v", {"node-b", 0, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "v", {"node-b", 1u << 22, 0})), Errc::invalid_argument);
  ok(w().put_remote(uniq_, "k", "v", {std::string(63, 'h'), (1u << 22) - 1, 0}));
  EXPECT_EQ(entries("uniq", "k")[0].host, std::string(63, 'h'));
  EXPECT_TRUE(w().hosts().size() == 1u);
}

TEST_F(RemoteOwnerTest, PutRemoteReplacesAnotherRemoteHolderAndFreesItsHost) {
  ok(w().put_remote(uniq_, "k", "old", {"node-b", 1, 0}));
  ok(w().put_remote(uniq_, "k", "new", {"node-c", 2, 0}));
  const auto got = entries("uniq", "k");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].host, "node-c");
  EXPECT_EQ(got[0].pid, 2u);
  EXPECT_EQ(got[0].value, "new");
  EXPECT_EQ(w().hosts(), std::vector<std::string>{"node-c"}) << "node-b's last owner went";
  EXPECT_EQ(r().header().owner_count, 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, PutRemoteOfTheSameOwnerUpdatesItsValueOrWritesNothing) {
  const auto first = ok(w().put_remote(uniq_, "k", "v1", {"node-b", 1, 0}));
  const std::uint64_t commits = r().header().commit_seq;
  const auto same = ok(w().put_remote(uniq_, "k", "v1", {"node-b", 1, 0}));
  EXPECT_EQ(same.version, first.version);
  EXPECT_EQ(r().header().commit_seq, commits) << "the same value again is no write";
  const auto changed = ok(w().put_remote(uniq_, "k", "v2", {"node-b", 1, 0}));
  EXPECT_NE(changed.version, first.version);
  EXPECT_EQ(entries("uniq", "k")[0].value, "v2");
  EXPECT_EQ(event_types("uniq"), (std::vector<EventType>{EventType::registered, EventType::updated}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, PutRemoteOnAKeyHeldHereIsAlreadyRegistered) {
  ok(w().insert(uniq_, "k", "mine", owner(55)));
  std::uint32_t holder = 0;
  EXPECT_EQ(error_of(w().put_remote(uniq_, "k", "theirs", {"node-b", 1, 0}, &holder)), Errc::already_registered);
  EXPECT_EQ(holder, 55u);
  EXPECT_TRUE(w().hosts().empty()) << "a failed put leaves no host slot behind";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, DuplicateRegistryHoldsOneEntryPerPutAndRemovesOneByVersion) {
  const auto a = ok(w().put_remote(dup_, "k", "a", {"node-b", 1, 0}));
  const auto b = ok(w().put_remote(dup_, "k", "b", {"node-b", 1, 0}));
  ok(w().insert(dup_, "k", "local", owner(1)));
  EXPECT_EQ(entries("dup", "k").size(), 3u);
  EXPECT_EQ(ok(w().remove_remote(dup_, "k", {"node-b", 1, 0}, a.version)), 1u);
  auto got = entries("dup", "k");
  ASSERT_EQ(got.size(), 2u);
  std::set<std::string> values{got[0].value, got[1].value};
  EXPECT_EQ(values, (std::set<std::string>{"b", "local"}));
  EXPECT_EQ(ok(w().remove_remote(dup_, "k", {"node-b", 1, 0}, a.version)), 0u) << "already gone";
  EXPECT_EQ(ok(w().remove_remote(dup_, "k", {"node-b", 1, 0}, b.version)), 1u);
  EXPECT_TRUE(w().hosts().empty());
  EXPECT_EQ(entries("dup", "k").size(), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, RemoveRemoteWithoutVersionRemovesTheOwnersEntriesUnderKey) {
  ok(w().put_remote(uniq_, "k", "v", {"node-b", 1, 0}));
  EXPECT_EQ(ok(w().remove_remote(uniq_, "k", {"node-b", 2, 0})), 0u) << "another pid of that host";
  EXPECT_EQ(ok(w().remove_remote(uniq_, "k", {"node-c", 1, 0})), 0u) << "the same pid on another host";
  EXPECT_EQ(ok(w().remove_remote(uniq_, "k", {"node-b", 1, 0})), 1u);
  EXPECT_TRUE(entries("uniq", "k").empty());
  EXPECT_EQ(event_types("uniq"), (std::vector<EventType>{EventType::registered, EventType::unregistered}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, DropHostRemovesEveryEntryOfEveryOwnerOfThatHostOnly) {
  ok(w().put_remote(uniq_, "a", "1", {"node-b", 1, 0}));
  ok(w().put_remote(uniq_, "b", "1", {"node-b", 2, 0}));
  ok(w().put_remote(dup_, "a", "1", {"node-b", 2, 0}));
  ok(w().put_remote(uniq_, "c", "1", {"node-c", 1, 0}));
  ok(w().insert(uniq_, "d", "1", owner(1)));
  EXPECT_EQ(ok(w().drop_host("node-b")), 3u);
  EXPECT_TRUE(entries("uniq", "a").empty());
  EXPECT_TRUE(entries("uniq", "b").empty());
  EXPECT_TRUE(entries("dup", "a").empty());
  EXPECT_EQ(entries("uniq", "c").size(), 1u);
  EXPECT_EQ(entries("uniq", "d").size(), 1u);
  EXPECT_EQ(w().hosts(), std::vector<std::string>{"node-c"});
  EXPECT_EQ(ok(w().drop_host("node-b")), 0u) << "unknown host";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, HostTableFullIsOwnerTableFull) {
  create(small_segment(std::size_t{8} << 20, 1024));
  uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, 1, 1024)));
  for (std::uint32_t i = 0; i < kMaxHosts; ++i)
    ok(w().put_remote(uniq_, "k" + std::to_string(i), "v", {"h" + std::to_string(i), 1, 0}));
  EXPECT_EQ(error_of(w().put_remote(uniq_, "more", "v", {"one-too-many", 1, 0})), Errc::owner_table_full);
  ok(w().put_remote(uniq_, "more", "v", {"h0", 2, 0}));  // a known host still takes owners
  ok(w().drop_host("h5"));
  ok(w().put_remote(uniq_, "more2", "v", {"one-too-many", 1, 0}));
  EXPECT_EQ(entries("uniq", "more2")[0].host, "one-too-many");
  EXPECT_TRUE(IsValidSegment(r()));
}

// Other hosts' processes take at most half of the owner table (64 slots
// here), so that a large or hostile cluster never locks this host's
// processes out of every registry.
TEST_F(RemoteOwnerTest, RemoteOwnersTakeAtMostHalfOfTheOwnerTable) {
  for (std::uint32_t pid = 1; pid <= 32; ++pid) ok(w().put_remote(dup_, "k", "v", {"node-b", pid, 0}));
  EXPECT_EQ(error_of(w().put_remote(dup_, "k", "v", {"node-b", 33, 0})), Errc::owner_table_full);
  EXPECT_EQ(error_of(w().put_remote(dup_, "k", "v", {"node-c", 1, 0})), Errc::owner_table_full);
  ok(w().put_remote(dup_, "k2", "v", {"node-b", 7, 0}));  // a known remote owner still puts
  for (std::uint32_t pid = 1000; pid < 1031; ++pid) ok(w().insert(uniq_, "l" + std::to_string(pid), "v", owner(pid)));
  ok(w().remove_remote(dup_, "k", {"node-b", 1, 0}));
  ok(w().put_remote(dup_, "k", "v", {"node-c", 1, 0}));  // room again
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, RemoteEntriesAndHostsSurviveReattach) {
  ok(w().put_remote(uniq_, "k", "v", {"node-b", 9, 0}));
  attach_with_grace(std::chrono::milliseconds(10));
  EXPECT_EQ(w().hosts(), std::vector<std::string>{"node-b"});
  EXPECT_EQ(w().remote_owner_word("node-b", 9), make_remote_owner(0, 9));
  EXPECT_EQ(entries("uniq", "k")[0].host, "node-b");
  EXPECT_EQ(ok(w().remove_remote(uniq_, "k", {"node-b", 9, 0})), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(RemoteOwnerTest, ValidateReportsARemoteOwnerOfAFreeHostSlot) {
  ok(w().put_remote(uniq_, "k", "v", {"node-b", 9, 0}));
  // Damage: the host slot freed under its owner.
  const auto& h = *reinterpret_cast<const SegmentHeader*>(w().data());
  auto* slot = const_cast<HostSlot*>(reinterpret_cast<const HostSlot*>(w().data() + h.host_table_offset));
  slot->state = kHostFree;
  bool reported = false;
  for (const Problem& p : validate(r())) reported |= p.what.find("free host slot") != std::string::npos;
  EXPECT_TRUE(reported);
}

// Host slots are reused: a host whose last owner went frees its slot, and
// the next new host takes it. A reader racing that must never pair an entry
// with the next host's name: each value here is its host's name.
TEST_F(RemoteOwnerTest, AReaderNeverPairsAnEntryWithTheNameOfTheHostThatReusedItsSlot) {
  const std::string a(40, 'a'), b(24, 'b');
  for (const char* name : {"uniq", "dup"}) {
    SCOPED_TRACE(name);
    const std::uint32_t reg = ok(w().find_registry(name));
    std::atomic<bool> done{false};
    std::atomic<long> checked{0}, wrong{0};
    std::thread reader([&] {
      const SegmentReader rd = ok(SegmentReader::open(ns_.path()));
      const RegistryView v = ok(rd.registry(name));
      while (!done.load(std::memory_order_relaxed)) {
        auto got = rd.lookup_copy(v, "k");
        if (!got) continue;
        for (const Entry& e : *got) {
          ++checked;
          if (e.value != e.host) ++wrong;
        }
      }
    });
    for (int i = 0; i < 20000; ++i) {
      const std::string& host = i % 2 ? a : b;
      ok(w().put_remote(reg, "k", host, {host, 1, 0}));
      ok(w().drop_host(host));
    }
    done = true;
    reader.join();
    EXPECT_EQ(wrong.load(), 0) << "of " << checked.load() << " validated reads";
    EXPECT_GT(checked.load(), 0);
  }
  EXPECT_TRUE(IsValidSegment(r()));
}

// A put_remote cut short at every step: after the next attach the segment
// is valid, the entry is there whole or not at all, and no host slot is
// left without owners.
TEST(RemoteOwnerCrash, PutRemoteInterruptedAtEveryStepLeavesNoHalfEntryOrOrphanHost) {
  bool completed = false;
  int crashes = 0;
  for (int fault = 1; fault <= 32 && !completed; ++fault) {
    SCOPED_TRACE("fault point " + std::to_string(fault));
    ScopedNamespace ns;
    {
      auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 64)));
      ok(w.create_registry(spec("uniq")));
      ok(w.put_remote(0, "held", "v", {"node-c", 3, 0}));
    }
    const int status = fork_and_wait([&] {
      WriterOptions options;
      options.fault_point = fault;
      auto w = SegmentWriter::attach(ns.path(), options);
      if (!w) return 2;
      return w->put_remote(0, "held", "new", {"node-b", 4, 0}) ? 0 : 3;
    });
    ASSERT_TRUE(WIFEXITED(status)) << describe_status(status);
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == kFaultExitCode || code == 0) << describe_status(status);
    completed = code == 0;
    crashes += code == kFaultExitCode;
    auto w = ok(SegmentWriter::attach(ns.path()));
    const SegmentReader r = ok(SegmentReader::open(ns.path()));
    ASSERT_TRUE(IsValidSegment(r));
    const auto got = ok(r.lookup_copy(ok(r.registry("uniq")), "held"));
    std::set<std::string> hosts;
    for (const std::string& h : w.hosts()) hosts.insert(h);
    if (got.empty()) {
      EXPECT_TRUE(hosts.empty()) << "no owner left, so no host";
    } else {
      ASSERT_EQ(got.size(), 1u);
      EXPECT_TRUE((got[0].host == "node-c" && got[0].value == "v") || (got[0].host == "node-b" && got[0].value == "new"))
          << got[0].host << " " << got[0].value;
      EXPECT_EQ(hosts, std::set<std::string>{got[0].host});
    }
  }
  EXPECT_TRUE(completed);
  EXPECT_GT(crashes, 0);
}

}  // namespace
}  // namespace shmreg::shm::test
