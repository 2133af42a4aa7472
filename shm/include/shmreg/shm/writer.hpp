// The writer half of the segment: used by the broker, and only by it.
//
// SegmentWriter creates or re-attaches one segment file and applies
// every change to it. Each operation is all or nothing: it checks everything
// that can fail (lengths, capacity, owner slots) before it changes a byte, so an
// error leaves the segment exactly as it was. While an operation runs,
// SegmentHeader::txn_state is non-zero; a writer that finds it non-zero at
// attach knows the previous broker died mid-write and rebuilds the derived
// tables (indexes, lists, counters) from the records.
//
// Thread-safety: not thread-safe. One thread of one process owns the writer;
// readers in any process may read concurrently (see layout.hpp).
//
// Usage:
//   auto w = SegmentWriter::create(dir + "/myns.segment", {});
//   auto reg = w->create_registry({.name = "services"});
//   auto version = w->insert(*reg, "db", "host=...", owner);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmreg/shm/errc.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::shm {

struct RegistrySpec {
  std::string name;
  RegistryKind kind = RegistryKind::unique;
  std::uint32_t partitions = 1;
  std::uint32_t max_key = 128;
  std::uint32_t max_value = 256;
  std::uint32_t capacity = 16384;  // max live entries
  std::uint32_t event_capacity = 1024;  // events the ring keeps (power of two)
  // Initial meta, written before the registry is published, so that no
  // reader ever sees the registry without it. Used only when create_registry
  // creates the registry; not part of the spec an existing registry must
  // match. Keys are 1..255 bytes and distinct (else invalid_argument); the
  // pairs must fit kMetaBlockSize (else meta_too_large). The initializer
  // keeps designated initializers that leave it out warning-free.
  std::vector<std::pair<std::string, std::string>> meta{};
  // Recorded in RegistryDesc::creator_uid when create_registry creates the
  // registry (quotas and admin rights follow it); not compared for idempotence.
  std::uint32_t creator_uid = kNamespaceUid;
};

// What one uid holds in the segment, for quotas. entries: live entries and
// queued records owned by processes of that uid; value_bytes: their value
// lengths; registries / registry_bytes: registries whose creator_uid is that
// uid and the arena bytes they took (SegmentWriter::footprint).
struct UidUsage {
  std::uint64_t entries = 0, value_bytes = 0, registries = 0, registry_bytes = 0;
  bool operator==(const UidUsage&) const = default;
};

// One entry of the static owner (SegmentWriter::statics).
struct StaticEntryView {
  std::uint32_t registry;
  std::string key;
  std::string value;
  std::uint64_t version;
  bool declared;  // kStaticDeclared: the configuration file set it
  friend bool operator==(const StaticEntryView&, const StaticEntryView&) = default;
};

// One entry of a remote owner (SegmentWriter::remote_entries).
struct RemoteEntryView {
  std::uint32_t registry = 0;
  std::string key, value, host;
  std::uint32_t pid = 0;  // on its host
  std::uint64_t version = 0;
};

// Why remove_owner runs: it decides the event watchers see.
enum class RemoveReason { requested, owner_died };

// D-Bus RequestName replies, for insert_queued.
enum class QueueReply : std::uint32_t { primary_owner = 1, in_queue = 2, exists = 3, already_owner = 4 };

struct QueueResult {
  QueueReply reply = QueueReply::primary_owner;
  std::uint64_t version = 0;    // of the caller's record (primary or queued); 0 for exists
  std::uint32_t owner_pid = 0;  // the primary owner after the call
};

// Who owns an entry, as the kernel told the broker.
struct OwnerIdentity {
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t kind = kIdentityNone;  // a kIdentity* value
  std::uint64_t value = 0;             // pidfs inode or start time
};

struct OwnerRecord {
  OwnerIdentity identity;
  std::uint32_t entry_count = 0;
};

// An owner on another host of the cluster (layout.hpp, kIdentityRemote):
// host 1..kMaxHostLen bytes of [A-Za-z0-9._-], pid 1..kRemotePidMask on
// that host, uid there (shown, never counted).
struct RemoteOwner {
  std::string_view host;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
};

struct WriterOptions {
  // A freed record slot is not reused before this much time has passed, so a
  // reader that is mid-read rarely has to retry. Readers stay correct without it.
  std::chrono::nanoseconds grace = std::chrono::milliseconds(10);
  // Tests only: when > 0, the process calls _exit(kFaultExitCode) at the
  // fault_point-th step of a write, leaving that write half applied.
  int fault_point = 0;
};

inline constexpr int kFaultExitCode = 77;

struct CreateOptions {
  std::size_t size = kDefaultSegmentSize;
  std::uint32_t owner_capacity = 8192;
  unsigned mode = 0644;  // readers need read permission only
  WriterOptions writer;
};

struct InsertResult {
  std::uint64_t version = 0;
  bool new_key = true;  // duplicate registries: false when the key already had entries
};

class SegmentWriter {
 public:
  // Creates name in dir_fd exclusively (see MappedSegment::create, which
  // never follows a symlink) with options.mode, and formats it.
  static Result<SegmentWriter> create_at(int dir_fd, std::string_view name, const CreateOptions& options) noexcept;
  // create_at(AT_FDCWD, path, options).
  static Result<SegmentWriter> create(std::string_view path, const CreateOptions& options) noexcept;
  // Re-attaches an existing segment (broker restart) through a descriptor
  // opened O_RDWR that the caller has checked (owner, mode, links): verifies
  // the header, repairs a half-applied write, clears a superseded mark (the
  // file is the namespace's again), and rebuilds the writer's private state.
  // Does not keep fd.
  static Result<SegmentWriter> attach_fd(int fd, const WriterOptions& options = {}) noexcept;
  // Opens path O_RDWR|O_NOFOLLOW, then attach_fd (tests, benchmarks).
  static Result<SegmentWriter> attach(std::string_view path, const WriterOptions& options = {}) noexcept;

  SegmentWriter(SegmentWriter&&) noexcept;
  SegmentWriter& operator=(SegmentWriter&&) noexcept;
  ~SegmentWriter();

  // Idempotent: the same spec again returns the same id; a different spec
  // under the same name fails with registry_exists.
  Result<std::uint32_t> create_registry(const RegistrySpec& spec) noexcept;
  Result<std::uint32_t> find_registry(std::string_view name) const noexcept;

  // Registers `key` for `owner`. On a unique registry whose key is taken, fails
  // with already_registered and stores the holder's pid in *conflict_pid.
  // owner.pid 0 is refused (invalid_argument): only set_static makes those.
  // Fails with stale_owner if owner.pid has entries under another identity.
  Result<InsertResult> insert(std::uint32_t registry, std::string_view key, std::string_view value,
                              const OwnerIdentity& owner,
                              std::uint32_t* conflict_pid = nullptr) noexcept;
  // Removes the entries of `pid` under `key`; returns how many (0 is not an error).
  Result<std::uint32_t> remove(std::uint32_t registry, std::string_view key,
                               std::uint32_t pid) noexcept;
  // Removes the entries of `pid` under `key` whose value `pred` accepts, all
  // or nothing (a crash midway completes at the next attach); returns how
  // many. When they are all of pid's entries under key this is remove() (on
  // a unique registry also pid's place in the key's owner queue). Removing
  // some but not all takes one write of at most kMaxRemoveSome records, else
  // invalid_argument and nothing changes. pred must not throw.
  Result<std::uint32_t> remove_if(std::uint32_t registry, std::string_view key, std::uint32_t pid,
                                  const std::function<bool(std::string_view value)>& pred) noexcept;
  // Removes every entry of `pid` in every registry (and its places in owner
  // queues), and its owner slot. Where pid was a primary owner with a queue,
  // the next in line takes over. pid 0 (the static owner): invalid_argument.
  Result<std::uint32_t> remove_owner(std::uint32_t pid, RemoveReason reason = RemoveReason::requested) noexcept;
  // D-Bus-style registration on a unique registry (flags: kQueue*):
  //  - key free: the caller becomes primary owner (its flags are kept);
  //  - caller is primary: already_owner (its flags are updated);
  //  - primary allows replacement and caller sets replace_existing: the caller
  //    becomes primary in one step, the old primary goes to the head of the
  //    queue (or away, if it set do_not_queue); watchers see one owner_changed;
  //  - else with do_not_queue: exists (nothing stored);
  //  - else the caller joins the end of the queue (or updates its flags there).
  Result<QueueResult> insert_queued(std::uint32_t registry, std::string_view key, std::string_view value,
                                    const OwnerIdentity& owner, std::uint32_t flags) noexcept;
  // Replaces the value of pid's entry under a unique key with a new record,
  // published by one release store of its index entry. Fails with not_found if
  // pid has no entry under key, with version_conflict if expected_version is
  // given and differs, and with invalid_argument on a duplicate registry.
  // Returns the new version.
  Result<std::uint64_t> update_value(std::uint32_t registry, std::string_view key, std::uint32_t pid,
                                     std::string_view value,
                                     std::optional<std::uint64_t> expected_version) noexcept;

  Status put_meta(std::uint32_t registry, std::string_view key, std::string_view value) noexcept;
  Status delete_meta(std::uint32_t registry, std::string_view key) noexcept;

  // Sets the static entry under key: an entry of the static owner (pid 0,
  // see kIdentityStatic), the only way to make one. Free key: inserted (event
  // register). Key held by the static owner: its value and flag replaced, all
  // at once for readers (event update); the same value and flag: no write,
  // returns its version. Unique key held by a process: already_registered and
  // *conflict_pid. Returns the entry's version.
  Result<std::uint64_t> set_static(std::uint32_t registry, std::string_view key, std::string_view value,
                                   bool declared, std::uint32_t* conflict_pid = nullptr) noexcept;
  // Removes the static entry under key (event unregister); where it was a
  // primary with an owner queue, the next in line takes over. True if one was.
  Result<bool> unset_static(std::uint32_t registry, std::string_view key) noexcept;
  // Every static entry, by registry then key.
  std::vector<StaticEntryView> statics() const;

  // -- remote owners: entries mirrored from other hosts (writer_remote.cpp) --
  // Nothing else touches them: insert/insert_queued refuse remote words,
  // owners() leaves them out (no pidfd reaps them), usage counts them for no
  // uid, and no local pid equals their word (layout.hpp, the owner word).
  //
  // Puts an entry of `owner` under key. Unique registry: a key free or held
  // by another remote owner ends up held by owner (the other one's entry is
  // removed first, a write of its own: readers may see the key absent in
  // between); held by owner already: its value is replaced (event update),
  // or nothing is written when it is the same; held by a local or static
  // owner: already_registered, *conflict_pid the holder's word. Duplicate
  // registry: always one new entry (the caller keeps one per etcd key).
  // Errors as insert, plus invalid_argument for a bad host or pid and
  // owner_table_full when the host table (kMaxHosts) is full or a new remote
  // owner would take more than half of the owner table (the rest stays for
  // this host's processes).
  Result<InsertResult> put_remote(std::uint32_t registry, std::string_view key, std::string_view value,
                                  const RemoteOwner& owner, std::uint32_t* conflict_pid = nullptr) noexcept;
  // Removes owner's entries under key; with version, only the entry of that
  // version (a duplicate registry's one etcd key). How many went.
  Result<std::uint32_t> remove_remote(std::uint32_t registry, std::string_view key, const RemoteOwner& owner,
                                      std::optional<std::uint64_t> version = std::nullopt) noexcept;
  // Removes every entry of every owner of host (event unregister for each);
  // how many went. Unknown host: 0.
  Result<std::uint32_t> drop_host(std::string_view host) noexcept;
  // The owner word of (host, pid) if that host has a slot, else nullopt.
  std::optional<std::uint32_t> remote_owner_word(std::string_view host, std::uint32_t pid) const noexcept;
  // The host and pid of a remote owner's word (a conflict_pid that insert
  // or set_static reported, say), or nullopt when word is not a live remote
  // owner's.
  std::optional<std::pair<std::string, std::uint32_t>> remote_owner(std::uint32_t word) const;
  // Hosts with a slot, in slot order.
  std::vector<std::string> hosts() const;
  // Every entry of a remote owner, by owner slot (the mirror's reconcile).
  std::vector<RemoteEntryView> remote_entries() const;

  // Per-uid use, kept on every write and rebuilt at attach. The static owner
  // and registries created for kNamespaceUid count for no uid.
  UidUsage usage_of(std::uint32_t uid) const noexcept;
  // Uids with any use, sorted by uid.
  std::vector<std::pair<std::uint32_t, UidUsage>> usage() const;
  // The arena bytes create_registry would take for spec (its area padded to
  // the page the next registry starts on); 0 if the spec is invalid.
  static std::uint64_t footprint(const RegistrySpec& spec) noexcept;
  // Arena bytes no registry has taken yet.
  std::uint64_t arena_free() const noexcept;

  // Tells every process that maps this file that the broker has left it for
  // a new file at the namespace's name (segment_guard.hpp): sets the header's
  // superseded mark, then kActiveSuperseded in every live registry's
  // partitions (what lookups see), then bumps and wakes every registry's
  // futex word, so that watchers and awaits return superseded at once.
  // REQUIRES: the new file is already linked at the name (a reader that
  // opens the namespace again must find it), and no write follows on this
  // writer.
  void mark_superseded() noexcept;
  // Between defer_wakes() and flush_wakes(), a write bumps and FUTEX_WAKEs
  // its registries' event words once, at flush_wakes(), instead of after
  // each write: for writes answered together (a request batch). What the
  // writes publish is visible at once as ever; a sleeping watcher wakes at
  // the flush. A crash before it leaves watchers to their timeouts. The
  // events of those writes carry one time, read at the first of them.
  void defer_wakes() noexcept;
  void flush_wakes() noexcept;

  // The owners the segment records, for the broker to re-arm or reap at
  // start. The static owner is not one of them.
  std::vector<OwnerRecord> owners() const;

  const std::byte* data() const noexcept;
  std::size_t size() const noexcept;
  std::uint64_t generation() const noexcept;
  // True when attach() found a half-applied write and rebuilt derived tables.
  bool repaired_at_attach() const noexcept;
  // How many registries' meta blocks attach() found undecodable (damage, not
  // a crash) and replaced by their other block, or by an empty list.
  std::uint32_t meta_blocks_reset_at_attach() const noexcept;

 private:
  struct Impl;
  explicit SegmentWriter(std::unique_ptr<Impl> impl) noexcept;
  // insert() for any owner, the static one included, with the record's aux.
  Result<InsertResult> insert_with(std::uint32_t registry, std::string_view key, std::string_view value,
                                   const OwnerIdentity& owner, std::uint32_t aux,
                                   std::uint32_t* conflict_pid) noexcept;
  // remove() for any pid, the static owner's 0 included (unset_static, redo).
  Result<std::uint32_t> remove_key(std::uint32_t registry, std::string_view key, std::uint32_t pid) noexcept;
  static Result<SegmentWriter> attach_mapped(MappedSegment seg, const WriterOptions& options) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg::shm
