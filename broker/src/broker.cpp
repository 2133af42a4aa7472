// shmreg-broker's startup and wiring (see broker.hpp).
#include "broker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "log.hpp"
#include "mailboxes.hpp"
#include "namespace_lock.hpp"
#include "runtime_dir.hpp"
#include "op_table.hpp"
#include "ops.hpp"
#include "owner_watches.hpp"
#include "peer.hpp"
#include "session.hpp"
#include "shutdown.hpp"
#include "shmreg/sys/file_check.hpp"

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
  std::optional<RuntimeDir> dir;
  std::optional<NamespaceLock> lock;
  std::optional<shm::SegmentWriter> writer;
  std::optional<OwnerWatches> owners;
  std::optional<Mailboxes> mailboxes;
  std::optional<OpContext> ops;
  std::optional<OpTable> table;
  std::uint64_t next_session = 1;

  [[nodiscard]] int start();
  [[nodiscard]] bool open_segment();
  [[nodiscard]] bool create_segment(const shm::WriterOptions& wopts);
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
  ::unlinkat(impl_->dir->fd(), impl_->config.paths.socket_name.c_str(), 0);
  return impl_->shutdown.exit_code();
}

int Broker::Impl::start() {
  ::signal(SIGPIPE, SIG_IGN);
  if (auto ok = shm::validate_namespace(config.ns); !ok) {
    log("invalid namespace '" + config.ns + "': use 1-64 of [A-Za-z0-9_.-], not starting with '.'");
    return 2;
  }
  auto d = RuntimeDir::open(config.paths.dir);
  if (!d) {
    log(d.error());
    return 1;
  }
  dir.emplace(std::move(*d));
  auto l = NamespaceLock::acquire(dir->fd(), dir->path(), config.paths.lock_name, config.ns);
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
  log("listening on " + config.paths.socket);
  sd_notify(0, "READY=1");
  owners->publish_status();
  return 0;
}

// Attaches the segment only if it is ours alone: a regular file of our euid,
// not writable by group or other, one link. Anything else is refused
// untouched, since adopting it would let its maker write what every reader
// trusts.
bool Broker::Impl::open_segment() {
  shm::WriterOptions wopts;
  wopts.grace = config.grace;
  const std::string path = config.paths.segment();
  const uid_t euid = ::geteuid();
  const sys::FileRule rule{.kind = sys::FileKind::regular,
                           .owners = std::span<const uid_t>(&euid, 1),
                           .forbidden_bits = 022,
                           .single_link = true};
  // Missing: create it (O_EXCL, so whatever appears meanwhile is refused).
  struct stat st{};
  if (::fstatat(dir->fd(), config.paths.segment_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
    return create_segment(wopts);
  auto fd = sys::open_checked(dir->fd(), config.paths.segment_name, path, O_RDWR, rule);
  if (!fd) {
    log("segment: " + fd.error());
    return false;
  }
  auto w = shm::SegmentWriter::attach_fd(fd->get(), wopts);
  if (!w) {
    log("cannot attach the existing segment: " + std::string(shm::to_string(w.error())) +
        "; stop its readers and remove " + path + " to start afresh");
    return false;
  }
  log("attached existing segment " + path + (w->repaired_at_attach() ? " (repaired a write cut short by a crash)" : ""));
  if (const auto n = w->meta_blocks_reset_at_attach(); n > 0)
    log("the meta of " + std::to_string(n) +
        " registries did not decode (damage): replaced by the previous meta, or emptied");
  writer.emplace(std::move(*w));
  return true;
}

bool Broker::Impl::create_segment(const shm::WriterOptions& wopts) {
  shm::CreateOptions copts;
  copts.size = config.segment_size;
  copts.owner_capacity = config.owner_capacity;
  copts.writer = wopts;
  auto w = shm::SegmentWriter::create_at(dir->fd(), config.paths.segment_name, copts);
  if (!w) {
    log("cannot create the segment " + config.paths.segment() + ": " + std::string(shm::to_string(w.error())));
    return false;
  }
  log("created segment " + config.paths.segment() + " of " + std::to_string(config.segment_size) + " bytes");
  writer.emplace(std::move(*w));
  return true;
}

// The socket is created by bind() under a umask that gives it mode 0666 at
// once: a chmod by path afterwards would follow a symlink planted in its
// place. The broker is still single-threaded here, so no other file is
// created under that umask.
bool Broker::Impl::listen() {
  const std::string& path = config.paths.socket;
  // Stale from a previous run; we hold the lock.
  if (::unlinkat(dir->fd(), config.paths.socket_name.c_str(), 0) != 0 && errno != ENOENT) {
    log("cannot remove the stale socket " + path + ": " + std::strerror(errno));
    return false;
  }
  const mode_t old_umask = ::umask(0111);
  try {
    acceptor.open(stream_protocol());
    acceptor.bind(stream_protocol::endpoint(path));
    ::umask(old_umask);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    ::umask(old_umask);
    log("cannot listen on " + path + ": " + e.what());
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
