// etcd's JSON gateway on the wire: requests built and replies read, for
// every call of the client. Internal to shmreg_cluster.
//
// The gateway speaks proto3's JSON mapping: keys and values are base64,
// 64-bit numbers are strings, and a field at its default value (0, false,
// empty) is left out. Readers here accept a missing field as its default
// and reject a field of the wrong type, a bad base64 or number: a reply
// that is not what etcd sends is a ReplyError (caught at the call's edge
// and turned into bad_reply), never a crash.
#pragma once

#include "shmreg/cluster/base64.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "shmreg/cluster/types.hpp"

namespace shmreg::cluster::detail {

using Json = nlohmann::json;

struct ReplyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using cluster::base64_decode;
using cluster::base64_encode;

using cluster::prefix_range_end;

// Requests.
Json range_request(std::string_view key, std::string_view range_end, ReadMode mode);
Json txn_request(const Txn& txn);
Json int64_string(std::int64_t n);

// Field readers (throw ReplyError naming the field).
std::int64_t int64_field(const Json& object, std::string_view name);
std::uint64_t uint64_field(const Json& object, std::string_view name);
bool bool_field(const Json& object, std::string_view name);
std::string string_field(const Json& object, std::string_view name);
std::string bytes_field(const Json& object, std::string_view name);  // base64
const Json& object_field(const Json& object, std::string_view name);  // absent: an empty object
// The array, or nullptr when absent.
const Json* array_field(const Json& object, std::string_view name);

// Replies.
ResponseHeader read_header(const Json& reply);
KeyValue read_key_value(const Json& kv);
RangeResult read_range(const Json& reply);
TxnResult read_txn(const Json& reply);
Lease read_lease(const Json& reply);
LeaseTimeToLive read_time_to_live(const Json& reply);
std::vector<Member> read_members(const Json& reply);
void read_endpoint_status(const Json& reply, EndpointStatus& out);
WatchEvent read_watch_event(const Json& event);

}  // namespace shmreg::cluster::detail
