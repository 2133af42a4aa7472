// One client connection: bytes in, frames out, and back-pressure. It knows
// nothing of ops.
//
// A Session reads request frames (header, then the payload in chunks, with
// any pidfds passed alongside: fd_receive.hpp), decodes the ops, hands them
// with the peer's identity and the frame's pidfds to its RequestHandler (the
// op table), and queues the encoded reply. Replies leave in request order.
// A request the handler parks (a write to a cluster registry waits for etcd:
// execute_or_park) is answered when its results come; until then the
// session reads no further request of its connection, and the idle timeout
// does not close it.
//
// Back-pressure: a client that pipelines requests without reading replies is
// paused once kMaxQueuedReplies frames or --max-queued-reply-bytes bytes wait
// to be written, and resumed when both are back to half of that, so its
// unread replies cost the broker a bounded amount of memory.
//
// Deadlines (check_deadlines, run by the broker's sweep): a frame whose first
// byte has arrived must be whole within --frame-deadline-ms; a connection that
// waits for a request with nothing queued, whose process owns no entries and
// has no mailbox on it (RequestHandler::holds_state), is closed after
// --idle-timeout-ms. The broker never closes a connection on which it has read
// a request it has not answered, so a client may resend a request that met a
// closed socket. A frame that passes more than --max-fds-per-request
// descriptors ends the connection; one whose descriptors the broker could not
// take, being out of them, is answered with io_error for each op, unrun.
//
// Mailbox: once the client opened a mailbox on this connection, the session
// is its MailboxSink, and message frames are queued between its replies,
// within the per-mailbox bounds, the sender uid's budget, and the share of it
// that the mailboxes of this connection's uid may hold (uid_tally.hpp).
//
// While open, a session counts itself among its uid's connections (the
// broker refuses connections past --max-connections-per-uid).
//
// Closing a connection removes nothing: entries belong to processes.
//
// Thread-safety: single-threaded, on the broker's io_context. A Session keeps
// itself alive (shared_from_this) while an operation on its socket is pending.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config.hpp"
#include "fd_receive.hpp"
#include "log.hpp"
#include "mailboxes.hpp"
#include "peer.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/sys/unique_fd.hpp"
#include "uid_tally.hpp"

namespace shmreg::broker {

// What a session does with a decoded request: the op table's interface.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // One result per op, in order. passed_pidfds: what came with the frame;
  // the handler duplicates what it keeps. connection: the session itself
  // (open_mailbox makes it a mailbox).
  [[nodiscard]] virtual std::vector<proto::OpResult> execute(const Peer& peer,
                                                             std::span<const sys::UniqueFd> passed_pidfds,
                                                             const std::vector<proto::Op>& ops,
                                                             const std::shared_ptr<MailboxSink>& connection) = 0;
  // The results delivered later, once, on the io_context.
  using Later = std::function<void(std::vector<proto::OpResult>)>;
  // As execute, or nullopt when the request waits for something outside the
  // broker (a cluster write waits for etcd): later then gets the results.
  // The session reads no further request of the connection meanwhile, so
  // replies stay in request order.
  [[nodiscard]] virtual std::optional<std::vector<proto::OpResult>> execute_or_park(
      const Peer& peer, std::span<const sys::UniqueFd> passed_pidfds, const std::vector<proto::Op>& ops,
      const std::shared_ptr<MailboxSink>& connection, Later later) {
    (void)later;
    return execute(peer, passed_pidfds, ops, connection);
  }
  // The connection is closing (its mailbox, if any, must go).
  virtual void connection_closed(const MailboxSink& connection) noexcept = 0;
  // Whether closing the connection would lose something of its process's:
  // the process owns entries, or a mailbox is open on the connection.
  [[nodiscard]] virtual bool holds_state(const Peer& peer, const MailboxSink& connection) const = 0;
};

class Session final : public MailboxSink, public std::enable_shared_from_this<Session> {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxQueuedReplies = 256;

  // REQUIRES: handler, tally, limits and log outlive the session.
  Session(boost::asio::local::stream_protocol::socket socket, Peer peer, std::uint64_t id, RequestHandler& handler,
          UidTally& tally, const ConnectionLimits& limits, const BrokerLog& log);
  // REQUIRES of the destructor: it touches tally_ and nothing else. Sessions
  // still pending in the io_context die with it, after the op table and the
  // mailboxes (declared later in Broker::Impl) are gone, so it must never
  // reach handler_.
  ~Session() override;

  void start() { read_header(); }

  // True while the session waits for its client to read replies before it
  // reads another request.
  [[nodiscard]] bool paused() const noexcept { return paused_; }
  [[nodiscard]] bool closed() const noexcept { return closed_; }

  // Closes the connection if its frame deadline or its idle timeout has
  // passed at now, with a log line naming the rule.
  void check_deadlines(Clock::time_point now);

  [[nodiscard]] const Peer& mailbox_owner() const noexcept override { return peer_; }
  [[nodiscard]] Delivery deliver(std::vector<std::uint8_t> frame, uid_t sender_uid) override;
  [[nodiscard]] bool hung_up() noexcept override;

 private:
  // Reads into `into` (with any pidfds), then runs then; drops the
  // connection on an error, logging at_eof if the client closed first.
  void read(boost::asio::mutable_buffer into, std::size_t at_least, const char* at_eof, void (Session::*then)());
  void read_header();
  void on_header_start();
  void on_header();
  void read_payload_chunk();
  void on_payload();
  // A parked request's results: queued, then the next request is read.
  void on_parked_results(std::uint32_t request_id, std::vector<proto::OpResult> results);
  void reply_and_read_on(std::uint32_t request_id, const std::vector<proto::OpResult>& results);
  void queue(std::vector<std::uint8_t> frame, std::optional<uid_t> sender = std::nullopt);
  [[nodiscard]] std::vector<proto::OpResult> refused_for_lost_fds(std::size_t op_count) const;
  [[nodiscard]] bool over_reply_bound() const noexcept;
  [[nodiscard]] bool idle_may_close();
  void release_messages() noexcept;
  void write_next();
  void on_written();
  void drop(const std::string& reason);

  struct OutFrame {
    std::vector<std::uint8_t> bytes;
    std::optional<uid_t> sender;  // a mailbox message, counted against its sender's uid
  };
  void give_back(const OutFrame& frame) noexcept;

  boost::asio::local::stream_protocol::socket socket_;
  const Peer peer_;
  const std::uint64_t id_;
  RequestHandler& handler_;
  UidTally& tally_;
  const ConnectionLimits& limits_;
  const BrokerLog& log_;
  std::array<std::uint8_t, proto::kHeaderSize> header_{};
  std::size_t header_have_ = 0;  // bytes of header_ read so far
  std::vector<std::uint8_t> payload_;
  std::size_t expected_ = 0;           // payload length the current frame announced
  PassedFds pidfds_;                   // came with the frame being read
  std::uint32_t request_id_ = 0;
  std::deque<OutFrame> out_;
  std::size_t out_bytes_ = 0;  // queued in out_, not yet written
  std::optional<Clock::time_point> frame_started_;  // a request frame is arriving
  Clock::time_point quiet_since_;                   // last request read, or last reply written
  bool paused_ = false;
  bool parked_ = false;  // a request waits for its results (execute_or_park)
  bool closed_ = false;
};

}  // namespace shmreg::broker
