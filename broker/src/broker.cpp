// shmreg-broker's startup and wiring (see broker.hpp).
#include "broker.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "log.hpp"
#include "mailboxes.hpp"
#include "namespace_lock.hpp"
#include "op_table.hpp"
#include "ops.hpp"
#include "owner_watches.hpp"
#include "peer.hpp"
#include "session.hpp"
#include "shutdown.hpp"

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace shmreg::broker {

// Members in construction order: each is built from those above it, and
// sessions (destroyed with io) give their mailbox backlog back first.
struct Broker::Impl {
  explicit Impl(BrokerConfig c) : config(std::move(c)), log(config.ns), shutdown(io, log) {}

  BrokerConfig config;
  BrokerLog log;
  MailboxBacklog mailbox_backlog;
  asio::io_context io;
  Shutdown shutdown;
  stream_protocol::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::steady_timer accept_backoff{io};
  std::optional<NamespaceLock> lock;
  std::optional<shm::SegmentWriter> writer;
  std::optional<OwnerWatches> owners;
  std::optional<Mailboxes> mailboxes;
  std::optional<OpContext> ops;
  std::optional<OpTable> table;
  std::uint64_t next_session = 1;

  [[nodiscard]] int start();
  [[nodiscard]] bool open_segment();
  [[nodiscard]] bool listen();
  void raise_fd_limit();
  void accept_next();
  void on_accept(stream_protocol::socket socket);
};

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Broker::~Broker() = default;

int Broker::run() {
  if (int rc = impl_->start(); rc != 0) return rc;
  impl_->io.run();
  impl_->log("stopping; the segment stays for readers");
  sd_notify(0, "STOPPING=1");
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  ::unlink(impl_->config.socket_path.c_str());
  return impl_->shutdown.exit_code();
}

int Broker::Impl::start() {
  ::signal(SIGPIPE, SIG_IGN);
  if (auto ok = shm::validate_namespace(config.ns); !ok) {
    log("invalid namespace '" + config.ns + "': use 1-64 of [A-Za-z0-9_.-], not starting with '.'");
    return 2;
  }
  auto l = NamespaceLock::acquire(config.ns);
  if (!l) {
    log(l.error());
    return 1;
  }
  lock.emplace(std::move(*l));
  if (!open_segment()) return 1;
  owners.emplace(io, *writer, log, shutdown);
  mailboxes.emplace(*owners);
  ops.emplace(OpContext{config, *writer, *owners, *mailboxes, log});
  table.emplace(*ops, shutdown);
  raise_fd_limit();
  if (!owners->reconcile()) return shutdown.halting() ? shutdown.exit_code() : 1;
  if (!listen()) return 1;
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    io.stop();
  });
  accept_next();
  log("listening on " + config.socket_path);
  sd_notify(0, "READY=1");
  owners->publish_status();
  return 0;
}

bool Broker::Impl::open_segment() {
  shm::WriterOptions wopts;
  wopts.grace = config.grace;
  const std::string object = "/dev/shm/" + shm::segment_object_name(config.ns);
  auto w = shm::SegmentWriter::attach(config.ns, wopts);
  if (w) {
    log("attached existing segment " + object +
        (w->repaired_at_attach() ? " (repaired a write cut short by a crash)" : ""));
    if (const auto n = w->meta_blocks_reset_at_attach(); n > 0)
      log("the meta of " + std::to_string(n) +
          " registries did not decode (damage): replaced by the previous meta, or emptied");
  } else if (w.error() == shm::Errc::segment_not_found) {
    shm::CreateOptions copts;
    copts.size = config.segment_size;
    copts.owner_capacity = config.owner_capacity;
    copts.writer = wopts;
    w = shm::SegmentWriter::create(config.ns, copts);
    if (!w) {
      log("cannot create the segment: " + std::string(shm::to_string(w.error())));
      return false;
    }
    log("created segment " + object + " of " + std::to_string(config.segment_size) + " bytes");
  } else {
    log("cannot attach the existing segment: " + std::string(shm::to_string(w.error())) +
        "; stop its readers and remove " + object + " to start afresh");
    return false;
  }
  writer.emplace(std::move(*w));
  return true;
}

bool Broker::Impl::listen() {
  try {
    std::filesystem::path sock(config.socket_path);
    if (sock.has_parent_path()) std::filesystem::create_directories(sock.parent_path());
    ::unlink(config.socket_path.c_str());  // stale from a previous run; we hold the lock
    acceptor.open(stream_protocol());
    acceptor.bind(stream_protocol::endpoint(config.socket_path));
    acceptor.listen(asio::socket_base::max_listen_connections);
    ::chmod(config.socket_path.c_str(), 0666);
  } catch (const std::exception& e) {
    log("cannot listen on " + config.socket_path + ": " + e.what());
    return false;
  }
  return true;
}

// One pidfd per watched owner: take every descriptor the hard limit allows.
void Broker::Impl::raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
      log(std::string("cannot raise the descriptor limit: ") + std::strerror(errno));
  }
}

void Broker::Impl::accept_next() {
  acceptor.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on accept.
      log("accept failed: " + ec.message());
      accept_backoff.expires_after(std::chrono::milliseconds(50));
      accept_backoff.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept_next();
      });
      return;
    }
    on_accept(std::move(socket));
    accept_next();
  });
}

void Broker::Impl::on_accept(stream_protocol::socket socket) {
  auto peer = peer_of(socket.native_handle());
  if (!peer) {
    log("refused a connection: " + peer.error());
    return;
  }
  if (config.verbose)
    log("connection " + std::to_string(next_session) + " from pid " + std::to_string(peer->pid) + " uid " +
        std::to_string(peer->uid) + (peer->from_peerpidfd ? " (SO_PEERPIDFD)" : " (pidfd_open fallback)"));
  std::make_shared<Session>(std::move(socket), std::move(*peer), next_session++, *table, mailbox_backlog, log)
      ->start();
}

}  // namespace shmreg::broker
