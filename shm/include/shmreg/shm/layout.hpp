// The raw layout of a shmreg segment: every struct that lives in shared memory.
//
// Who writes, who reads. Exactly one process writes a segment: the broker,
// through SegmentWriter. Every other process maps it PROT_READ and reads it
// through SegmentReader, without locks and without ever writing. Readers
// never block the writer and the writer never waits for readers.
//
// How reads stay correct. Each mutable structure carries a sequence word
// (`seq`). The writer makes it odd, issues a release fence, changes the data,
// and stores the next even value with release order. A reader loads seq with
// acquire order, reads the data with relaxed atomic loads, issues an acquire
// fence and reloads seq; if the two differ (or the first was odd) the read may
// be torn and is retried. Records are immutable while published: publishing a
// record is a single release store of its index entry, and a freed record slot
// is reused only after a grace period, so retries are rare. Correctness never
// depends on that period: reuse bumps the record's seq.
//
// Why no pointers. The segment is mapped at different addresses in different
// processes, so every reference is an offset from the segment start or an index
// into a table. Readers bounds-check every offset, index and length before use,
// so arbitrary bytes in the segment make a read fail with Errc::corrupt but
// never fault or loop for ever.
//
// What a reader reads once, and what it reads live. The fields marked const
// below that place or size a table (the header's geometry, a registry
// descriptor's constant fields) are read once, checked as a private copy
// (SegmentGeometry at open, RegistryView per registry), and never read again
// for addressing: a change of those bytes after the check cannot move a table
// under a reader. Every other field is live; each is checked against those
// copies before use (indices and links against capacities, lengths against
// limits, counters against what they count), no live value is a divisor, and
// every walk has a bound taken from the copies. docs/segment-format.md,
// section 15, lists each field with its check.
//
// Owners from other hosts. A cluster registry's entries held on other hosts
// are mirrored into this segment by the broker (its cluster mirror), owned by
// remote owners: an owner slot of kind kIdentityRemote whose owner word
// carries the host's slot in the host table (HostSlot) and the pid on that
// host. Readers see them as any entry, plus the host's name, read inside the
// record's validation window. Nothing local can touch them: no pidfd reaps
// them, no uid's quota counts them, and a local pid never equals their word.
//
// Field comments use the form  W: writer, when / R: readers, order / I: invariant.
// docs/segment-format.md is the human-readable mirror of this file; keep both
// in step and bump kLayoutVersion on any change to a struct below.
#pragma once

#include <boost/version.hpp>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmreg/shm/hash.hpp"

namespace shmreg::shm {

inline constexpr std::uint64_t kMagic = 0x31304745524d4853ULL;  // "SHMREG01" on disk
inline constexpr std::uint32_t kLayoutVersion = 5;  // 5: remote owners and the host table
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kHeaderSize = 4096;
inline constexpr std::uint32_t kMaxRegistries = 256;  // registry id fits 8 bits of a RecordRef
inline constexpr std::uint32_t kMaxNameLen = 63;
inline constexpr std::uint32_t kMaxPartitions = 64;
inline constexpr std::uint32_t kMaxKeyLen = 1024;
inline constexpr std::uint32_t kMaxValueLen = 1u << 20;
inline constexpr std::uint32_t kMaxRecordsPerRegistry = (1u << 24) - 2;  // index+1 fits 24 bits
inline constexpr std::uint32_t kMetaBlockSize = 4096;                   // one of two meta buffers
inline constexpr std::uint32_t kBucketEntries = 8;                      // index entries per bucket
inline constexpr std::uint32_t kMaxEventCapacity = 1u << 20;            // events per registry ring
inline constexpr std::uint32_t kMaxHosts = 256;                         // host table slots
inline constexpr std::uint32_t kMaxHostLen = 63;                        // bytes of a host's name

enum class RegistryKind : std::uint32_t { unique = 1, duplicate = 2 };

// RegistryDesc::state
inline constexpr std::uint32_t kRegistryFree = 0;
inline constexpr std::uint32_t kRegistryLive = 1;

// RecordHeader::state
inline constexpr std::uint32_t kRecordFree = 0;     // never used, or freed
inline constexpr std::uint32_t kRecordEntry = 1;    // a published entry
inline constexpr std::uint32_t kRecordKeyNode = 2;  // duplicate registries: head of one key's entries
inline constexpr std::uint32_t kRecordQueued = 3;   // unique registries: waiting in a key's owner queue

// RecordHeader::aux of a unique entry or queued record: its owner-queue flags
// (D-Bus RequestName). replace_existing is never stored.
inline constexpr std::uint32_t kQueueAllowReplacement = 1;
inline constexpr std::uint32_t kQueueDoNotQueue = 2;
inline constexpr std::uint32_t kQueueReplaceExisting = 4;
// RecordHeader::aux of a static entry (one of the static owner's): set when
// the configuration file declared it, clear when an admin set it at run time.
// A static entry never queues, so it carries no kQueue* flag.
inline constexpr std::uint32_t kStaticDeclared = 1u << 31;

// EventHeader::type
inline constexpr std::uint32_t kEventRegister = 1;
inline constexpr std::uint32_t kEventUnregister = 2;
inline constexpr std::uint32_t kEventUpdate = 3;
inline constexpr std::uint32_t kEventOwnerDied = 4;
inline constexpr std::uint32_t kEventOwnerChanged = 5;
inline constexpr std::uint32_t kEventResync = 6;  // a crash repair ran: state may have changed unannounced
// EventHeader::seq while the writer fills the slot.
inline constexpr std::uint64_t kEventWriting = ~std::uint64_t{0};

// OwnerSlot::state
inline constexpr std::uint32_t kOwnerEmpty = 0;      // never used: ends a probe
inline constexpr std::uint32_t kOwnerLive = 1;
inline constexpr std::uint32_t kOwnerTombstone = 2;  // was used: a probe continues past it

// OwnerSlot::identity_kind
inline constexpr std::uint32_t kIdentityNone = 0;
inline constexpr std::uint32_t kIdentityPidfsInode = 1;
inline constexpr std::uint32_t kIdentityStartTime = 2;  // /proc/PID/stat field 22, clock ticks
// The static owner: the namespace itself, owner of the entries the broker's
// configuration sets (SegmentWriter::set_static). Its slot has pid 0, uid
// kNamespaceUid and this kind, identity 0. No process has pid 0, so it is
// never reaped; it lives while it has entries.
inline constexpr std::uint32_t kIdentityStatic = 3;
// A remote owner: a process on another host of the cluster, whose entries
// the broker mirrors from etcd (layout version 5). Its slot's identity is
// the index of its host's HostSlot, its pid the owner word below. The
// broker never reaps it through a pidfd, counts it for no uid, and removes
// it only when the mirror says its entries are gone.
inline constexpr std::uint32_t kIdentityRemote = 4;

// The owner word: what RecordHeader::owner_pid, OwnerSlot::pid,
// EventHeader::pid/old_pid and txn_pid hold. A local process's word is its
// pid, below 2^22 (Linux's PID_MAX_LIMIT). A remote owner's word sets the
// top bit, its host slot in bits 22..29 and its pid (1..2^22-1 on its host)
// in bits 0..21, so no remote word can equal a local pid, and the owner
// table stays keyed by one 32-bit word.
inline constexpr std::uint32_t kRemoteOwnerBit = 1u << 31;
inline constexpr std::uint32_t kRemotePidBits = 22;
inline constexpr std::uint32_t kRemotePidMask = (1u << kRemotePidBits) - 1;
inline constexpr bool is_remote_owner(std::uint32_t word) noexcept { return (word & kRemoteOwnerBit) != 0; }
inline constexpr std::uint32_t make_remote_owner(std::uint32_t host_slot, std::uint32_t pid) noexcept {
  return kRemoteOwnerBit | (host_slot << kRemotePidBits) | (pid & kRemotePidMask);
}
inline constexpr std::uint32_t remote_host_slot(std::uint32_t word) noexcept {
  return (word >> kRemotePidBits) & (kMaxHosts - 1);
}
inline constexpr std::uint32_t remote_pid(std::uint32_t word) noexcept { return word & kRemotePidMask; }

// HostSlot::state
inline constexpr std::uint32_t kHostFree = 0;
inline constexpr std::uint32_t kHostLive = 1;
// The uid of the static owner, and RegistryDesc::creator_uid of a registry
// the broker created from its configuration rather than for a process.
inline constexpr std::uint32_t kNamespaceUid = 0xffffffffu;

// SegmentHeader::superseded once the broker has abandoned the file.
inline constexpr std::uint32_t kSegmentSuperseded = 1;
// PartitionData::active: set with the header's mark, so that a lookup, which
// loads `active` anyway, sees the mark without another memory access. Only
// the low bit names the buffer.
inline constexpr std::uint32_t kActiveSuperseded = 1u << 31;

// SegmentHeader::txn_state: idle, or the write that is under way.
inline constexpr std::uint32_t kTxnIdle = 0;
inline constexpr std::uint32_t kOpCreateRegistry = 1;
inline constexpr std::uint32_t kOpInsert = 2;
inline constexpr std::uint32_t kOpRemove = 3;
inline constexpr std::uint32_t kOpRemoveOwner = 4;
inline constexpr std::uint32_t kOpUpdate = 5;
inline constexpr std::uint32_t kOpMeta = 6;
// Removes chosen records of one owner under one key (SegmentWriter::remove_if
// when it keeps some): txn_key holds their record indices, u32 each, instead
// of a key (layout version 3).
inline constexpr std::uint32_t kOpRemoveSome = 7;
inline constexpr std::uint32_t kMaxRemoveSome = kMaxKeyLen / 4;

// Offset 0. Fields marked const are written once by SegmentWriter::create and
// never change; magic is stored last with release order, so a reader that sees
// it (acquire) sees a complete header.
struct SegmentHeader {
  std::uint64_t magic;                // const. R: attach. I: == kMagic
  std::uint32_t layout_version;       // const. R: attach. I: == kLayoutVersion
  std::uint32_t header_size;          // const. I: == kHeaderSize
  std::uint64_t abi_signature;        // const. R: attach. I: == abi_signature()
  std::uint64_t segment_size;         // const. R: attach, bounds. I: == size of the object
  std::uint64_t created_unix_ns;      // const. informational
  std::uint64_t generation;           // W: +1 each time a broker attaches or rebuilds, release.
                                      // R: acquire, to notice a new broker. I: never decreases
  std::uint64_t commit_seq;           // W: +1 after each completed write, release. R: acquire
                                      // (watchers, read-your-writes probes). I: never decreases
  std::uint64_t next_version;         // W only: source of RecordHeader::version. I: > every version
  std::uint32_t writer_pid;           // W: at attach. R: informational (dump)
  std::uint32_t txn_state;            // W: non-zero while a write is half applied. R: attach,
                                      // to detect a crash mid-write. I: kTxnIdle between writes
  std::uint64_t registry_dir_offset;  // const. I: == kHeaderSize
  std::uint32_t registry_capacity;    // const. I: == kMaxRegistries
  std::uint32_t registry_count;       // W: release after a registry is published. R: acquire
  std::uint64_t owner_table_offset;   // const. I: after the directory, 64-aligned
  std::uint32_t owner_capacity;       // const. I: >= 1
  std::uint32_t owner_count;          // W: release. R: relaxed (dump). I: live owner slots
  std::uint64_t arena_offset;         // const. I: after the owner table, 4096-aligned
  std::uint64_t arena_size;           // const. I: arena_offset + arena_size <= segment_size
  std::uint64_t arena_used;           // W: release, after carving a registry. R: acquire, bounds.
                                      // I: <= arena_size, only grows
  // The intent of the write in progress, so that a broker that attaches after
  // a crash can finish a multi-step removal instead of leaving it half done.
  std::uint32_t txn_registry;         // W: before txn_state is set. R: attach only
  std::uint32_t txn_pid;              // W: before txn_state is set. R: attach only
  std::uint32_t txn_key_len;          // W: before txn_state is set. I: <= kMaxKeyLen
  // Non-zero once the broker has left this file for a new one at the name
  // (the name was removed while it ran, segment_guard.hpp): nothing writes
  // the file again, so readers must open the namespace again.
  // W: the broker, once, on the mapping it abandons, after the new file is
  // linked at the name, release; then kActiveSuperseded in every partition.
  // R: acquire, off the lookup hot path (iteration, meta, the client before
  // a broker call); lookups see the partition bit instead.
  // I: 0 (live) or kSegmentSuperseded; cleared only by a broker that attaches
  // the file again (put back at the name, it is the namespace's). Taken from
  // reserved bytes that were always zero, so no layout version changes: a
  // reader built before it ignores it and masks the partition bit away.
  std::uint32_t superseded;
  std::uint8_t txn_key[kMaxKeyLen];   // W: before txn_state is set. R: attach only
  std::uint64_t host_table_offset;    // const. I: after the owner table, 64-aligned, before the arena
  std::uint32_t host_capacity;        // const. I: == kMaxHosts (the owner word has 8 bits for it)
  std::uint32_t host_count;           // W: release. R: relaxed (dump). I: live host slots
  std::uint8_t reserved[kHeaderSize - 144 - kMaxKeyLen - 16];
};

// One per registry slot in the directory. All fields but the counters and the
// meta seqlock are const once state is kRegistryLive (published with release).
struct RegistryDesc {
  std::uint32_t state;             // W: release on publish. R: acquire. I: Free or Live
  std::uint32_t id;                // const. I: == index in the directory
  std::uint32_t kind;              // const. I: a RegistryKind
  std::uint32_t partitions;        // const. I: 1..kMaxPartitions
  std::uint32_t name_len;          // const. I: 1..kMaxNameLen
  std::uint32_t max_key;           // const. I: 1..kMaxKeyLen
  std::uint32_t max_value;         // const. I: <= kMaxValueLen
  std::uint32_t record_size;       // const. I: 64-multiple >= sizeof(RecordHeader)+pad8(max_key)+pad8(max_value)
  std::uint32_t record_capacity;   // const. record slots in the pool
  std::uint32_t capacity;          // const. max live entries
  std::uint64_t records_offset;    // const. I: 64-aligned, pool inside the used arena
  std::uint64_t partitions_offset; // const. PartitionData[partitions]
  std::uint64_t index_offset;      // const. IndexBucket[partitions][2][index_buckets]
  std::uint32_t index_buckets;     // const. I: power of two, per partition and buffer
  std::uint32_t meta_seq;          // W: seqlock around meta changes. R: acquire
  std::uint64_t meta_offset;       // const. two blocks of kMetaBlockSize
  std::uint32_t meta_active;       // W: under meta_seq. R: relaxed. I: 0 or 1
  std::uint32_t meta_len[2];       // W: under meta_seq. I: <= kMetaBlockSize
  std::uint32_t reserved0;
  std::uint64_t entry_count;       // W: release after each change. R: acquire. I: live entries
  std::uint64_t key_count;         // W: release. I: distinct keys (== entry_count when unique)
  std::uint64_t records_high_water;// W: release before a slot past it is published. R: acquire,
                                   // bounds iteration. I: <= record_capacity
  char name[kMaxNameLen + 1];      // const. NUL-padded
  std::uint64_t events_offset;     // const. EventHeader slots, event_capacity of event_size bytes
  std::uint32_t event_capacity;    // const. I: power of two, 2..kMaxEventCapacity
  std::uint32_t event_size;        // const. I: 64-multiple >= sizeof(EventHeader)+pad8(max_key)
  std::uint64_t event_seq;         // W: release after an event's slot is complete. R: acquire.
                                   // I: sequence of the newest event, 0 = none; never decreases
  std::uint32_t event_futex;       // W: +1 (release) after each write that published events, then
                                   // FUTEX_WAKE. R: acquire before checking state; FUTEX_WAIT on it
  std::uint32_t reserved1;
  std::uint32_t creator_uid;       // const. the uid the registry was created for (quotas, admin
                                   // rights); kNamespaceUid when the configuration created it
  std::uint8_t reserved[256 - 220];
};

// Per partition of a registry. A partition owns two index buffers; `active`
// names the one readers probe, the other is the spare the writer rebuilds into
// when tombstones pile up.
struct PartitionData {
  std::uint32_t seq;          // W: odd while rebuilding the spare, even after switching.
                              // R: a probe of buffer `active` read at s1 is intact iff the seq
                              // read afterwards is <= (s1 & ~1) + 2; a miss that went past a
                              // record carrying the key's tag needs it == s1 (even)
  std::uint32_t active;       // W: release when switching; kActiveSuperseded OR'ed in (release)
                              // when the file is abandoned. R: acquire; the low bit names the
                              // buffer, kActiveSuperseded fails the lookup with superseded.
                              // I: 0 or 1, plus kActiveSuperseded once the header is superseded
  std::uint32_t live;         // W only. I: live entries in the active buffer
  std::uint32_t tombstones;   // W only. I: tombstones in the active buffer
  std::uint64_t entry_count;  // W: release. R: acquire (dispatch, dump)
  std::uint8_t reserved[kCacheLine - 24];
};

// One cache line of the hash index. An entry is one 64-bit word:
//   0                        empty (never used): ends a probe
//   tag << 32 | 0            tombstone: a probe continues past it
//   tag << 32 | (record + 1) live: points at record slot `record` of the pool
// tag is the high 32 bits of hash_key(key). Entries are published and removed
// with one release store; readers load them with acquire.
struct IndexBucket {
  std::uint64_t entries[kBucketEntries];
};

// A reference to a record anywhere in the segment, used by the owner lists:
// registry id in the high 8 bits, record index + 1 in the low 24 bits, 0 = none.
using RecordRef = std::uint32_t;

// The fixed head of a record slot; pad8(key_len) key bytes follow, then the
// value bytes. Key, value, owner and version are immutable while the record is
// published. The link fields change while it is published, but only under the
// seq of the structure that owns the list: owner_* under OwnerSlot::seq,
// key_* under the key node's seq.
struct RecordHeader {
  std::uint32_t seq;         // W: odd while filling or freeing, even when stable. R: acquire
                             // before, relaxed after an acquire fence. I: changes on every reuse
  std::uint32_t state;       // W: under seq. I: a kRecord* value
  std::uint32_t key_len;     // W: under seq. I: 1..max_key
  std::uint32_t value_len;   // W: under seq. I: <= max_value; 0 for a key node
  std::uint32_t owner_slot;  // W: under seq. I: owner table index + 1; 0 for a key node
  std::uint32_t owner_pid;   // W: under seq. The owner word. I: == that owner slot's pid while
                             // published; a remote one names a live host slot
  std::uint64_t version;     // W: under seq. I: unique in the segment; update_value's CAS word
  std::uint64_t hash;        // W: under seq. I: == hash_key(key)
  RecordRef owner_next;      // W: under owner seq. next record of the same owner, any registry
  RecordRef owner_prev;      // W: under owner seq. previous record, 0 at the head
  std::uint32_t key_next;    // W: under key node seq. entry: next entry of its key (index+1);
                             // key node: first entry
  std::uint32_t key_prev;    // W: under key node seq. entry: previous entry (index+1), 0 first
  std::uint32_t key_node;    // W: under seq. entry of a duplicate registry: its key node (index+1)
  std::uint32_t aux;         // key node: entries in its chain (W: under its seq). Unique entry or
                             // queued record of a process: its kQueue* flags (W: under its seq).
                             // Static entry: kStaticDeclared or 0 (W: under its seq). I: a
                             // process's record never has kStaticDeclared
};

// Owner queues (unique registries). The entry the index points at is the
// primary owner; the processes waiting for the key hang off it in FIFO order
// through key_next/key_prev as kRecordQueued records (key_prev 0 = first in
// line), each with its own value and flags. The chain is guarded by the
// primary's seq. When the primary goes, the first queued record becomes the
// entry and the index switches to it with one release store.

// One event slot of a registry's ring; pad8(key_len) key bytes follow. The
// event with sequence s lives in slot s % event_capacity.
struct EventHeader {
  std::uint64_t seq;        // W: kEventWriting while filling, then s with release. R: acquire
                            // before, relaxed after an acquire fence; a change means overwritten
  std::uint32_t type;       // W: while filling. I: a kEvent* value
  std::uint32_t pid;        // W: while filling. the owner; owner_changed: the new owner
  std::uint32_t old_pid;    // W: while filling. owner_changed: the previous owner, else 0
  std::uint32_t key_len;    // W: while filling. I: <= max_key
  std::uint64_t version;    // W: while filling. the entry's version after the event, 0 on removal
  std::uint64_t time_ns;    // W: while filling. CLOCK_REALTIME of the write
  std::uint8_t reserved[kCacheLine - 40];
};

// One per owner, found by open addressing on the owner word (a local pid,
// or a remote owner's word: kRemoteOwnerBit).
struct OwnerSlot {
  std::uint32_t seq;            // W: odd while changing the entry list or fields. R: acquire
  std::uint32_t state;          // W: release. R: acquire. I: a kOwner* value
  std::uint32_t pid;            // W: under seq. The owner word. I: unique among live slots; 0
                                // only for the static owner (identity_kind kIdentityStatic, uid
                                // kNamespaceUid); kRemoteOwnerBit set iff kIdentityRemote
  std::uint32_t uid;            // W: under seq. A remote owner's uid on its host (informational)
  std::uint64_t identity;       // W: under seq. pidfs inode or start time, per identity_kind;
                                // kIdentityRemote: its host slot (== remote_host_slot(pid))
  std::uint32_t identity_kind;  // W: under seq. I: a kIdentity* value
  std::uint32_t entry_count;    // W: under seq. I: == length of the list from head
  RecordRef head;               // W: under seq. first record of this owner, 0 = none
  std::uint32_t reserved0;
  std::uint64_t first_seen_ns;  // W: under seq. CLOCK_REALTIME when the slot was filled
  std::uint8_t reserved[kCacheLine - 48];
};

// One per host that has remote owners in the segment (layout version 5).
// The host table is kMaxHosts slots at SegmentHeader::host_table_offset; a
// remote owner's word names its slot. A slot is filled before the first
// owner of its host is, and freed (state kHostFree, name cleared) once its
// last owner slot is released; an owner slot is released only after its
// last record was freed (its seq moved). So a host slot never changes while
// a record of one of its owners is published: a reader that reads the name between loading a
// record's seq and checking it again reads a name that the record really
// had, or sees the record's seq change. A reader that only lists hosts
// (dump) validates with the slot's own seq. A crash may leave a slot with no
// owners; attach frees it.
struct HostSlot {
  std::uint32_t seq;            // W: odd while filling or freeing. R: acquire, then again after
  std::uint32_t state;          // W: under seq, release. I: kHostFree or kHostLive
  std::uint32_t name_len;       // W: under seq. I: 1..kMaxHostLen when live, 0 when free
  std::uint32_t owner_count;    // W: under seq. I: live owner slots whose word names this slot
  std::uint64_t first_seen_ns;  // W: under seq. CLOCK_REALTIME when the slot was filled
  std::uint64_t reserved0;
  char name[kMaxHostLen + 1];   // W: under seq. NUL-padded; [A-Za-z0-9._-] (the broker checks)
  std::uint8_t reserved[32];
};

// -- Layout checks: a change here is a format change. ------------------------

template <class T>
inline constexpr bool kSharedPod = std::is_standard_layout_v<T> && std::is_trivially_copyable_v<T>;

static_assert(kSharedPod<SegmentHeader> && sizeof(SegmentHeader) == kHeaderSize,
              "the header is exactly one page so that the directory starts page-aligned");
static_assert(kSharedPod<RegistryDesc> && sizeof(RegistryDesc) == 256,
              "registry descriptors are 256 bytes; the directory is kMaxRegistries of them");
static_assert(kSharedPod<PartitionData> && sizeof(PartitionData) == kCacheLine,
              "one partition per cache line, so partitions never share a line");
static_assert(kSharedPod<IndexBucket> && sizeof(IndexBucket) == kCacheLine,
              "a bucket is one cache line: a probe costs one miss");
static_assert(kSharedPod<RecordHeader> && sizeof(RecordHeader) == 64,
              "the record head is one cache line; key and value follow it");
static_assert(kSharedPod<OwnerSlot> && sizeof(OwnerSlot) == kCacheLine,
              "one owner per cache line");
static_assert(kSharedPod<EventHeader> && sizeof(EventHeader) == kCacheLine,
              "an event head is one cache line; the key follows it");
static_assert(kSharedPod<HostSlot> && sizeof(HostSlot) == 2 * kCacheLine,
              "a host slot is two cache lines: its 63-byte name and the fields that guard it");
static_assert(kMaxHosts <= (1u << (31 - kRemotePidBits)) && (kMaxHosts & (kMaxHosts - 1)) == 0,
              "a host slot index fits the owner word's host bits");
static_assert(offsetof(SegmentHeader, host_table_offset) == 144 + kMaxKeyLen,
              "the host table's fields took reserved bytes after txn_key");
static_assert(offsetof(RegistryDesc, creator_uid) == 216, "creator_uid took reserved bytes");
static_assert(offsetof(SegmentHeader, superseded) == 140 && offsetof(SegmentHeader, txn_key) == 144,
              "superseded took reserved bytes; every other header offset stays");
static_assert(offsetof(RegistryDesc, event_futex) % 4 == 0, "futex words are 4-byte aligned");
static_assert(__atomic_always_lock_free(sizeof(std::uint64_t), nullptr) &&
                  __atomic_always_lock_free(sizeof(std::uint32_t), nullptr),
              "readers in other processes need address-free, lock-free atomics");
static_assert(alignof(std::uint64_t) == 8, "64-bit fields are naturally aligned");

inline constexpr std::uint64_t pad8(std::uint64_t n) noexcept { return (n + 7) & ~std::uint64_t{7}; }
inline constexpr std::uint64_t pad_to(std::uint64_t n, std::uint64_t a) noexcept {
  return (n + a - 1) / a * a;
}

// The arena bytes registry d takes, from its records to the end of its event
// ring, padded to the page the next registry starts on.
inline constexpr std::uint64_t registry_footprint(const RegistryDesc& d) noexcept {
  return pad_to(d.events_offset + std::uint64_t{d.event_capacity} * d.event_size - d.records_offset, 4096);
}

inline constexpr RecordRef make_ref(std::uint32_t registry, std::uint32_t record) noexcept {
  return (registry << 24) | (record + 1);
}
inline constexpr std::uint32_t ref_registry(RecordRef r) noexcept { return r >> 24; }
inline constexpr std::uint32_t ref_record(RecordRef r) noexcept { return (r & 0xffffffu) - 1; }

inline constexpr std::uint64_t make_entry(std::uint32_t tag, std::uint32_t record) noexcept {
  return (static_cast<std::uint64_t>(tag) << 32) | (record + 1);
}
inline constexpr std::uint64_t make_tombstone(std::uint32_t tag) noexcept {
  return static_cast<std::uint64_t>(tag) << 32;
}
inline constexpr std::uint32_t hash_tag(std::uint64_t h) noexcept {
  return static_cast<std::uint32_t>(h >> 32);
}
inline constexpr std::uint32_t partition_of(std::uint64_t h, std::uint32_t partitions) noexcept {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(hash_tag(h)) * partitions) >> 32);
}

// The record slots a key prefers: two home pairs, the first slot of pair
// `which` (0 or 1) given here. The writer places the record the index points
// at (a unique key's entry, a duplicate key's node) in the emptier of the two
// pairs whenever one has a free slot, and a reader prefetches all four while
// it waits for the index bucket, so a hit costs one round trip to memory
// instead of two. A hint only: a record anywhere else is found through the
// index all the same. Pair 0 takes bits 11..42 of the hash, away from the
// bucket's low bits and the tag's high ones; pair 1 a multiplicative remix of
// all 64. docs/segment-format.md, section 9.
inline constexpr std::uint32_t home_slot(std::uint64_t h, std::uint32_t record_capacity, int which = 0) noexcept {
  const std::uint64_t pairs = record_capacity / 2;
  const std::uint64_t bits = which == 0 ? (h >> 11) & 0xffffffffu : (h * 0x9e3779b97f4a7c15ULL) >> 32;
  return static_cast<std::uint32_t>((bits * pairs) >> 32) * 2;
}

// FNV-1a over everything that must match between writer and reader builds.
inline constexpr std::uint64_t abi_signature() noexcept {
  const std::uint64_t parts[] = {kLayoutVersion,        BOOST_VERSION,        kHashId,
                                 sizeof(SegmentHeader), sizeof(RegistryDesc), sizeof(PartitionData),
                                 sizeof(IndexBucket),   sizeof(RecordHeader), sizeof(OwnerSlot),
                                 sizeof(EventHeader),   sizeof(HostSlot),     kMaxHosts,
                                 kMaxRegistries,        kMetaBlockSize,       kBucketEntries,
                                 sizeof(void*)};
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint64_t p : parts) {
    for (int i = 0; i < 8; ++i) {
      h ^= (p >> (8 * i)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

}  // namespace shmreg::shm
