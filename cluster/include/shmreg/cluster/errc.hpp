// Outcomes of the etcd client (shmreg_cluster) and the Result<T> every call
// returns.
//
// The client never throws across its boundary. A failed call carries an
// Errc, the outcome a caller must handle, and a message for logs and the CLI
// that names the call and every endpoint involved ("etcd txn: no endpoint
// answered within 2000 ms: http://10.0.0.1:2379: connect: Connection
// refused; ...").
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace shmreg::cluster {

enum class Errc : std::uint8_t {
  // No endpoint answered before the call's deadline: every one refused,
  // timed out, or said it had no leader. The message names each endpoint
  // and its last error. Retry later; nothing is known of the call's effect.
  cluster_unavailable = 1,
  // An endpoint answered with something that is not a well-formed etcd
  // reply of the expected shape (not HTTP, not JSON, a field of the wrong
  // type, over the reply size limit). Names the endpoint and the call.
  bad_reply,
  // etcd answered and refused the request (invalid argument, request too
  // large, permission denied...). The message carries etcd's own words.
  rejected,
  // The lease does not exist (never granted, revoked, or expired): its keys
  // are gone. A keep-alive that learns this must not be retried.
  lease_not_found,
  // A watch asked for a revision that etcd has compacted away: the caller
  // re-reads (range) and re-watches from the new revision.
  compacted,
  // A watch stream ended (member gone, stream closed or cancelled): the
  // caller re-reads and re-watches, on any endpoint.
  watch_closed,
  // The caller's mistake: an endpoint that is not a URL, an empty key, a
  // TTL out of range. The message names the rule.
  invalid_argument,
};

std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace shmreg::cluster
