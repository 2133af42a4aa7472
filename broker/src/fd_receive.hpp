// Reading a session's bytes together with the file descriptors a client
// passes alongside them (SCM_RIGHTS).
//
// asio::async_read cannot receive descriptors: it reads without a control
// buffer, and the kernel then drops what came with the bytes. A client that
// acts for another process sends that process's pidfd with the first byte of
// its request frame, so the session reads every frame through
// async_read_with_fds: wait until the socket is readable, then recvmsg(2)
// without blocking, into the caller's buffer and a control buffer.
//
// Descriptors are received with MSG_CMSG_CLOEXEC, so none leaks into a child.
// The caller owns what arrives; anything that is not SCM_RIGHTS is closed at
// once, and a descriptor beyond max_fds (or beyond what one message's control
// buffer holds) is closed and ends the read with asio::error::message_size,
// so a client can never make the broker hold descriptors it did not ask for.
// A message the kernel truncated with room left in the control buffer lost
// descriptors because the broker is out of them (EMFILE), not because the
// client sent too many: the read goes on and PassedFds::lost says so, so that
// the request is answered with an error instead of ending the connection.
//
// Thread-safety: as for the socket; one read at a time per socket.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <functional>
#include <vector>

#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

using ReadHandler = std::function<void(const boost::system::error_code&, std::size_t)>;

// The descriptors that came with a request frame's bytes.
struct PassedFds {
  std::vector<sys::UniqueFd> fds;
  bool lost = false;  // the kernel could not install some: the broker is out of descriptors
};

// Reads at least at_least (1 to buffer.size()) bytes into buffer, taking
// what has arrived up to its size, appending the descriptors that arrive with
// them to fds->fds (at most max_fds in all). The handler runs through the
// socket's executor, never inside this call, with the bytes read; it gets
// asio::error::eof if the peer closes first. REQUIRES: socket, buffer and
// *fds outlive the operation (the session keeps itself alive in handler).
void async_read_with_fds(boost::asio::local::stream_protocol::socket& socket, boost::asio::mutable_buffer buffer,
                         std::size_t at_least, PassedFds* fds, std::size_t max_fds,
                         ReadHandler handler);

}  // namespace shmreg::broker
