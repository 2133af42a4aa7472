// libshmreg's connection to the broker: a Unix socket that speaks proto/
// frames, connected lazily on the first write, every exchange bounded by the
// calling operation's Deadline.
//
// Deadlines. Connecting, sending and waiting for the reply all end at the
// call's deadline: the socket is connected with SO_SNDTIMEO (a connect blocks
// while the broker's listen backlog is full), then used without ever blocking
// in the kernel (poll). A call that runs out of time fails with timed_out and
// drops the connection: a reply that comes late then has nowhere to arrive,
// so no later call can read it (and request ids are checked as well). If the
// whole request was sent before the time ran out, the broker may still apply
// it when it resumes: maybe_applied is set.
//
// Reconnects: before each request the connection is checked; a connection the
// broker closed (a restart, an idle timeout) is replaced, retrying connect
// with exponential backoff (kConnectAttempts tries, from 5 ms, doubling,
// within the deadline) and never logging. A request is re-sent at most once,
// and only when it provably never reached a broker: the send failed, or the
// broker closed the connection with the request still unread in its socket
// (the kernel then reports ECONNRESET, not an end of file). If a reply is
// lost after the broker may have read the request, the caller gets
// broker_unavailable with maybe_applied, because the write may or may not
// have applied.
//
// Messages. A connection that opened a mailbox also receives message frames
// from the broker, unsolicited, between replies. call() keeps those it reads
// while waiting for its reply, in order, and next_message() hands them out
// before reading more from the socket. A connection without a mailbox never
// gets one; any other unexpected frame closes the connection.
//
// Thread-safety: not thread-safe; the client serializes calls with a mutex.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/io.hpp"
#include "shmreg/sys/unique_fd.hpp"
#include "trust.hpp"

namespace shmreg::client_detail {

// When one client operation must be done, and the time it was given (for
// the error message).
struct Deadline {
  std::chrono::steady_clock::time_point at;
  std::chrono::nanoseconds budget;

  // Now plus budget; budgets past 100 years are cut to it, so that the
  // deadline cannot overflow.
  static Deadline after(std::chrono::nanoseconds budget) noexcept;
  bool passed() const noexcept { return std::chrono::steady_clock::now() >= at; }
  // "250 ms", for messages.
  std::string budget_text() const;
};

struct ConnectionError {
  bool maybe_applied = false;  // the request was sent but no reply came back
  std::string message;
  bool malformed_reply = false;  // a reply came back that did not parse (an unknown status, say)
  bool timed_out = false;        // the deadline passed first; the connection was dropped
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
  // `target` fields name them), and waits for its reply, all by deadline.
  std::expected<std::vector<proto::OpResult>, ConnectionError> call(const std::vector<proto::Op>& ops,
                                                                    std::span<const int> pidfds,
                                                                    const Deadline& deadline);

  // The next message frame's payload: one kept by call(), else one read
  // from the socket within timeout (and up to 100 ms more for a frame that
  // began to arrive just then); nullopt when none came. Fails when the
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
  // The one place where a connection becomes established.
  std::expected<void, ConnectionError> ensure_connected(const Deadline& deadline);
  // One socket connected to path_ by deadline, or the errno that stopped it
  // (EAGAIN: the listen backlog stayed full).
  std::expected<sys::UniqueFd, int> connect_once(const Deadline& deadline) const;
  // False when the broker closed the connection; keeps any message frames
  // that arrived first.
  bool drain_unsolicited(const Deadline& deadline);
  // Reads one whole frame by deadline; a malformed header is `failed`.
  sys::IoOutcome read_frame(proto::FrameHeader& header, std::vector<std::uint8_t>& payload, sys::IoDeadline deadline);
  // Reads frames until the reply to request id, keeping messages.
  std::expected<std::vector<proto::OpResult>, ConnectionError> read_reply(std::uint32_t id,
                                                                          std::size_t ops,
                                                                          const Deadline& deadline,
                                                                          bool& unread_by_broker);

  std::string path_;
  PeerTrust trust_;  // checks every peer right after connect
  sys::UniqueFd fd_;
  pid_t opened_by_ = 0;  // the process that connected fd_ (the broker's peer)
  std::uint32_t next_id_ = 1;
  std::deque<std::vector<std::uint8_t>> kept_;  // message payloads, oldest first
};

}  // namespace shmreg::client_detail
