// Trying the endpoints of a cluster in turn, and judging what one answered.
// Internal to shmreg_cluster; used by every call of EtcdClient and by
// Watch::open.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "codec.hpp"
#include "http_connection.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace shmreg::cluster::detail {

// One endpoint did not serve the call; the next one may. malformed: it
// answered garbage (the call then fails with bad_reply rather than
// cluster_unavailable if no endpoint serves it).
struct AttemptFailed {
  bool malformed = false;
  std::string reason;
};

// What one attempt came to: served (monostate), a final answer that no
// other endpoint would change (Error: etcd refused the request), or
// AttemptFailed.
using AttemptResult = std::variant<std::monostate, Error, AttemptFailed>;

// Calls attempt(i, attempt_deadline) for the endpoints in turn, from first,
// each with at most attempt_timeout, round after round (a short pause
// between rounds: an election takes a moment) until one is served or
// deadline passes. Returns the index of the endpoint that served, or the
// final Error, or cluster_unavailable / bad_reply naming every endpoint
// and its last reason.
Result<std::size_t> try_endpoints(std::string_view call, const std::vector<std::string>& urls, std::size_t first,
                                  std::chrono::milliseconds attempt_timeout, Deadline deadline,
                                  const std::function<AttemptResult(std::size_t, Deadline)>& attempt);

// Judges an HTTP exchange with the gateway: a 200 with a JSON object (put
// in out) is served; an etcd error is either a reason to try elsewhere (no
// leader, timeout, unavailable) or final (rejected, lease_not_found,
// compacted); anything else is malformed.
AttemptResult judge_reply(std::string_view call, const Endpoint& endpoint,
                          const std::expected<HttpReply, TransportError>& reply, Json& out);

// The etcd error a JSON reply carries, either form the gateway uses
// ({"error": "...", "code": N} or {"error": {"grpc_code": N, "message":
// "..."}}), judged as above; monostate when it carries none.
AttemptResult judge_etcd_error(std::string_view call, const Endpoint& endpoint, const Json& reply);

}  // namespace shmreg::cluster::detail
