// shmreg-broker's startup and wiring (see broker.hpp).
#include "broker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>

#include "cluster_host.hpp"
#include "huge_pages.hpp"
#include "log.hpp"
#include "mailboxes.hpp"
#include "namespace_lock.hpp"
#include "runtime_dir.hpp"
#include "segment_guard.hpp"
#include "op_table.hpp"
#include "ops.hpp"
#include "owner_watches.hpp"
#include "peer.hpp"
#include "reload.hpp"
#include "session.hpp"
#include "shutdown.hpp"
#include "shmreg/sys/file_check.hpp"
#include "uid_tally.hpp"
#include "cluster_mirror.hpp"

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace shmreg::broker {

namespace {

// A descriptor that costs nothing to hold, kept to be given back when needed.
sys::UniqueFd take_spare_fd() { return sys::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

// size rounded up to whole blocks of dir_fd's file system: a hugetlbfs
// gives a file only whole huge pages (its block) and sizes it so, and a
// segment must be exactly as large as its file.
std::size_t whole_blocks(std::size_t size, int dir_fd) {
  struct statfs sfs{};
  if (::fstatfs(dir_fd, &sfs) != 0 || sfs.f_bsize <= 0) return size;
  const auto block = static_cast<std::size_t>(sfs.f_bsize);
  return (size + block - 1) / block * block;
}

rlim_t open_file_limit() {
  rlimit lim{};
  return ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 0;
}

}  // namespace

// Members in construction order: each is built from those above it, and
// sessions (destroyed with io) give their share of the tally back first.
struct Broker::Impl {
  explicit Impl(BrokerConfig c) : config(std::move(c)), log(config.ns), shutdown(io, log) {}

  BrokerConfig config;
  BrokerLog log;
  UidTally tally;
  asio::io_context io;
  Shutdown shutdown;
  stream_protocol::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::signal_set hangups{io, SIGHUP};
  asio::steady_timer accept_backoff{io};
  asio::steady_timer deadline_sweep{io};
  // Released to accept and close a connection when the broker is out of
  // descriptors (accept_without_descriptors), so that it never spins on EMFILE.
  sys::UniqueFd spare_fd;
  std::vector<std::weak_ptr<Session>> sessions;
  std::optional<RuntimeDir> dir;
  // [broker] huge_pages other than off: the directory's file system, when
  // it can give huge pages (huge_pages.hpp).
  std::optional<SegmentMount> huge_mount;
  std::optional<NamespaceLock> lock;
  std::optional<shm::SegmentWriter> writer;
  std::optional<SegmentGuard> segment_guard;
  std::optional<OwnerWatches> owners;
  std::optional<Mailboxes> mailboxes;
  std::optional<ConfigLifecycle> lifecycle;
  std::optional<OpContext> ops;
  std::optional<OpTable> table;
  // Other hosts' entries of cluster registries (issue 14); started once the
  // registries exist. Stopped (its thread joined) before the writer goes.
  std::unique_ptr<ClusterMirror> mirror;
  [[nodiscard]] bool start_mirror();
  // [cluster]: the link to etcd (cluster_host.hpp); goes first at the end.
  std::unique_ptr<ClusterHost> cluster_host;
  std::uint64_t next_session = 1;

  [[nodiscard]] int start();
  [[nodiscard]] shm::WriterOptions writer_options() const;
  [[nodiscard]] bool open_segment();
  [[nodiscard]] bool create_segment(const shm::WriterOptions& wopts);
  [[nodiscard]] bool probe_huge_mount();
  [[nodiscard]] bool check_huge_pages(bool created);
  void report_huge_pages_after_recreation();
  [[nodiscard]] bool listen();
  void raise_fd_limit();
  void accept_next();
  void accept_without_descriptors(const boost::system::error_code& ec);
  void on_accept(stream_protocol::socket socket);
  [[nodiscard]] bool apply_config();
  void reload_on_hangups();
  void sweep_deadlines();
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
  mailboxes.emplace(*owners, config.settings.broker.connection);
  lifecycle.emplace(config, *writer, dir->fd(), log);
  ops.emplace(OpContext{config, *writer, *owners, *mailboxes, log, std::nullopt, &*lifecycle, &tally});
  table.emplace(*ops, shutdown);
  // After a recreation the broker's own reader maps the new file, from the
  // descriptor the writer attached to, not by its name.
  segment_guard.emplace(io, dir->fd(), config.paths.segment_name, config.paths.segment(), *writer,
                        writer_options(), config.settings, log, shutdown, [this](shm::SegmentReader r) {
                          ops->reader.emplace(std::move(r));
                          report_huge_pages_after_recreation();
                        });
  if (!segment_guard->arm()) return 1;
  raise_fd_limit();
  // Before reconcile, so that the owners it reaps lose their etcd keys too.
  if (config.settings.cluster) {
    auto host = ClusterHost::start(io, *ops);
    if (!host) {
      log(host.error());
      return 2;
    }
    cluster_host = std::move(*host);
  }
  if (!owners->reconcile()) return shutdown.halting() ? shutdown.exit_code() : 1;
  if (cluster_host) cluster_host->resume();
  // After reconcile: a dead process's key must not block a declared static.
  if (!apply_config()) return 2;
  // After the registries exist: the mirror puts other hosts' entries in them.
  if (config.settings.cluster && !start_mirror()) return 2;
  // Probed before the first connection, while descriptors are free: peer_of
  // refuses every peer while the answer is unknown.
  if (auto peerpidfd = probe_peer_pidfd(); !peerpidfd)
    log(peerpidfd.error() + "; connections are refused until a probe succeeds");
  if (!listen() || !segment_guard->arm_directory(dir->path(), config.paths.socket_name)) return 1;
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    io.stop();
  });
  reload_on_hangups();
  spare_fd = take_spare_fd();
  accept_next();
  sweep_deadlines();
  segment_guard->start();
  log("listening on " + config.paths.socket);
  sd_notify(0, "READY=1");
  owners->publish_status();
  return 0;
}

shm::WriterOptions Broker::Impl::writer_options() const {
  shm::WriterOptions wopts;
  wopts.grace = config.settings.broker.grace;
  return wopts;
}

// Attaches the segment only if it is ours alone: a regular file of our euid,
// not writable by group or other, one link. Anything else is refused
// untouched, since adopting it would let its maker write what every reader
// trusts.
bool Broker::Impl::open_segment() {
  const shm::WriterOptions wopts = writer_options();
  const std::string path = config.paths.segment();
  const uid_t euid = ::geteuid();
  const sys::FileRule rule{.kind = sys::FileKind::regular,
                           .owners = std::span<const uid_t>(&euid, 1),
                           .forbidden_bits = 022,
                           .single_link = true};
  if (!probe_huge_mount()) return false;
  // Missing: create it (O_EXCL, so whatever appears meanwhile is refused).
  struct stat st{};
  if (::fstatat(dir->fd(), config.paths.segment_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
    return create_segment(wopts) && check_huge_pages(true);
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
  return check_huge_pages(false);
}

bool Broker::Impl::create_segment(const shm::WriterOptions& wopts) {
  shm::CreateOptions copts;
  copts.size = whole_blocks(config.settings.broker.segment_size, dir->fd());
  if (huge_mount) copts.size = huge_segment_size(copts.size, *huge_mount);
  copts.owner_capacity = config.settings.broker.owner_capacity;
  // Its group is given at apply (settings_apply.cpp): 0640 so that no one
  // else reads it meanwhile.
  copts.mode = config.settings.broker.segment_group ? 0640 : 0644;
  copts.writer = wopts;
  auto w = shm::SegmentWriter::create_at(dir->fd(), config.paths.segment_name, copts);
  if (!w) {
    log("cannot create the segment " + config.paths.segment() + " of " + std::to_string(copts.size) +
        " bytes (--segment-size): " + std::string(shm::to_string(w.error())) + " (" + dir->path() + ": " +
        dir->space_text() + ")" +
        (huge_mount && huge_mount->kind == SegmentMount::Kind::hugetlbfs
             ? "; a hugetlbfs gives only the free pages of its pool (HugePages_Free in /proc/meminfo, "
               "/proc/sys/vm/nr_hugepages)"
             : ""));
    return false;
  }
  const char* unit = huge_mount ? "huge pages" : "blocks of its file system";
  log("created segment " + config.paths.segment() + " of " + std::to_string(copts.size) + " bytes" +
      (copts.size != config.settings.broker.segment_size
           ? " (--segment-size rounded up to whole " + std::string(unit) + ")"
           : ""));
  writer.emplace(std::move(*w));
  return true;
}

// With huge_pages on, the directory's file system must be able to give huge
// pages: "require" refuses to start before any file is made, "try" says why
// not and serves on small pages.
bool Broker::Impl::probe_huge_mount() {
  const HugePages mode = config.settings.broker.huge_pages;
  if (mode == HugePages::off) return true;
  const std::string head =
      std::string("huge_pages = \"") + to_string(mode) + "\": the segment's directory " + dir->path();
  auto mount = probe_segment_mount(dir->fd());
  if (!mount) {
    log(head + ": " + mount.error() + (mode == HugePages::require ? "; refusing to start" : "; not on huge pages"));
    return mode != HugePages::require;
  }
  if (!mount->can_be_huge()) {
    log(head + " is on " + mount->text() + ", " + mount->missing +
        (mode == HugePages::require ? "; refusing to start (docs/broker-options.md, \"Huge pages\")"
                                    : "; serving on small pages (not on huge pages)"));
    return mode != HugePages::require;
  }
  huge_mount = std::move(*mount);
  return true;
}

// What the kernel gave the segment just created or attached, said in the
// log; "require" refuses a segment not wholly on huge pages, and removes it
// when this start made it.
bool Broker::Impl::check_huge_pages(bool created) {
  if (!huge_mount) return true;
  const HugePages mode = config.settings.broker.huge_pages;
  std::string how;
  const HugePageUse use = back_with_huge_pages(writer->data(), writer->size(), *huge_mount, &how);
  const std::string what = std::string(created ? "created" : "existing") + " segment " + config.paths.segment() +
                           ": " + use.text() + " (" + huge_mount->text() + (how.empty() ? "" : "; " + how) + ")";
  if (use.whole()) {
    log(what);
    return true;
  }
  if (mode != HugePages::require) {
    log(what + "; huge_pages = \"try\": serving on it (not wholly on huge pages)");
    return true;
  }
  log(what + "; huge_pages = \"require\": refusing to start: the kernel did not back the segment with huge pages "
             "(free memory fragmented, a hugetlbfs pool too small, or a segment made before the mount allowed "
             "them: remove it while no broker runs)");
  if (created) {
    writer.reset();
    ::unlinkat(dir->fd(), config.paths.segment_name.c_str(), 0);
  }
  return false;
}

// A segment recreated after its file was removed (segment_guard.hpp) is
// written, not reserved: on a huge=advise tmpfs it starts on small pages
// until collapsed. The broker serves it whatever it got, and says what.
void Broker::Impl::report_huge_pages_after_recreation() {
  if (!huge_mount) return;
  std::string how;
  const HugePageUse use = back_with_huge_pages(writer->data(), writer->size(), *huge_mount, &how);
  log("recreated segment " + config.paths.segment() + ": " + use.text() + (how.empty() ? "" : " (" + how + ")"));
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
    if ((ec.value() == EMFILE || ec.value() == ENFILE) && spare_fd) return accept_without_descriptors(ec);
    if (ec) {
      // No spare descriptor to turn it down with: back off briefly instead of
      // spinning on accept, and try to take the spare again, so that one
      // failure to take it (at startup, or after a refusal) is not for good.
      log("accept failed: " + ec.message());
      accept_backoff.expires_after(std::chrono::milliseconds(50));
      accept_backoff.async_wait([this](const boost::system::error_code& e) {
        if (e) return;
        if (!spare_fd) spare_fd = take_spare_fd();
        accept_next();
      });
      return;
    }
    on_accept(std::move(socket));
    accept_next();
  });
}

// Out of descriptors with a connection waiting: the spare one makes room to
// accept it and close it at once, so that the waiting client learns at once
// and the broker does not wake again for the same connection.
void Broker::Impl::accept_without_descriptors(const boost::system::error_code& ec) {
  spare_fd.reset();
  // Only if a connection is waiting, so that accept never blocks the loop.
  pollfd waiting{acceptor.native_handle(), POLLIN, 0};
  sys::UniqueFd refused(::poll(&waiting, 1, 0) == 1
                            ? ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)
                            : -1);
  if (refused) {
    ucred cred{};
    socklen_t len = sizeof cred;
    const bool known = ::getsockopt(refused.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    log("refused a connection" +
        (known ? " from pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid) : std::string()) +
        ": the broker is out of file descriptors (" + ec.message() + "; RLIMIT_NOFILE " +
        std::to_string(open_file_limit()) + ")");
  }
  refused.reset();
  spare_fd = take_spare_fd();
  accept_next();
}

void Broker::Impl::on_accept(stream_protocol::socket socket) {
  auto peer = peer_of(socket.native_handle());
  if (!peer) {
    log("refused a connection: " + peer.error());
    return;
  }
  // Root is not limited: it can stop or replace the broker anyway, and the
  // host's own services, often many processes of root, must never be locked out.
  const auto open = tally.connections.find(peer->uid);
  const auto quota = config.settings.limits.for_uid(peer->uid);
  if (quota && open != tally.connections.end() && open->second >= quota->connections) {
    log("refused a connection from pid " + std::to_string(peer->pid) + " uid " + std::to_string(peer->uid) + ": uid " +
        std::to_string(peer->uid) + " already has " + std::to_string(open->second) +
        " connections open (limit connections = " + std::to_string(quota->connections) +
        ", from [limits] or --max-connections-per-uid)");
    return;
  }
  if (config.verbose)
    log("connection " + std::to_string(next_session) + " from pid " + std::to_string(peer->pid) + " uid " +
        std::to_string(peer->uid) + (peer->from_peerpidfd ? " (SO_PEERPIDFD)" : " (pidfd_open fallback)"));
  auto session = std::make_shared<Session>(std::move(socket), std::move(*peer), next_session++, *table, tally,
                                           config.settings.broker.connection, log);
  sessions.push_back(session);
  session->start();
}

// The configuration in force applied to the segment as a reload would:
// declared registries created, declared statics set. A file the segment
// cannot take (a declared registry exists with other options) stops the start.
bool Broker::Impl::start_mirror() {
  const ClusterSection& c = *config.settings.cluster;
  ClusterMirrorConfig m;
  m.client = client_options(c);
  // The mirror's read holds every cluster entry of every host (about 300
  // bytes each through the gateway): room for some 200,000.
  m.client.max_reply_bytes = std::size_t{64} << 20;
  m.prefix = c.prefix;
  m.host = c.host;
  for (const DeclaredRegistry& r : config.settings.registries)
    if (r.scope == RegistryScope::cluster) m.registries.push_back({r.name, r.kind});
  mirror = std::make_unique<ClusterMirror>(io, *writer, log, std::move(m));
  return mirror->start();
}

bool Broker::Impl::apply_config() {
  const ReloadOutcome out = lifecycle->apply_at_start();
  if (out.ok) {
    if (!config.settings.path.empty()) log("configuration " + config.settings.path + " applied (generation 1)");
    return true;
  }
  log("the configuration's policy and quotas are in force, but the segment contradicts parts of it; those parts "
      "wait for a reload (state reload_error):");
  for (const std::string& r : out.reasons) log("  reason: " + r);
  return true;
}

// SIGHUP reloads the configuration file, with systemd told around it
// (Type=notify-reload); the outcome is logged and shown by status.
void Broker::Impl::reload_on_hangups() {
  hangups.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
    sd_notify(0, ("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration").c_str());
    const ReloadOutcome out = lifecycle->reload();
    log_reload(log, *lifecycle, out, "SIGHUP");
    const std::string status = out.ok          ? "configuration generation " + std::to_string(lifecycle->generation())
                               : out.forbidden ? std::string("reload refused: reloads are forbidden")
                                               : reload_failure_message(out);
    sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
    reload_on_hangups();
  });
}

// One timer for every connection's frame deadline and idle timeout, rather
// than one per frame: a request costs the clock read it needs, no timer
// syscall. A deadline is enforced within a quarter of the shorter limit.
void Broker::Impl::sweep_deadlines() {
  using std::chrono::milliseconds;
  const auto& l = config.settings.broker.connection;
  const milliseconds shortest = l.idle_timeout.count() > 0 ? std::min(l.frame_deadline, l.idle_timeout) : l.frame_deadline;
  deadline_sweep.expires_after(std::clamp(shortest / 4, milliseconds(10), milliseconds(1000)));
  deadline_sweep.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const auto now = Session::Clock::now();
    std::erase_if(sessions, [now](const std::weak_ptr<Session>& weak) {
      auto s = weak.lock();
      if (s) s->check_deadlines(now);
      return !s || s->closed();
    });
    sweep_deadlines();
  });
}

}  // namespace shmreg::broker
