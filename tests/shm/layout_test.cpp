// Binary compatibility of the segment format (invariant 10).
//
// An independently written description of layout.hpp: every field of every
// shared struct with its offset and size as literals, the constants and
// encodings that readers and writers must agree on, the key hash on fixed
// inputs, and the exact ABI signature of this build. Any change to the format
// fails here first; when the change is intended, bump kLayoutVersion, update
// docs/segment-format.md and then this file.
#include <cstddef>
#include <string>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

struct FieldLayout {
  const char* name;
  std::size_t actual_offset, actual_size;
  std::size_t want_offset, want_size;
};

#define SHMREG_FIELD(type, field, offset, size) \
  FieldLayout { #type "::" #field, offsetof(type, field), sizeof(type::field), offset, size }

void expect_fields(const std::vector<FieldLayout>& fields, std::size_t struct_size, std::size_t want_size) {
  EXPECT_EQ(struct_size, want_size);
  std::size_t covered = 0;
  for (const FieldLayout& f : fields) {
    EXPECT_EQ(f.actual_offset, f.want_offset) << f.name;
    EXPECT_EQ(f.actual_size, f.want_size) << f.name;
    covered += f.want_size;
  }
  EXPECT_EQ(covered, want_size) << "the table must list every byte: no implicit padding, no unlisted field";
}

TEST(Layout, SegmentHeaderFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(SegmentHeader, magic, 0, 8),
          SHMREG_FIELD(SegmentHeader, layout_version, 8, 4),
          SHMREG_FIELD(SegmentHeader, header_size, 12, 4),
          SHMREG_FIELD(SegmentHeader, abi_signature, 16, 8),
          SHMREG_FIELD(SegmentHeader, segment_size, 24, 8),
          SHMREG_FIELD(SegmentHeader, created_unix_ns, 32, 8),
          SHMREG_FIELD(SegmentHeader, generation, 40, 8),
          SHMREG_FIELD(SegmentHeader, commit_seq, 48, 8),
          SHMREG_FIELD(SegmentHeader, next_version, 56, 8),
          SHMREG_FIELD(SegmentHeader, writer_pid, 64, 4),
          SHMREG_FIELD(SegmentHeader, txn_state, 68, 4),
          SHMREG_FIELD(SegmentHeader, registry_dir_offset, 72, 8),
          SHMREG_FIELD(SegmentHeader, registry_capacity, 80, 4),
          SHMREG_FIELD(SegmentHeader, registry_count, 84, 4),
          SHMREG_FIELD(SegmentHeader, owner_table_offset, 88, 8),
          SHMREG_FIELD(SegmentHeader, owner_capacity, 96, 4),
          SHMREG_FIELD(SegmentHeader, owner_count, 100, 4),
          SHMREG_FIELD(SegmentHeader, arena_offset, 104, 8),
          SHMREG_FIELD(SegmentHeader, arena_size, 112, 8),
          SHMREG_FIELD(SegmentHeader, arena_used, 120, 8),
          SHMREG_FIELD(SegmentHeader, txn_registry, 128, 4),
          SHMREG_FIELD(SegmentHeader, txn_pid, 132, 4),
          SHMREG_FIELD(SegmentHeader, txn_key_len, 136, 4),
          SHMREG_FIELD(SegmentHeader, superseded, 140, 4),
          SHMREG_FIELD(SegmentHeader, txn_key, 144, 1024),
          SHMREG_FIELD(SegmentHeader, host_table_offset, 1168, 8),
          SHMREG_FIELD(SegmentHeader, host_capacity, 1176, 4),
          SHMREG_FIELD(SegmentHeader, host_count, 1180, 4),
          SHMREG_FIELD(SegmentHeader, reserved, 1184, 2912),
      },
      sizeof(SegmentHeader), 4096);
  EXPECT_EQ(alignof(SegmentHeader), 8u);
}

TEST(Layout, RegistryDescFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(RegistryDesc, state, 0, 4),
          SHMREG_FIELD(RegistryDesc, id, 4, 4),
          SHMREG_FIELD(RegistryDesc, kind, 8, 4),
          SHMREG_FIELD(RegistryDesc, partitions, 12, 4),
          SHMREG_FIELD(RegistryDesc, name_len, 16, 4),
          SHMREG_FIELD(RegistryDesc, max_key, 20, 4),
          SHMREG_FIELD(RegistryDesc, max_value, 24, 4),
          SHMREG_FIELD(RegistryDesc, record_size, 28, 4),
          SHMREG_FIELD(RegistryDesc, record_capacity, 32, 4),
          SHMREG_FIELD(RegistryDesc, capacity, 36, 4),
          SHMREG_FIELD(RegistryDesc, records_offset, 40, 8),
          SHMREG_FIELD(RegistryDesc, partitions_offset, 48, 8),
          SHMREG_FIELD(RegistryDesc, index_offset, 56, 8),
          SHMREG_FIELD(RegistryDesc, index_buckets, 64, 4),
          SHMREG_FIELD(RegistryDesc, meta_seq, 68, 4),
          SHMREG_FIELD(RegistryDesc, meta_offset, 72, 8),
          SHMREG_FIELD(RegistryDesc, meta_active, 80, 4),
          SHMREG_FIELD(RegistryDesc, meta_len, 84, 8),
          SHMREG_FIELD(RegistryDesc, reserved0, 92, 4),
          SHMREG_FIELD(RegistryDesc, entry_count, 96, 8),
          SHMREG_FIELD(RegistryDesc, key_count, 104, 8),
          SHMREG_FIELD(RegistryDesc, records_high_water, 112, 8),
          SHMREG_FIELD(RegistryDesc, name, 120, 64),
          SHMREG_FIELD(RegistryDesc, events_offset, 184, 8),
          SHMREG_FIELD(RegistryDesc, event_capacity, 192, 4),
          SHMREG_FIELD(RegistryDesc, event_size, 196, 4),
          SHMREG_FIELD(RegistryDesc, event_seq, 200, 8),
          SHMREG_FIELD(RegistryDesc, event_futex, 208, 4),
          SHMREG_FIELD(RegistryDesc, reserved1, 212, 4),
          SHMREG_FIELD(RegistryDesc, creator_uid, 216, 4),
          SHMREG_FIELD(RegistryDesc, reserved, 220, 36),
      },
      sizeof(RegistryDesc), 256);
  EXPECT_EQ(alignof(RegistryDesc), 8u);
}

TEST(Layout, PartitionDataFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(PartitionData, seq, 0, 4),
          SHMREG_FIELD(PartitionData, active, 4, 4),
          SHMREG_FIELD(PartitionData, live, 8, 4),
          SHMREG_FIELD(PartitionData, tombstones, 12, 4),
          SHMREG_FIELD(PartitionData, entry_count, 16, 8),
          SHMREG_FIELD(PartitionData, reserved, 24, 40),
      },
      sizeof(PartitionData), 64);
}

TEST(Layout, IndexBucketIsEightWordsInOneCacheLine) {
  expect_fields({SHMREG_FIELD(IndexBucket, entries, 0, 64)}, sizeof(IndexBucket), 64);
  EXPECT_EQ(kBucketEntries, 8u);
}

TEST(Layout, RecordHeaderFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(RecordHeader, seq, 0, 4),
          SHMREG_FIELD(RecordHeader, state, 4, 4),
          SHMREG_FIELD(RecordHeader, key_len, 8, 4),
          SHMREG_FIELD(RecordHeader, value_len, 12, 4),
          SHMREG_FIELD(RecordHeader, owner_slot, 16, 4),
          SHMREG_FIELD(RecordHeader, owner_pid, 20, 4),
          SHMREG_FIELD(RecordHeader, version, 24, 8),
          SHMREG_FIELD(RecordHeader, hash, 32, 8),
          SHMREG_FIELD(RecordHeader, owner_next, 40, 4),
          SHMREG_FIELD(RecordHeader, owner_prev, 44, 4),
          SHMREG_FIELD(RecordHeader, key_next, 48, 4),
          SHMREG_FIELD(RecordHeader, key_prev, 52, 4),
          SHMREG_FIELD(RecordHeader, key_node, 56, 4),
          SHMREG_FIELD(RecordHeader, aux, 60, 4),
      },
      sizeof(RecordHeader), 64);
}

TEST(Layout, EventHeaderFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(EventHeader, seq, 0, 8),
          SHMREG_FIELD(EventHeader, type, 8, 4),
          SHMREG_FIELD(EventHeader, pid, 12, 4),
          SHMREG_FIELD(EventHeader, old_pid, 16, 4),
          SHMREG_FIELD(EventHeader, key_len, 20, 4),
          SHMREG_FIELD(EventHeader, version, 24, 8),
          SHMREG_FIELD(EventHeader, time_ns, 32, 8),
          SHMREG_FIELD(EventHeader, reserved, 40, 24),
      },
      sizeof(EventHeader), 64);
}

TEST(Layout, OwnerSlotFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(OwnerSlot, seq, 0, 4),
          SHMREG_FIELD(OwnerSlot, state, 4, 4),
          SHMREG_FIELD(OwnerSlot, pid, 8, 4),
          SHMREG_FIELD(OwnerSlot, uid, 12, 4),
          SHMREG_FIELD(OwnerSlot, identity, 16, 8),
          SHMREG_FIELD(OwnerSlot, identity_kind, 24, 4),
          SHMREG_FIELD(OwnerSlot, entry_count, 28, 4),
          SHMREG_FIELD(OwnerSlot, head, 32, 4),
          SHMREG_FIELD(OwnerSlot, reserved0, 36, 4),
          SHMREG_FIELD(OwnerSlot, first_seen_ns, 40, 8),
          SHMREG_FIELD(OwnerSlot, reserved, 48, 16),
      },
      sizeof(OwnerSlot), 64);
}

TEST(Layout, HostSlotFieldsHaveFixedOffsets) {
  expect_fields(
      {
          SHMREG_FIELD(HostSlot, seq, 0, 4),
          SHMREG_FIELD(HostSlot, state, 4, 4),
          SHMREG_FIELD(HostSlot, name_len, 8, 4),
          SHMREG_FIELD(HostSlot, owner_count, 12, 4),
          SHMREG_FIELD(HostSlot, first_seen_ns, 16, 8),
          SHMREG_FIELD(HostSlot, reserved0, 24, 8),
          SHMREG_FIELD(HostSlot, name, 32, 64),
          SHMREG_FIELD(HostSlot, reserved, 96, 32),
      },
      sizeof(HostSlot), 128);
}

TEST(Layout, RemoteOwnerWordIsFixed) {
  // bit 31: remote; bits 22..29: host slot; bits 0..21: the pid on that host.
  EXPECT_EQ(make_remote_owner(0, 1), 0x80000001u);
  EXPECT_EQ(make_remote_owner(3, 4242), 0x80c01092u);
  EXPECT_EQ(make_remote_owner(255, 0x3fffff), 0xbfffffffu);
  EXPECT_EQ(remote_host_slot(0x80c01092u), 3u);
  EXPECT_EQ(remote_pid(0x80c01092u), 4242u);
  EXPECT_TRUE(is_remote_owner(0x80000001u));
  EXPECT_FALSE(is_remote_owner(4194303u)) << "the largest local pid (PID_MAX_LIMIT - 1)";
  EXPECT_EQ(kMaxHosts, 256u);
  EXPECT_EQ(kMaxHostLen, 63u);
  EXPECT_EQ(kIdentityRemote, 4u);
  EXPECT_EQ(kHostFree, 0u);
  EXPECT_EQ(kHostLive, 1u);
}

TEST(Layout, SharedStructsArePlainOldData) {
  EXPECT_TRUE(kSharedPod<SegmentHeader>);
  EXPECT_TRUE(kSharedPod<RegistryDesc>);
  EXPECT_TRUE(kSharedPod<PartitionData>);
  EXPECT_TRUE(kSharedPod<IndexBucket>);
  EXPECT_TRUE(kSharedPod<RecordHeader>);
  EXPECT_TRUE(kSharedPod<OwnerSlot>);
  EXPECT_TRUE(kSharedPod<EventHeader>);
  EXPECT_TRUE(kSharedPod<HostSlot>);
  EXPECT_EQ(sizeof(RecordRef), 4u);
}

TEST(Layout, FormatConstantsHaveTheirValues) {
  EXPECT_EQ(kMagic, 0x31304745524d4853ULL);
  const char magic_bytes[9] = "SHMREG01";
  std::uint64_t from_bytes = 0;
  std::memcpy(&from_bytes, magic_bytes, 8);
  EXPECT_EQ(kMagic, from_bytes) << "the magic reads \"SHMREG01\" in the file on a little-endian host";
  EXPECT_EQ(kLayoutVersion, 5u);
  EXPECT_EQ(kOpRemoveSome, 7u);
  EXPECT_EQ(kMaxRemoveSome, 256u);
  EXPECT_EQ(kHeaderSize, 4096u);
  EXPECT_EQ(kCacheLine, 64u);
  EXPECT_EQ(kMaxRegistries, 256u);
  EXPECT_EQ(kMaxNameLen, 63u);
  EXPECT_EQ(kMaxPartitions, 64u);
  EXPECT_EQ(kMaxKeyLen, 1024u);
  EXPECT_EQ(kMaxValueLen, 1048576u);
  EXPECT_EQ(kMaxRecordsPerRegistry, 16777214u);
  EXPECT_EQ(kMetaBlockSize, 4096u);
  EXPECT_EQ(kMaxEventCapacity, 1048576u);
  EXPECT_EQ(kHashId, 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(RegistryKind::unique), 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(RegistryKind::duplicate), 2u);
  EXPECT_EQ(kRegistryFree, 0u);
  EXPECT_EQ(kRegistryLive, 1u);
  EXPECT_EQ(kRecordFree, 0u);
  EXPECT_EQ(kRecordEntry, 1u);
  EXPECT_EQ(kRecordKeyNode, 2u);
  EXPECT_EQ(kRecordQueued, 3u);
  EXPECT_EQ(kQueueAllowReplacement, 1u);
  EXPECT_EQ(kQueueDoNotQueue, 2u);
  EXPECT_EQ(kQueueReplaceExisting, 4u);
  EXPECT_EQ(kEventRegister, 1u);
  EXPECT_EQ(kEventUnregister, 2u);
  EXPECT_EQ(kEventUpdate, 3u);
  EXPECT_EQ(kEventOwnerDied, 4u);
  EXPECT_EQ(kEventOwnerChanged, 5u);
  EXPECT_EQ(kEventResync, 6u);
  EXPECT_EQ(kEventWriting, 0xffffffffffffffffULL);
  EXPECT_EQ(kOwnerEmpty, 0u);
  EXPECT_EQ(kOwnerLive, 1u);
  EXPECT_EQ(kOwnerTombstone, 2u);
  EXPECT_EQ(kIdentityNone, 0u);
  EXPECT_EQ(kIdentityPidfsInode, 1u);
  EXPECT_EQ(kIdentityStartTime, 2u);
  EXPECT_EQ(kTxnIdle, 0u);
  EXPECT_EQ(kOpCreateRegistry, 1u);
  EXPECT_EQ(kOpInsert, 2u);
  EXPECT_EQ(kOpRemove, 3u);
  EXPECT_EQ(kOpRemoveOwner, 4u);
  EXPECT_EQ(kOpUpdate, 5u);
  EXPECT_EQ(kOpMeta, 6u);
}

TEST(Layout, ReferenceAndIndexEncodingsAreFixed) {
  EXPECT_EQ(make_ref(0, 0), 0x00000001u);
  EXPECT_EQ(make_ref(3, 41), 0x0300002au);
  EXPECT_EQ(make_ref(255, 0xfffffd), 0xfffffffeu);
  EXPECT_EQ(ref_registry(0x0300002au), 3u);
  EXPECT_EQ(ref_record(0x0300002au), 41u);
  EXPECT_EQ(make_entry(0xdeadbeef, 0), 0xdeadbeef00000001ULL);
  EXPECT_EQ(make_entry(0x12345678, 99), 0x1234567800000064ULL);
  EXPECT_EQ(make_tombstone(0xdeadbeef), 0xdeadbeef00000000ULL);
  EXPECT_EQ(hash_tag(0xa1b2c3d4e5f60718ULL), 0xa1b2c3d4u);
  EXPECT_EQ(partition_of(0x0000000012345678ULL, 8), 0u);
  EXPECT_EQ(partition_of(0xffffffff00000000ULL, 8), 7u);
  EXPECT_EQ(partition_of(0x8000000000000000ULL, 8), 4u);
  EXPECT_EQ(partition_of(0x8000000000000000ULL, 1), 0u);
  EXPECT_EQ(pad8(0), 0u);
  EXPECT_EQ(pad8(1), 8u);
  EXPECT_EQ(pad8(8), 8u);
  EXPECT_EQ(pad8(9), 16u);
  EXPECT_EQ(pad_to(65, 64), 128u);
}

TEST(Layout, KeyHashGivesFixedValues) {
  // Writer and readers hash keys independently; any change here must change
  // kHashId and with it the ABI signature.
  EXPECT_EQ(hash_key("", 0), 0x04bf71feff0c5802ULL);
  EXPECT_EQ(hash_key("a", 1), 0xb47e23b0b38b65f0ULL);
  EXPECT_EQ(hash_key("services", 8), 0x97b93bd0013a87c4ULL);
  EXPECT_EQ(hash_key("0123456789abcdef", 16), 0x245c0de92d10e790ULL);
  EXPECT_EQ(hash_key("0123456789abcdefXYZ", 19), 0xbb9b14d670744cd2ULL);
  const std::string long_key(1024, 'k');
  EXPECT_EQ(hash_key(long_key.data(), long_key.size()), 0x4133be8ec274abaaULL);
}

// FNV-1a over 8-byte little-endian words, written again here on purpose.
std::uint64_t fnv1a_words(std::initializer_list<std::uint64_t> words) {
  std::uint64_t h = 14695981039346656037ULL;
  for (std::uint64_t w : words)
    for (unsigned byte = 0; byte < 8; ++byte) {
      h ^= (w >> (byte * 8)) & 0xffu;
      h *= 1099511628211ULL;
    }
  return h;
}

TEST(Layout, AbiSignatureCoversVersionBoostAndStructSizes) {
  // layout version, Boost 1.81.0, hash id, eight struct sizes (header,
  // descriptor, partition, bucket, record head, owner slot, event head, host
  // slot), host slots, registries, meta block, bucket entries, pointer size.
  const std::uint64_t independent =
      fnv1a_words({5, 108100, 1, 4096, 256, 64, 64, 64, 64, 64, 128, 256, 256, 4096, 8, 8});
  EXPECT_EQ(BOOST_VERSION, 108100) << "the project builds against Boost 1.81 exactly";
  EXPECT_EQ(abi_signature(), independent);
  EXPECT_EQ(abi_signature(), 0xaf02b5771116abe1ULL);
}

TEST(Layout, CreatedSegmentPlacesTablesWhereTheHeaderSays) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 100)));
  const auto& h = *reinterpret_cast<const SegmentHeader*>(w.data());
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.registry_dir_offset, 4096u);
  EXPECT_EQ(h.registry_capacity, 256u);
  EXPECT_EQ(h.owner_table_offset, 4096u + 256u * 256u);
  EXPECT_EQ(h.owner_capacity, 100u);
  EXPECT_EQ(h.host_table_offset, 69632u + 6400u) << "right after the owner table (64-aligned)";
  EXPECT_EQ(h.host_capacity, 256u);
  EXPECT_EQ(h.arena_offset, 110592u) << "host table end (76032 + 32768) rounded up to a page";
  EXPECT_EQ(h.arena_size, (std::uint64_t{2} << 20) - 110592u);
  EXPECT_EQ(h.segment_size, std::uint64_t{2} << 20);
  EXPECT_EQ(h.next_version, 1u);
}

}  // namespace
}  // namespace shmreg::shm::test
