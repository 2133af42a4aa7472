// One client connection (see session.hpp).
#include "session.hpp"

#include <poll.h>

#include <algorithm>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;

namespace shmreg::broker {

namespace {

// The payload grows as its bytes arrive, a chunk at a time: a header that
// announces 2 MiB and sends nothing costs the broker one chunk, not 2 MiB.
constexpr std::size_t kPayloadChunk = 64 * 1024;

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

Session::Session(asio::local::stream_protocol::socket socket, Peer peer, std::uint64_t id, RequestHandler& handler,
                 UidTally& tally, const ConnectionLimits& limits, const BrokerLog& log)
    : socket_(std::move(socket)),
      peer_(std::move(peer)),
      id_(id),
      handler_(handler),
      tally_(tally),
      limits_(limits),
      log_(log),
      quiet_since_(Clock::now()) {
  ++tally_.connections[peer_.uid];
}

Session::~Session() {
  release_messages();
  if (!closed_) UidTally::release(tally_.connections, peer_.uid, 1);
}

MailboxSink::Delivery Session::deliver(std::vector<std::uint8_t> frame, uid_t sender_uid) {
  if (closed_ || out_.size() >= kMaxBacklogFrames || out_bytes_ + frame.size() > kMaxBacklogBytes)
    return Delivery::mailbox_full;
  const auto sent = tally_.message_bytes.find(sender_uid);
  if ((sent == tally_.message_bytes.end() ? 0 : sent->second) + frame.size() > limits_.mailbox_bytes_per_uid)
    return Delivery::sender_budget;
  // A user's own unread mailboxes only spend their own budget; another
  // user's may hold only a share of it.
  if (sender_uid != peer_.uid) {
    const auto held = tally_.message_bytes_held.find(UidTally::pair_key(sender_uid, peer_.uid));
    if ((held == tally_.message_bytes_held.end() ? 0 : held->second) + frame.size() >
        limits_.mailbox_bytes_per_receiver_uid)
      return Delivery::receiver_share;
    tally_.message_bytes_held[UidTally::pair_key(sender_uid, peer_.uid)] += frame.size();
  }
  tally_.message_bytes[sender_uid] += frame.size();
  queue(std::move(frame), sender_uid);
  return Delivery::queued;
}

bool Session::hung_up() noexcept {
  if (closed_) return true;
  pollfd p{socket_.native_handle(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void Session::check_deadlines(Clock::time_point now) {
  if (closed_) return;
  if (frame_started_ && now - *frame_started_ > limits_.frame_deadline)
    return drop("request frame incomplete after " + ms_text(limits_.frame_deadline) + " (--frame-deadline-ms); " +
                (header_have_ < proto::kHeaderSize ? "its header had not arrived"
                                                   : "it announced " + std::to_string(expected_) + " payload bytes") +
                " and passed " + std::to_string(pidfds_.fds.size()) + " descriptors");
  if (limits_.idle_timeout.count() > 0 && now - quiet_since_ > limits_.idle_timeout && idle_may_close())
    drop("idle for " + ms_text(limits_.idle_timeout) + " holding nothing (--idle-timeout-ms)");
}

// Only between requests, with every reply written and nothing of the
// process's that the connection keeps; and not if a request has just
// arrived unread, so that no request the client sent is lost unanswered
// without the client seeing the connection close first.
bool Session::idle_may_close() {
  if (frame_started_ || paused_ || parked_ || !out_.empty() || handler_.holds_state(peer_, *this)) return false;
  pollfd p{socket_.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// Reads go through async_read_with_fds, since a frame may bring pidfds.
void Session::read(asio::mutable_buffer into, std::size_t at_least, const char* at_eof, void (Session::*then)()) {
  async_read_with_fds(socket_, into, at_least, &pidfds_, limits_.fds_per_connection,
                      [self = shared_from_this(), at_eof, then](const boost::system::error_code& ec, std::size_t n) {
                        if (ec == asio::error::message_size)
                          return self->drop("passed more than " + std::to_string(self->limits_.fds_per_connection) +
                                            " descriptors with one request (--max-fds-per-request)");
                        if (ec) return self->drop(ec == asio::error::eof ? at_eof : ec.message());
                        if (then == &Session::on_header_start) self->header_have_ = n;
                        ((*self).*then)();
                      });
}

// A client that closes between frames just leaves: nothing to log. The first
// read takes what has arrived, so that the frame deadline starts with the
// frame's first byte.
void Session::read_header() {
  header_have_ = 0;
  read(asio::buffer(header_), 1, "", &Session::on_header_start);
}

void Session::on_header_start() {
  frame_started_ = Clock::now();
  if (header_have_ == header_.size()) return on_header();
  const std::size_t have = header_have_;
  read(asio::buffer(header_.data() + have, header_.size() - have), header_.size() - have, "truncated frame",
       &Session::on_header);
}

void Session::on_header() {
  header_have_ = header_.size();
  auto h = proto::parse_header(header_);
  if (!h) return drop(std::string("bad frame header: ") + std::string(proto::to_string(h.error())));
  if (h->kind != proto::FrameKind::request) return drop("non-request frame sent to the broker");
  request_id_ = h->request_id;
  expected_ = h->payload_len;
  payload_.clear();
  read_payload_chunk();
}

void Session::read_payload_chunk() {
  const std::size_t have = payload_.size();
  if (have == expected_) return on_payload();
  const std::size_t n = std::min(kPayloadChunk, expected_ - have);
  payload_.resize(have + n);
  read(asio::buffer(payload_.data() + have, n), n, "truncated frame", &Session::read_payload_chunk);
}

void Session::on_payload() {
  frame_started_.reset();
  quiet_since_ = Clock::now();
  auto ops = proto::decode_request(payload_);
  if (!ops) return drop(std::string("bad request: ") + std::string(proto::to_string(ops.error())));
  if (pidfds_.lost) {
    pidfds_ = {};
    return reply_and_read_on(request_id_, refused_for_lost_fds(ops->size()));
  }
  const std::uint32_t id = request_id_;
  auto results = handler_.execute_or_park(peer_, pidfds_.fds, *ops, shared_from_this(),
                                          [self = shared_from_this(), id](std::vector<proto::OpResult> r) {
                                            self->on_parked_results(id, std::move(r));
                                          });
  pidfds_ = {};  // the handler dup'ed what it keeps; close the rest
  if (!results) {
    parked_ = true;
    return;
  }
  reply_and_read_on(id, *results);
}

void Session::on_parked_results(std::uint32_t request_id, std::vector<proto::OpResult> results) {
  parked_ = false;
  quiet_since_ = Clock::now();
  reply_and_read_on(request_id, results);
}

void Session::reply_and_read_on(std::uint32_t request_id, const std::vector<proto::OpResult>& results) {
  queue(proto::encode_reply(request_id, results));
  if (closed_) return;
  if (over_reply_bound())
    paused_ = true;
  else
    read_header();
}

// The kernel dropped descriptors the client passed, for want of room in the
// broker's table: running the ops without them could act on the wrong process.
std::vector<proto::OpResult> Session::refused_for_lost_fds(std::size_t op_count) const {
  log_("request of pid " + std::to_string(peer_.pid) + " uid " + std::to_string(peer_.uid) + " on connection " +
       std::to_string(id_) + " not run: the descriptors it passed were lost, the broker is out of file descriptors");
  return std::vector<proto::OpResult>(
      op_count, proto::OpResult{proto::Status::io_error, 0,
                                "the broker is out of file descriptors: the descriptors passed with this request "
                                "were lost; nothing was done",
                                {}});
}

bool Session::over_reply_bound() const noexcept {
  return out_.size() >= kMaxQueuedReplies || out_bytes_ >= limits_.queued_reply_bytes;
}

void Session::queue(std::vector<std::uint8_t> frame, std::optional<uid_t> sender) {
  if (closed_) return;
  out_bytes_ += frame.size();
  out_.push_back(OutFrame{std::move(frame), sender});
  if (out_.size() == 1) write_next();
}

void Session::write_next() {
  asio::async_write(socket_, asio::buffer(out_.front().bytes),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (ec) return self->drop(ec.message());
                      self->on_written();
                    });
}

void Session::on_written() {
  if (closed_) return;
  const OutFrame& done = out_.front();
  out_bytes_ -= done.bytes.size();
  give_back(done);
  out_.pop_front();
  if (!out_.empty()) write_next();
  quiet_since_ = Clock::now();
  if (paused_ && out_.size() < kMaxQueuedReplies / 2 && out_bytes_ <= limits_.queued_reply_bytes / 2) {
    paused_ = false;
    read_header();
  }
}

// The sender's budget, and the share of it this mailbox's uid held.
void Session::give_back(const OutFrame& frame) noexcept {
  if (!frame.sender) return;
  UidTally::release(tally_.message_bytes, *frame.sender, frame.bytes.size());
  if (*frame.sender != peer_.uid)
    UidTally::release(tally_.message_bytes_held, UidTally::pair_key(*frame.sender, peer_.uid), frame.bytes.size());
}

// Gives the senders' budgets back for messages that will never be written.
void Session::release_messages() noexcept {
  for (const OutFrame& f : out_) give_back(f);
  out_.clear();
  out_bytes_ = 0;
}

void Session::drop(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  handler_.connection_closed(*this);
  UidTally::release(tally_.connections, peer_.uid, 1);
  if (!reason.empty())
    log_("dropping connection " + std::to_string(id_) + " of pid " + std::to_string(peer_.pid) + " uid " +
         std::to_string(peer_.uid) + ": " + reason);
  boost::system::error_code ignored;
  socket_.close(ignored);
  pidfds_ = {};
}

}  // namespace shmreg::broker
