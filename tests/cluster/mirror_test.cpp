// The broker's cluster mirror (broker/src/cluster_mirror.hpp) against a real
// three-member etcd and a real segment: keys put into etcd in the cluster
// schema by the etcd client, standing in for the brokers of other hosts,
// become entries of remote owners in the segment, read through a
// SegmentReader as any client reads them; deletes, lease ends, compaction,
// a broken watch and a mirror restart leave the segment equal to etcd; this
// host's keys and garbage are skipped.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <optional>
#include <thread>

#include "cluster_mirror.hpp"
#include "cluster_mirror_keys.hpp"
#include "broker_process.hpp"
#include "etcd_cluster_test.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::test {
namespace {

using namespace std::chrono_literals;
using broker::ClusterMirror;
using broker::ClusterMirrorConfig;
using cluster::deadline_in;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(n >> s) & 63]);
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// An entry's value in etcd, as another host's broker writes it (design of issue 14).
std::string entry_json(const std::string& host, std::uint32_t pid, const std::string& value) {
  return R"({"host":")" + host + R"(","pid":)" + std::to_string(pid) + R"(,"uid":1000,"value":")" + base64(value) +
         R"("})";
}

// One entry as the segment shows it.
struct Seen {
  std::string value, host;
  std::uint32_t pid = 0;
  friend bool operator==(const Seen&, const Seen&) = default;
};

// A segment of the test's own, its writer's event loop on a thread (as the
// broker's), and the mirror writing into it.
class MirrorHarness {
 public:
  MirrorHarness() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/shmreg-mirror-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    shm::CreateOptions o;
    o.size = std::size_t{8} << 20;
    o.owner_capacity = 256;
    writer_.emplace(*shm::SegmentWriter::create(path(), o));
    for (auto [name, kind] : {std::pair{"services", shm::RegistryKind::unique},
                              std::pair{"workers", shm::RegistryKind::duplicate},
                              std::pair{"local", shm::RegistryKind::unique}}) {
      auto id = writer_->create_registry({.name = name, .kind = kind, .capacity = 1024});
      if (!id) throw std::runtime_error("create_registry: " + std::string(shm::to_string(id.error())));
    }
    reader_.emplace(*shm::SegmentReader::open(path()));
    loop_ = std::thread([this] { io_.run(); });
  }
  ~MirrorHarness() {
    mirror_.reset();
    work_.reset();
    io_.stop();
    loop_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Named as a broker names it (<dir>/<ns>.segment), so that the CLI finds
  // it through --socket <dir>/<ns>.sock.
  std::string path() const { return dir_ + "/mirror.segment"; }
  std::vector<std::string> cli(std::vector<std::string> args) const {
    std::vector<std::string> argv{cli_binary(), "--namespace", "mirror", "--socket", dir_ + "/mirror.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Starts (or starts again, as a restarted broker would) a mirror of prefix
  // for host "node-a", with services and workers as cluster registries.
  void start_mirror(const cluster::ClientOptions& client, const std::string& prefix) {
    mirror_.reset();
    ClusterMirrorConfig c;
    c.client = client;
    c.prefix = prefix;
    c.host = "node-a";
    c.registries = {{"services", shm::RegistryKind::unique}, {"workers", shm::RegistryKind::duplicate}};
    c.backoff = 100ms;
    mirror_ = std::make_unique<ClusterMirror>(io_, *writer_, log_, c);
    ASSERT_TRUE(mirror_->start());
  }
  void stop_mirror() { mirror_.reset(); }

  std::vector<Seen> lookup(const std::string& reg, const std::string& key) const {
    std::vector<Seen> out;
    auto view = reader_->registry(reg);
    if (!view) {
      ADD_FAILURE() << "registry " << reg << ": " << shm::to_string(view.error());
      return out;
    }
    auto entries = reader_->lookup_copy(*view, key);
    if (!entries) return out;
    for (const auto& e : *entries) out.push_back({e.value, e.host, e.pid});
    std::sort(out.begin(), out.end(), [](const Seen& a, const Seen& b) { return a.value < b.value; });
    return out;
  }
  // Polls until lookup(reg, key) is want, or the deadline passes.
  bool eventually(const std::string& reg, const std::string& key, const std::vector<Seen>& want,
                  std::chrono::milliseconds within = 10s) const {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (lookup(reg, key) == want) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  bool valid() const { return shm::validate(*reader_).empty(); }

 private:
  std::string dir_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  broker::BrokerLog log_{"mirror-test"};
  std::optional<shm::SegmentWriter> writer_;
  std::optional<shm::SegmentReader> reader_;
  std::thread loop_;
  std::unique_ptr<ClusterMirror> mirror_;
};

std::string names_key(const std::string& p, const std::string& reg, const std::string& key) {
  return p + "/names/" + reg + "/" + broker::to_key_hex(key);
}
std::string dups_key(const std::string& p, const std::string& reg, const std::string& key, const std::string& host,
                     std::uint32_t pid, std::uint64_t version) {
  return p + "/dups/" + reg + "/" + broker::to_key_hex(key) + "/" + host + "/" + std::to_string(pid) + "/" +
         std::to_string(version);
}

void put_or_fail(cluster::EtcdClient& c, const std::string& key, const std::string& value,
                 cluster::LeaseId lease = 0) {
  auto r = c.put(key, value, lease, deadline_in(kTimeout));
  ASSERT_TRUE(r) << key << ": " << r.error().message;
}

class MirrorTest : public SharedEtcdClusterTest {
 protected:
  // The mirror's prefix P: the test's own, without the trailing '/'.
  std::string p() const { return prefix().substr(0, prefix().size() - 1); }
  void put(cluster::EtcdClient& c, const std::string& key, const std::string& value, cluster::LeaseId lease = 0) {
    put_or_fail(c, key, value, lease);
  }
  void del(cluster::EtcdClient& c, const std::string& key) {
    cluster::Txn t;
    t.success.push_back(cluster::DeleteOp{key, ""});
    ASSERT_TRUE(c.txn(t, deadline_in(kTimeout))) << key;
  }
};

TEST_F(MirrorTest, ARemoteUniqueNameIsInTheSegmentWithItsHostUntilItsKeyIsDeleted) {
  MirrorHarness h;
  auto c = client();
  put(c, names_key(p(), "services", "before"), entry_json("node-b", 41, "read at start"));
  h.start_mirror(options(), p());
  EXPECT_TRUE(h.eventually("services", "before", {{"read at start", "node-b", 41}})) << "the initial read";
  put(c, names_key(p(), "services", "db"), entry_json("node-b", 42, "10.0.0.2:5432"));
  EXPECT_TRUE(h.eventually("services", "db", {{"10.0.0.2:5432", "node-b", 42}})) << "a watch event";
  put(c, names_key(p(), "services", "db"), entry_json("node-c", 7, "10.0.0.3:5432"));
  EXPECT_TRUE(h.eventually("services", "db", {{"10.0.0.3:5432", "node-c", 7}})) << "another host took it";
  del(c, names_key(p(), "services", "db"));
  EXPECT_TRUE(h.eventually("services", "db", {})) << "deleted in etcd";
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, EachDuplicateKeyIsOneEntry) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  put(c, dups_key(p(), "workers", "q", "node-b", 5, 1), entry_json("node-b", 5, "one"));
  put(c, dups_key(p(), "workers", "q", "node-b", 5, 2), entry_json("node-b", 5, "two"));
  put(c, dups_key(p(), "workers", "q", "node-c", 5, 1), entry_json("node-c", 5, "three"));
  EXPECT_TRUE(h.eventually("workers", "q", {{"one", "node-b", 5}, {"three", "node-c", 5}, {"two", "node-b", 5}}));
  del(c, dups_key(p(), "workers", "q", "node-b", 5, 1));
  EXPECT_TRUE(h.eventually("workers", "q", {{"three", "node-c", 5}, {"two", "node-b", 5}}));
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, AnEndedLeaseTakesItsHostsNamesAway) {
  MirrorHarness h;
  auto c = client();
  auto lease = c.lease_grant(60, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "a"), entry_json("node-b", 9, "va"), lease->id);
  put(c, dups_key(p(), "workers", "w", "node-b", 9, 3), entry_json("node-b", 9, "vw"), lease->id);
  ASSERT_TRUE(h.eventually("services", "a", {{"va", "node-b", 9}}));
  ASSERT_TRUE(h.eventually("workers", "w", {{"vw", "node-b", 9}}));
  ASSERT_TRUE(c.lease_revoke(lease->id, deadline_in(kTimeout)));
  EXPECT_TRUE(h.eventually("services", "a", {}));
  EXPECT_TRUE(h.eventually("workers", "w", {}));
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, KeysOfItsOwnHostAndOfOtherRegistriesAreNotMirrored) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "mine"), entry_json("node-a", 3, "local already"));
  put(c, dups_key(p(), "workers", "mine", "node-a", 3, 1), entry_json("node-a", 3, "local already"));
  put(c, names_key(p(), "local", "k"), entry_json("node-b", 3, "not a cluster registry here"));
  put(c, names_key(p(), "services", "marker"), entry_json("node-b", 3, "after them"));
  ASSERT_TRUE(h.eventually("services", "marker", {{"after them", "node-b", 3}}));
  EXPECT_TRUE(h.lookup("services", "mine").empty());
  EXPECT_TRUE(h.lookup("workers", "mine").empty());
  EXPECT_TRUE(h.lookup("local", "k").empty());
}

TEST_F(MirrorTest, GarbageInEtcdIsSkippedAndTheMirrorGoesOn) {
  MirrorHarness h;
  auto c = client();
  put(c, names_key(p(), "services", "early-garbage"), "{not json");
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "json"), "[1,2]");
  put(c, names_key(p(), "services", "nohost"), R"({"pid":1,"value":""})");
  put(c, names_key(p(), "services", "badhost"), entry_json("bad host!", 1, "x"));
  put(c, names_key(p(), "services", "pid0"), entry_json("node-b", 0, "x"));
  put(c, names_key(p(), "services", "bigpid"), entry_json("node-b", 1u << 30, "x"));
  put(c, names_key(p(), "services", "b64"), R"({"host":"node-b","pid":1,"value":"@@@"})");
  put(c, p() + "/names/services/XYZ", entry_json("node-b", 1, "x"));
  put(c, p() + "/names/services", entry_json("node-b", 1, "x"));
  put(c, p() + "/dups/workers/6b/node-c/1/1", entry_json("node-b", 1, "path and value disagree"));
  put(c, names_key(p(), "services", std::string(200, 'k')), entry_json("node-b", 1, "key too long here"));
  put(c, names_key(p(), "services", "marker"), entry_json("node-b", 3, "still mirroring"));
  ASSERT_TRUE(h.eventually("services", "marker", {{"still mirroring", "node-b", 3}}));
  for (const char* k : {"early-garbage", "json", "nohost", "badhost", "pid0", "bigpid", "b64"})
    EXPECT_TRUE(h.lookup("services", k).empty()) << k;
  EXPECT_TRUE(h.lookup("workers", "k").empty());
  // A good value put over a garbage one is mirrored; garbage over a good one removes it.
  put(c, names_key(p(), "services", "json"), entry_json("node-b", 4, "fixed"));
  EXPECT_TRUE(h.eventually("services", "json", {{"fixed", "node-b", 4}}));
  put(c, names_key(p(), "services", "json"), "garbage again");
  EXPECT_TRUE(h.eventually("services", "json", {}));
  EXPECT_TRUE(h.valid());
}

// The mirror reads P/names/ and P/dups/ alone: megabytes that something
// else put elsewhere under P do not push its read past the reply limit.
TEST_F(MirrorTest, BulkyKeysElsewhereUnderThePrefixDoNotStopTheRead) {
  MirrorHarness h;
  auto c = client();
  for (int i = 0; i < 5; ++i) put(c, p() + "/junk/" + std::to_string(i), std::string(1 << 20, 'j'));
  put(c, names_key(p(), "services", "db"), entry_json("node-b", 42, "read at start"));
  h.start_mirror(options(), p());
  EXPECT_TRUE(h.eventually("services", "db", {{"read at start", "node-b", 42}}))
      << "5 MiB under " << p() << "/junk/ stopped the mirror's read (reply limit 4 MiB)";
}

// A put that finds the registry full is held and tried again: it lands
// once room is made, without waiting for a re-read of the prefix.
TEST_F(MirrorTest, ANamePutWhileTheRegistryIsFullArrivesOnceRoomIsMade) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  constexpr int kCapacity = 1024;  // MirrorHarness's registries
  for (int first = 0; first < kCapacity; first += 64) {
    cluster::Txn t;
    for (int i = first; i < first + 64; ++i)
      t.success.push_back(cluster::PutOp{names_key(p(), "services", "n" + std::to_string(i)),
                                         entry_json("node-b", 7, "v"), 0});
    ASSERT_TRUE(c.txn(t, deadline_in(kTimeout)));
  }
  ASSERT_TRUE(h.eventually("services", "n" + std::to_string(kCapacity - 1), {{"v", "node-b", 7}}));
  put(c, names_key(p(), "services", "extra"), entry_json("node-b", 7, "no room yet"));
  put(c, names_key(p(), "services", "marker"), entry_json("node-b", 7, "after it"));
  del(c, names_key(p(), "services", "n0"));
  // n0's room goes to the first put that asks: marker or the held extra;
  // then n1's to the other.
  del(c, names_key(p(), "services", "n1"));
  EXPECT_TRUE(h.eventually("services", "extra", {{"no room yet", "node-b", 7}}))
      << "a put refused while the registry was full never arrived";
  EXPECT_TRUE(h.eventually("services", "marker", {{"after it", "node-b", 7}}));
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, AfterACompactionTheMirrorStillMatchesEtcd) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "k1"), entry_json("node-b", 1, "v1"));
  ASSERT_TRUE(h.eventually("services", "k1", {{"v1", "node-b", 1}}));
  auto now = c.get(p(), cluster::ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(now);
  ASSERT_TRUE(c.compact(now->header.revision, deadline_in(kTimeout)));
  del(c, names_key(p(), "services", "k1"));
  put(c, names_key(p(), "services", "k2"), entry_json("node-b", 1, "v2"));
  EXPECT_TRUE(h.eventually("services", "k1", {}));
  EXPECT_TRUE(h.eventually("services", "k2", {{"v2", "node-b", 1}}));
  // A mirror started now reads at a revision past the compaction.
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "k3"), entry_json("node-b", 1, "v3"));
  EXPECT_TRUE(h.eventually("services", "k3", {{"v3", "node-b", 1}}));
  EXPECT_TRUE(h.eventually("services", "k2", {{"v2", "node-b", 1}}));
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, AMirrorStartedOverAnOldSegmentRemovesWhatEtcdNoLongerHasAndDoublesNothing) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "gone"), entry_json("node-b", 1, "v"));
  put(c, names_key(p(), "services", "kept"), entry_json("node-b", 1, "v"));
  put(c, names_key(p(), "services", "changed"), entry_json("node-b", 1, "old"));
  put(c, dups_key(p(), "workers", "d", "node-b", 1, 1), entry_json("node-b", 1, "same"));
  ASSERT_TRUE(h.eventually("workers", "d", {{"same", "node-b", 1}}));
  ASSERT_TRUE(h.eventually("services", "changed", {{"old", "node-b", 1}}));
  h.stop_mirror();  // the broker is down: etcd moves on
  del(c, names_key(p(), "services", "gone"));
  put(c, names_key(p(), "services", "changed"), entry_json("node-c", 2, "new"));
  put(c, names_key(p(), "services", "added"), entry_json("node-b", 1, "v"));
  h.start_mirror(options(), p());
  EXPECT_TRUE(h.eventually("services", "gone", {}));
  EXPECT_TRUE(h.eventually("services", "changed", {{"new", "node-c", 2}}));
  EXPECT_TRUE(h.eventually("services", "added", {{"v", "node-b", 1}}));
  EXPECT_EQ(h.lookup("services", "kept"), (std::vector<Seen>{{"v", "node-b", 1}}));
  EXPECT_EQ(h.lookup("workers", "d"), (std::vector<Seen>{{"same", "node-b", 1}})) << "not put twice";
  EXPECT_TRUE(h.valid());
}

TEST_F(MirrorTest, TheCliShowsTheHostOfARemoteOwner) {
  MirrorHarness h;
  auto c = client();
  h.start_mirror(options(), p());
  put(c, names_key(p(), "services", "db"), entry_json("node-b", 42, "10.0.0.2:5432"));
  ASSERT_TRUE(h.eventually("services", "db", {{"10.0.0.2:5432", "node-b", 42}}));
  const RunResult lookup = run(h.cli({"lookup", "services", "db"}));
  EXPECT_EQ(lookup.exit_code(), 0) << lookup.describe();
  EXPECT_EQ(lookup.out, "node-b:42\t10.0.0.2:5432\n");
  const RunResult json = run(h.cli({"--json", "list", "services"}));
  EXPECT_EQ(json.exit_code(), 0) << json.describe();
  EXPECT_NE(json.out.find(R"("host":"node-b")"), std::string::npos) << json.out;
  const RunResult dump = run(h.cli({"dump"}));
  EXPECT_EQ(dump.exit_code(), 0) << dump.describe();
  EXPECT_NE(dump.out.find("owner node-b:42 (remote)"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("remote owners' hosts: node-b"), std::string::npos) << dump.out;
}

using MirrorFailoverTest = OwnEtcdClusterTest;

TEST_F(MirrorFailoverTest, AWatchBrokenByAMemberDyingIsReadAgainAndChangesMeanwhileArrive) {
  MirrorHarness h;
  auto c = client();
  const std::string p = prefix().substr(0, prefix().size() - 1);
  h.start_mirror(options(), p);
  put_or_fail(c, names_key(p, "services", "a"), entry_json("node-b", 1, "v"));
  ASSERT_TRUE(h.eventually("services", "a", {{"v", "node-b", 1}}));
  // Every member in turn: whichever the watch is on, it breaks once.
  for (std::size_t m = 0; m < 3; ++m) {
    etcd().kill(m);
    const std::string key = "after-kill-" + std::to_string(m);
    put_or_fail(c, names_key(p, "services", key), entry_json("node-b", 1, "v"));
    EXPECT_TRUE(h.eventually("services", key, {{"v", "node-b", 1}}, 20s)) << "member " << m << " down";
    ASSERT_TRUE(etcd().restart(m)) << etcd().log_tail(m);
  }
  EXPECT_TRUE(h.valid());
}

}  // namespace
}  // namespace shmreg::test
