// One client connection (see session.hpp).
#include "session.hpp"

#include <poll.h>

#include <algorithm>
#include <boost/asio/write.hpp>

#include "fd_receive.hpp"

namespace asio = boost::asio;

namespace shmreg::broker {

namespace {

// The payload grows as its bytes arrive, a chunk at a time: a header that
// announces 2 MiB and sends nothing costs the broker one chunk, not 2 MiB.
constexpr std::size_t kPayloadChunk = 64 * 1024;

}  // namespace

bool Session::deliver(std::vector<std::uint8_t> frame) {
  if (closed_ || out_.size() >= kMaxBacklogFrames || out_bytes_ + frame.size() > kMaxBacklogBytes ||
      backlog_.bytes + frame.size() > kMaxTotalBacklogBytes)
    return false;
  message_bytes_ += frame.size();
  backlog_.bytes += frame.size();
  queue(std::move(frame), true);
  return true;
}

bool Session::hung_up() noexcept {
  if (closed_) return true;
  pollfd p{socket_.native_handle(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// Reads go through async_read_with_fds, since a frame may bring pidfds.
void Session::read(asio::mutable_buffer into, const char* at_eof, void (Session::*then)()) {
  async_read_with_fds(socket_, into, &pidfds_, proto::kMaxFramePidfds,
                      [self = shared_from_this(), at_eof, then](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->drop(ec == asio::error::eof ? at_eof : ec.message());
                        ((*self).*then)();
                      });
}

// A client that closes between frames just leaves: nothing to log.
void Session::read_header() { read(asio::buffer(header_), "", &Session::on_header); }

void Session::on_header() {
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
  read(asio::buffer(payload_.data() + have, n), "truncated frame", &Session::read_payload_chunk);
}

void Session::on_payload() {
  auto ops = proto::decode_request(payload_);
  if (!ops) return drop(std::string("bad request: ") + std::string(proto::to_string(ops.error())));
  auto results = handler_.execute(peer_, pidfds_, *ops, shared_from_this());
  pidfds_.clear();  // the handler dup'ed what it keeps; close the rest
  queue(proto::encode_reply(request_id_, results));
  if (out_.size() < kMaxQueuedReplies)
    read_header();
  else
    paused_ = true;
}

void Session::queue(std::vector<std::uint8_t> frame, bool message) {
  out_bytes_ += frame.size();
  out_.push_back(OutFrame{std::move(frame), message});
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
  const OutFrame& done = out_.front();
  out_bytes_ -= done.bytes.size();
  if (done.message) {
    message_bytes_ -= done.bytes.size();
    backlog_.bytes -= done.bytes.size();
  }
  out_.pop_front();
  if (!out_.empty()) write_next();
  if (paused_ && out_.size() < kMaxQueuedReplies / 2) {
    paused_ = false;
    read_header();
  }
}

void Session::drop(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  handler_.connection_closed(*this);
  if (!reason.empty())
    log_("dropping connection " + std::to_string(id_) + " of pid " + std::to_string(peer_.pid) + ": " + reason);
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace shmreg::broker
