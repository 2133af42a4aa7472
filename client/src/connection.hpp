// libshmreg's connection to the broker: a blocking Unix socket that speaks
// proto/ frames, connected lazily on the first write.
//
// Reconnects: before each request the connection is checked; a connection the
// broker closed (restart) is replaced, retrying connect with exponential backoff
// (kConnectAttempts tries, from 5 ms, doubling) and never logging. A request is
// re-sent only when it provably never reached a broker (the send failed); if a
// reply is lost after sending, the caller gets broker_unavailable, because the
// write may or may not have applied.
//
// Thread-safety: not thread-safe; the client serializes calls with a mutex.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "shmreg/proto/wire.hpp"

namespace shmreg::client_detail {

struct ConnectionError {
  bool maybe_applied = false;  // the request was sent but no reply came back
  std::string message;
};

class Connection {
 public:
  static constexpr int kConnectAttempts = 6;

  explicit Connection(std::string socket_path) : path_(std::move(socket_path)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one batch, with pidfds as SCM_RIGHTS on its first byte (the ops'
  // `target` fields name them), and waits for its reply.
  std::expected<std::vector<proto::OpResult>, ConnectionError> call(const std::vector<proto::Op>& ops,
                                                                    std::span<const int> pidfds = {});

  const std::string& path() const noexcept { return path_; }

 private:
  std::expected<void, std::string> ensure_connected();
  void close() noexcept;
  bool peer_closed() const noexcept;

  std::string path_;
  int fd_ = -1;
  std::uint32_t next_id_ = 1;
};

}  // namespace shmreg::client_detail
