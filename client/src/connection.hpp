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
// Messages. A connection that opened a mailbox also receives message frames
// from the broker, unsolicited, between replies. call() keeps those it reads
// while waiting for its reply, in order, and next_message() hands them out
// before reading more from the socket. A connection without a mailbox never
// gets one; any other unexpected frame closes the connection.
//
// Thread-safety: not thread-safe; the client serializes calls with a mutex.
#pragma once

#include <cstdint>
#include <chrono>
#include <deque>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/unique_fd.hpp"
#include "trust.hpp"

namespace shmreg::client_detail {

struct ConnectionError {
  bool maybe_applied = false;  // the request was sent but no reply came back
  std::string message;
  bool malformed_reply = false;  // a reply came back that did not parse (an unknown status, say)
  bool untrusted = false;        // the socket's peer is not the trusted broker (trust.hpp)
};

class Connection {
 public:
  static constexpr int kConnectAttempts = 6;

  Connection(std::string socket_path, PeerTrust trust) : path_(std::move(socket_path)), trust_(std::move(trust)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one batch, with pidfds as SCM_RIGHTS on its first byte (the ops'
  // `target` fields name them), and waits for its reply.
  std::expected<std::vector<proto::OpResult>, ConnectionError> call(const std::vector<proto::Op>& ops,
                                                                    std::span<const int> pidfds = {});

  // The next message frame's payload: one kept by call(), else one read
  // from the socket within timeout; nullopt when none came. Fails when the
  // connection is closed (and then it is closed on this side too).
  std::expected<std::optional<std::vector<std::uint8_t>>, ConnectionError> next_message(
      std::chrono::nanoseconds timeout);
  // Messages kept by call() and not yet handed out.
  std::size_t kept_messages() const noexcept { return kept_.size(); }
  bool connected() const noexcept { return static_cast<bool>(fd_); }
  int fd() const noexcept { return fd_.get(); }

  const std::string& path() const noexcept { return path_; }
  void close() noexcept;

 private:
  std::expected<void, std::string> ensure_connected();
  // False when the broker closed the connection; keeps any message frames
  // that arrived first.
  bool drain_unsolicited();
  // Reads one whole frame; false on EOF, error or a malformed header.
  bool read_frame(proto::FrameHeader& header, std::vector<std::uint8_t>& payload);

  std::string path_;
  PeerTrust trust_;  // checks every peer right after connect
  sys::UniqueFd fd_;
  std::uint32_t next_id_ = 1;
  std::deque<std::vector<std::uint8_t>> kept_;  // message payloads, oldest first
};

}  // namespace shmreg::client_detail
