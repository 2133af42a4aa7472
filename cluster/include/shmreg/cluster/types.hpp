// The values the etcd client takes and returns: keys and values as bytes,
// revisions and lease ids as etcd numbers them. Plain structs, no Boost, no
// JSON: the wire format (etcd's JSON gateway, base64 and int64-as-string) is
// the client's business, not its callers'.
//
// Revisions: etcd numbers every change of the key space; a reply's header
// carries the store's revision when it was served. A key's create_revision
// is the change that created it (0 when absent), its mod_revision the last
// one that wrote it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace shmreg::cluster {

// etcd's lease id; 0 is "no lease".
using LeaseId = std::int64_t;

struct ResponseHeader {
  std::uint64_t cluster_id = 0;
  std::uint64_t member_id = 0;  // the member that served the reply
  std::int64_t revision = 0;    // the store's revision when served
  std::int64_t raft_term = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;  // writes since creation (1 after the create)
  LeaseId lease = 0;
};

// linearizable: served through the leader's quorum, sees every write that
// finished before the call. serializable: the answering member's own copy,
// possibly behind; it works without a leader.
enum class ReadMode : std::uint8_t { linearizable, serializable };

struct RangeResult {
  ResponseHeader header;
  std::vector<KeyValue> kvs;  // in key order
  std::int64_t count = 0;     // keys in the range (may exceed kvs.size() with a limit)
  bool more = false;
};

// --- Transactions: if every compare holds, the success ops run, else the
// failure ops, all at one revision.

struct Compare {
  enum class Target : std::uint8_t { version, create_revision, mod_revision, value, lease };
  enum class Op : std::uint8_t { equal, greater, less, not_equal };
  std::string key;
  Target target = Target::create_revision;
  Op op = Op::equal;
  std::int64_t number = 0;  // for version, create_revision, mod_revision, lease
  std::string value;        // for value
};

struct PutOp {
  std::string key;
  std::string value;
  LeaseId lease = 0;
};
struct RangeOp {
  std::string key;
  std::string range_end;  // empty: the key alone
};
struct DeleteOp {
  std::string key;
  std::string range_end;  // empty: the key alone
};

// The range_end that makes [prefix, end) every key starting with prefix
// (for a RangeOp or DeleteOp): the prefix with its last byte below 0xff
// incremented and what follows dropped; "\0" (every key) for an empty or
// all-0xff prefix.
[[nodiscard]] std::string prefix_range_end(std::string_view prefix);
using TxnOp = std::variant<PutOp, RangeOp, DeleteOp>;

struct Txn {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

// One result per op of the branch that ran, in order: a put's revision is
// the header's; a range's keys; a delete's count.
struct TxnOpResult {
  std::vector<KeyValue> kvs;  // RangeOp
  std::int64_t deleted = 0;   // DeleteOp
};

struct TxnResult {
  ResponseHeader header;
  bool succeeded = false;
  std::vector<TxnOpResult> responses;
};

// create_if_absent: either this call created the key (at header.revision),
// or it was there and holder is what it holds.
struct CreateResult {
  ResponseHeader header;
  bool created = false;
  KeyValue holder;  // when !created
};

struct CompareDeleteResult {
  ResponseHeader header;
  bool deleted = false;  // false: the compare failed (or the key was gone)
};

// --- Leases.

struct Lease {
  ResponseHeader header;
  LeaseId id = 0;
  std::int64_t ttl_seconds = 0;  // granted, or after a keep-alive: the new TTL
};

struct LeaseTimeToLive {
  ResponseHeader header;
  LeaseId id = 0;
  std::int64_t ttl_seconds = 0;          // remaining
  std::int64_t granted_ttl_seconds = 0;  // at grant
  std::vector<std::string> keys;         // attached to it
};

// --- Cluster status.

struct Member {
  std::uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

// What one configured endpoint said when asked, or why it said nothing.
struct EndpointStatus {
  std::string endpoint;
  bool healthy = false;        // answered /v3/maintenance/status in time
  std::string error;           // when !healthy
  std::uint64_t member_id = 0;
  std::uint64_t leader_id = 0;  // 0: this member knows no leader
  std::string version;
  std::int64_t raft_term = 0;
  std::int64_t raft_index = 0;
  std::int64_t db_size = 0;
};

struct ClusterStatus {
  std::vector<Member> members;  // empty when no endpoint answered
  std::uint64_t leader_id = 0;  // the leader most healthy endpoints name; 0 if none
  std::vector<EndpointStatus> endpoints;  // one per configured endpoint, in order
};

// --- Watch.

struct WatchEvent {
  enum class Type : std::uint8_t { put, del };
  Type type = Type::put;
  KeyValue kv;  // for del: key and mod_revision (the deletion's revision) only
};

}  // namespace shmreg::cluster
