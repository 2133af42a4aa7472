// One HTTP/1.1 connection to one etcd endpoint, over Boost.Beast, plain or
// TLS, driven synchronously: every operation runs the connection's own
// io_context until it finishes or the caller's deadline passes, and then
// the socket is closed. Internal to shmreg_cluster; no call throws.
//
// Two uses: post() for a unary call (request, whole reply, the connection
// kept for the next call when the server allows), and open_stream() /
// read_stream() for a long-lived chunked reply (a watch), read a piece at a
// time.
//
// Thread-safety: none; one owner at a time.
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "endpoint.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace shmreg::cluster::detail {

// Why an exchange failed. malformed: the peer answered, but not with HTTP
// as it should be (or over a limit); otherwise it did not answer in time.
struct TransportError {
  bool malformed = false;
  std::string what;
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

// The TLS settings of every https connection of a client (opaque here).
class TlsContext;
// invalid_argument when a file cannot be read or does not match.
Result<std::shared_ptr<TlsContext>> make_tls_context(const TlsFiles& files);

class HttpConnection {
 public:
  // tls is needed for an https endpoint.
  HttpConnection(Endpoint endpoint, std::size_t max_body, std::shared_ptr<TlsContext> tls);
  HttpConnection(HttpConnection&&) noexcept;
  HttpConnection& operator=(HttpConnection&&) noexcept;
  ~HttpConnection();

  const Endpoint& endpoint() const noexcept;

  // POSTs body (JSON) to target and reads the whole reply, any status.
  std::expected<HttpReply, TransportError> post(std::string_view target, const std::string& body,
                                                Deadline deadline);

  // POSTs body on a fresh connection and reads the reply's header. A status
  // other than 200 comes with the whole (bounded) body; 200 with none: read
  // it with read_stream().
  std::expected<HttpReply, TransportError> open_stream(std::string_view target, const std::string& body,
                                                       Deadline deadline);
  // Appends to out the body bytes that arrive by deadline (maybe none). An
  // error when the stream ended ("closed by the server") or broke; a read
  // still pending at the deadline carries on at the next call.
  std::expected<void, TransportError> read_stream(std::string& out, Deadline deadline);

  void close() noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shmreg::cluster::detail
