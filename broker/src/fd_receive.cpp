// Reads with SCM_RIGHTS descriptors (see fd_receive.hpp).
#include "fd_receive.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "shmreg/proto/wire.hpp"

namespace asio = boost::asio;

namespace shmreg::broker {

namespace {

class ReadWithFds : public std::enable_shared_from_this<ReadWithFds> {
 public:
  ReadWithFds(asio::local::stream_protocol::socket& socket, asio::mutable_buffer buffer, std::size_t at_least,
              PassedFds* fds, std::size_t max_fds, ReadHandler handler)
      : socket_(socket),
        buffer_(buffer),
        at_least_(at_least),
        fds_(fds),
        max_fds_(max_fds),
        handler_(std::move(handler)) {}

  // Reads what is there; waits for readability when nothing is.
  void step() {
    while (done_ < at_least_) {
      iovec iov{static_cast<char*>(buffer_.data()) + done_, buffer_.size() - done_};
      // Room for as many descriptors as a frame may carry; the kernel closes
      // any beyond that (MSG_CTRUNC) before they reach our table.
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * proto::kMaxFramePidfds)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        socket_.async_wait(asio::socket_base::wait_read,
                           [self = shared_from_this()](const boost::system::error_code& ec) {
                             if (ec) return self->finish(ec);
                             self->step();
                           });
        return;
      }
      if (n < 0) return finish(boost::system::error_code(errno, boost::system::system_category()));
      if (!keep_fds(msg)) return finish(asio::error::message_size);
      if (n == 0) return finish(asio::error::eof);
      done_ += static_cast<std::size_t>(n);
    }
    finish({});
  }

 private:
  // False when more descriptors came than the frame may pass (all closed).
  bool keep_fds(msghdr& msg) {
    bool within = true;
    std::size_t received = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      received += count;
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        sys::UniqueFd owned(fd);
        if (fds_->fds.size() < max_fds_)
          fds_->fds.push_back(std::move(owned));
        else
          within = false;
      }
    }
    // Truncated with room left: the kernel could not install them (EMFILE).
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      if (received < proto::kMaxFramePidfds)
        fds_->lost = true;
      else
        within = false;
    }
    return within;
  }

  void finish(const boost::system::error_code& ec) {
    asio::post(socket_.get_executor(), [h = std::move(handler_), ec, n = done_]() { h(ec, n); });
  }

  asio::local::stream_protocol::socket& socket_;
  asio::mutable_buffer buffer_;
  std::size_t at_least_;
  PassedFds* fds_;
  std::size_t max_fds_;
  ReadHandler handler_;
  std::size_t done_ = 0;
};

}  // namespace

void async_read_with_fds(asio::local::stream_protocol::socket& socket, asio::mutable_buffer buffer,
                         std::size_t at_least, PassedFds* fds, std::size_t max_fds,
                         ReadHandler handler) {
  std::make_shared<ReadWithFds>(socket, buffer, at_least, fds, max_fds, std::move(handler))->step();
}

}  // namespace shmreg::broker
