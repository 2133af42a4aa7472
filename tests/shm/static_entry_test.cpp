// Static entries: the entries of the namespace's own owner (pid 0), which only
// set_static makes and only unset_static removes; how they meet processes'
// entries and owner queues, and that they survive a re-attach.
#include "test_support.hpp"

#include "shmreg/shm/events.hpp"

namespace shmreg::shm::test {
namespace {

class StaticEntryTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    uniq_ = ok(w().create_registry(spec("uniq", RegistryKind::unique, 2, 8, 16, 32)));
    dup_ = ok(w().create_registry(spec("dup", RegistryKind::duplicate, 2, 8, 16, 32)));
  }
  std::vector<Entry> entries(std::string_view reg, std::string_view key) {
    auto e = ok(r().lookup_copy(view(reg), key));
    std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.pid < b.pid; });
    return e;
  }
  std::vector<EventType> events(std::string_view reg) {
    std::uint64_t next = 0;
    std::vector<EventType> out;
    for (const Event& e : ok(read_events(r(), view(reg), 1, 100, next))) out.push_back(e.type);
    return out;
  }
  const OwnerInfo* static_owner(const std::vector<OwnerInfo>& owners) {
    for (const OwnerInfo& o : owners)
      if (o.pid == 0) return &o;
    return nullptr;
  }
  std::uint32_t uniq_ = 0, dup_ = 0;
};

TEST_F(StaticEntryTest, SetStaticOnAFreeKeyPublishesAnEntryOfPidZero) {
  const std::uint64_t v = ok(w().set_static(uniq_, "db", "host=a", true));
  EXPECT_EQ(entries("uniq", "db"), (std::vector<Entry>{{"db", "host=a", 0, v}}));
  EXPECT_EQ(events("uniq"), (std::vector<EventType>{EventType::registered}));
  const auto owners = ok(r().owners());
  const OwnerInfo* s = static_owner(owners);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->uid, kNamespaceUid);
  EXPECT_EQ(s->identity_kind, kIdentityStatic);
  EXPECT_EQ(s->entry_count, 1u);
  EXPECT_TRUE(w().owners().empty()) << "the broker never re-arms or reaps the static owner";
  EXPECT_EQ(w().statics(), (std::vector<StaticEntryView>{{uniq_, "db", "host=a", v, true}}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(StaticEntryTest, ProcessesCannotMakeOrRemovePidZeroEntries) {
  EXPECT_EQ(error_of(w().insert(uniq_, "db", "x", OwnerIdentity{0, 0, kIdentityStatic, 0})), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().insert_queued(uniq_, "db", "x", OwnerIdentity{0, 0, kIdentityStatic, 0}, 0)),
            Errc::invalid_argument);
  ok(w().set_static(uniq_, "db", "v", false));
  EXPECT_EQ(error_of(w().remove(uniq_, "db", 0)), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().remove_owner(0)), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().update_value(uniq_, "db", 0, "w", std::nullopt)), Errc::invalid_argument);
  EXPECT_EQ(entries("uniq", "db").size(), 1u);
}

TEST_F(StaticEntryTest, ReplacingAUniqueStaticSwitchesValueAndFlagInOneWrite) {
  const std::uint64_t v1 = ok(w().set_static(uniq_, "db", "one", true));
  const std::uint64_t commits = r().header().commit_seq;
  EXPECT_EQ(ok(w().set_static(uniq_, "db", "one", true)), v1) << "same value and flag: no write";
  EXPECT_EQ(r().header().commit_seq, commits);
  const std::uint64_t v2 = ok(w().set_static(uniq_, "db", "two", true));
  EXPECT_GT(v2, v1);
  EXPECT_EQ(entries("uniq", "db"), (std::vector<Entry>{{"db", "two", 0, v2}}));
  const std::uint64_t v3 = ok(w().set_static(uniq_, "db", "two", false));
  EXPECT_GT(v3, v2) << "a changed flag alone is a write";
  EXPECT_FALSE(w().statics().at(0).declared);
  EXPECT_EQ(events("uniq"),
            (std::vector<EventType>{EventType::registered, EventType::updated, EventType::updated}));
  EXPECT_EQ(ok(r().count(view("uniq"))), 1u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(StaticEntryTest, AUniqueKeyHeldByAProcessRefusesTheStaticAndNamesTheHolder) {
  ok(w().insert(uniq_, "db", "mine", owner(10)));
  std::uint32_t holder = 0;
  EXPECT_EQ(error_of(w().set_static(uniq_, "db", "cfg", true, &holder)), Errc::already_registered);
  EXPECT_EQ(holder, 10u);
  EXPECT_EQ(entries("uniq", "db").at(0).pid, 10u);
  EXPECT_TRUE(w().statics().empty());
  EXPECT_EQ(error_of(w().insert(uniq_, "x", "p", owner(10))), std::nullopt);
  ok(w().set_static(uniq_, "cfg", "s", false));
  EXPECT_EQ(error_of(w().insert(uniq_, "cfg", "p", owner(11), &holder)), Errc::already_registered);
  EXPECT_EQ(holder, 0u) << "a process meeting a static entry is told pid 0";
}

TEST_F(StaticEntryTest, DuplicateKeyHoldsOneStaticNextToProcessesAndReplacesItInPlace) {
  ok(w().insert(dup_, "t", "p10", owner(10)));
  const std::uint64_t v1 = ok(w().set_static(dup_, "t", "s1", true));
  ok(w().insert(dup_, "t", "p20", owner(20)));
  const std::uint64_t v2 = ok(w().set_static(dup_, "t", "s2", true));
  EXPECT_GT(v2, v1);
  const auto got = entries("dup", "t");
  ASSERT_EQ(got.size(), 3u) << "one static entry per key, replaced rather than added";
  EXPECT_EQ(got[0], (Entry{"t", "s2", 0, v2}));
  EXPECT_EQ(got[1].pid, 10u);
  EXPECT_EQ(got[2].pid, 20u);
  EXPECT_EQ(ok(r().count(view("dup"))), 3u);
  EXPECT_TRUE(IsValidSegment(r()));
  EXPECT_TRUE(ok(w().unset_static(dup_, "t")));
  EXPECT_EQ(entries("dup", "t").size(), 2u);
  EXPECT_FALSE(ok(w().unset_static(dup_, "t"))) << "nothing left to remove";
  EXPECT_EQ(static_owner(ok(r().owners())), nullptr) << "the static owner goes with its last entry";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(StaticEntryTest, UnsetStaticRemovesTheEntryWithAnUnregisterEvent) {
  ok(w().set_static(uniq_, "a", "1", true));
  ok(w().set_static(uniq_, "b", "2", false));
  EXPECT_TRUE(ok(w().unset_static(uniq_, "a")));
  EXPECT_TRUE(entries("uniq", "a").empty());
  EXPECT_EQ(w().statics().size(), 1u);
  EXPECT_FALSE(ok(w().unset_static(uniq_, "missing")));
  EXPECT_EQ(events("uniq"), (std::vector<EventType>{EventType::registered, EventType::registered,
                                                    EventType::unregistered}));
  EXPECT_EQ(error_of(w().unset_static(99, "a")), Errc::registry_not_found);
  EXPECT_TRUE(IsValidSegment(r()));
}

// A static key is the namespace's: a process may not queue behind it (it
// would take the key over the moment an admin unsets it), with or without
// replace_existing, and nothing is stored for it.
TEST_F(StaticEntryTest, NoProcessQueuesBehindAStaticEntry) {
  ok(w().set_static(uniq_, "db", "cfg", true));
  for (std::uint32_t flags : {0u, kQueueReplaceExisting, kQueueAllowReplacement}) {
    const QueueResult q = ok(w().insert_queued(uniq_, "db", "p10", owner(10), flags));
    EXPECT_EQ(q.reply, QueueReply::exists) << "flags " << flags;
    EXPECT_EQ(q.owner_pid, 0u);
  }
  EXPECT_EQ(w().usage_of(1000).entries, 0u) << "nothing was stored for the process";
  EXPECT_TRUE(ok(w().unset_static(uniq_, "db")));
  EXPECT_TRUE(entries("uniq", "db").empty()) << "no process took the key over";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(StaticEntryTest, StaticEntriesSurviveReattachAndTheOwnersReap) {
  const std::uint64_t v = ok(w().set_static(uniq_, "db", "cfg", true));
  ok(w().set_static(dup_, "t", "s", false));
  ok(w().insert(uniq_, "p", "x", owner(10)));
  writer_.reset();
  writer_.emplace(ok(SegmentWriter::attach(ns_.path())));
  EXPECT_FALSE(w().repaired_at_attach());
  ASSERT_EQ(w().owners().size(), 1u);
  ok(w().remove_owner(10, RemoveReason::owner_died));
  EXPECT_EQ(w().statics(), (std::vector<StaticEntryView>{{uniq_, "db", "cfg", v, true},
                                                         {dup_, "t", "s", w().statics().at(1).version, false}}));
  EXPECT_EQ(entries("uniq", "db").at(0).pid, 0u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(StaticEntryTest, SetStaticChecksItsArguments) {
  EXPECT_EQ(error_of(w().set_static(99, "k", "v", true)), Errc::registry_not_found);
  EXPECT_EQ(error_of(w().set_static(uniq_, "", "v", true)), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().set_static(uniq_, std::string(17, 'k'), "v", true)), Errc::key_too_long);
  EXPECT_EQ(error_of(w().set_static(uniq_, "k", std::string(33, 'v'), true)), Errc::value_too_long);
  EXPECT_TRUE(w().statics().empty());
}

TEST_F(StaticEntryTest, ValidateRefusesTheDeclaredFlagOnAProcessRecord) {
  ok(w().insert(uniq_, "p", "x", owner(10)));
  const RegistryDesc& d = reinterpret_cast<const RegistryDesc*>(w().data() + kHeaderSize)[uniq_];
  // The only record in use: wherever the writer placed it (its home pair).
  RecordHeader* rh = nullptr;
  for (std::uint32_t i = 0; i < d.record_capacity && rh == nullptr; ++i) {
    auto* h = reinterpret_cast<RecordHeader*>(const_cast<std::byte*>(w().data()) + d.records_offset +
                                              std::uint64_t{i} * d.record_size);
    if (h->state == kRecordEntry) rh = h;
  }
  ASSERT_NE(rh, nullptr);
  ASSERT_EQ(rh->owner_pid, 10u);
  rh->aux |= kStaticDeclared;
  EXPECT_FALSE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
