// shmreg-broker's core (see broker.hpp).
#include "broker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iostream>
#include <unordered_map>
#include <vector>

#include "fd_receive.hpp"
#include "mailboxes.hpp"
#include "ops_semantics.hpp"
#include "peer.hpp"
#include "shmreg/proto/wire.hpp"

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace shmreg::broker {

namespace {

proto::Status status_of(shm::Errc e) noexcept {
  switch (e) {
    case shm::Errc::already_registered: return proto::Status::already_registered;
    case shm::Errc::not_found: return proto::Status::not_found;
    case shm::Errc::registry_not_found: return proto::Status::registry_not_found;
    case shm::Errc::registry_exists: return proto::Status::registry_exists;
    case shm::Errc::invalid_argument: return proto::Status::invalid_argument;
    case shm::Errc::key_too_long: return proto::Status::key_too_long;
    case shm::Errc::value_too_long: return proto::Status::value_too_long;
    case shm::Errc::registry_full: return proto::Status::registry_full;
    case shm::Errc::owner_table_full: return proto::Status::owner_table_full;
    case shm::Errc::segment_full: return proto::Status::segment_full;
    case shm::Errc::too_many_registries: return proto::Status::too_many_registries;
    default: return proto::Status::internal_error;
  }
}

proto::OpResult error_result(shm::Errc e) {
  return proto::OpResult{status_of(e), 0, std::string(shm::to_string(e))};
}

// Exactly one broker serves a namespace: an exclusive flock on a file beside
// the segment. The file keeps the holder's pid for the error message.
class NamespaceLock {
 public:
  static std::expected<NamespaceLock, std::string> acquire(const std::string& ns) {
    const std::string path = "/dev/shm/shmreg-lock." + ns;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return std::unexpected("cannot open lock file " + path + ": " + std::strerror(errno));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      return std::unexpected("namespace '" + ns + "' is already served by another broker (pid " + holder + ")");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
      // The lock holds regardless; only the message of a second broker suffers.
    }
    return NamespaceLock(std::move(fd));
  }

 private:
  explicit NamespaceLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace

class Session;

struct Broker::Impl {
  struct OwnerWatch {
    std::unique_ptr<asio::posix::stream_descriptor> pidfd;
    ProcessIdentity identity;
    std::uint64_t token = 0;
  };

  explicit Impl(BrokerConfig c) : config(std::move(c)), acceptor(io), signals(io, SIGINT, SIGTERM) {}

  BrokerConfig config;
  // Bytes of message frames queued on all mailbox connections, not yet
  // written (before io: sessions, destroyed with io, give theirs back).
  std::size_t mailbox_backlog = 0;
  asio::io_context io;
  stream_protocol::acceptor acceptor;
  asio::signal_set signals;
  std::optional<NamespaceLock> lock;
  std::optional<shm::SegmentWriter> writer;
  std::optional<SemanticOps> semantics;  // ops 6..11 and create's meta (ops_semantics.hpp)
  std::optional<Mailboxes> mailboxes;    // ops 13..14, send by name (mailboxes.hpp)
  std::unordered_map<pid_t, OwnerWatch> watches;
  std::uint64_t next_token = 1;
  std::uint64_t next_session = 1;
  std::uint64_t reaped_owners = 0;
  asio::steady_timer accept_backoff{io};

  void log(const std::string& msg) const { std::cerr << "shmreg-broker[" << config.ns << "]: " << msg << std::endl; }

  int start();
  // False when an owner's liveness could not be established (then the broker
  // must not start: it would either reap the living or watch nobody).
  bool reconcile_owners();
  void raise_fd_limit();
  void accept_next();
  void watch_owner(pid_t pid, UniqueFd pidfd, ProcessIdentity identity);
  void arm_watch(pid_t pid, std::uint64_t token);
  void reap(pid_t pid, const char* why);
  // pidfds: the descriptors that came with the request frame (fd_receive.hpp);
  // session: the connection it came on (open_mailbox makes it a mailbox).
  std::vector<proto::OpResult> execute(const Peer& peer, const std::vector<proto::Op>& ops,
                                       std::span<const UniqueFd> pidfds, const std::shared_ptr<Session>& session);
  proto::OpResult send_message(const Peer& peer, const proto::SendMessage& op, FrameContext& frame);
  BrokerHooks semantic_hooks();
  proto::OpResult register_key(const Peer& peer, const proto::RegisterKey& op);
  proto::OpResult register_queued(const Peer& peer, const proto::RegisterQueued& op);
  // What a registration by a peer shares with every other: the registry, the
  // peer as owner, and the watch secured before any entry exists (an owner
  // the broker could not watch would keep its entries after death).
  struct Registration {
    std::uint32_t registry = 0;
    shm::OwnerIdentity owner;
    UniqueFd watch_fd;  // empty when the peer is already watched
  };
  std::expected<Registration, proto::OpResult> begin_registration(const Peer& peer, const std::string& registry);
  // Runs insert(); if the segment holds the peer's pid under another
  // identity, that process is dead (two live processes never share a pid),
  // its exit just not yet handled: reap it, then run insert() again.
  template <class Insert>
  auto insert_reaping_stale(const Peer& peer, Insert&& insert) {
    auto r = insert();
    if (!r && r.error() == shm::Errc::stale_owner) {
      reap(peer.pid, "pid recycled by a new registering process");
      r = insert();
    }
    return r;
  }
  // A duplicate of the peer's pidfd to watch it with, taken BEFORE its first
  // entry is inserted (empty when it is already watched); fails when the
  // broker is out of descriptors, and then the op must fail too.
  std::expected<UniqueFd, std::string> watch_fd_for(const Peer& peer);
  // Makes sure pid's process is watched (with fd when given), so that its
  // death reaps its entries.
  void ensure_watched(const Peer& peer, UniqueFd fd = UniqueFd());
  proto::OpResult create_registry(const proto::CreateRegistry& op);
  void notify_status();
};

// One client connection: reads request frames, answers each in order. Once
// it opened a mailbox, message frames are queued between its replies.
class Session : public MailboxSink, public std::enable_shared_from_this<Session> {
 public:
  static constexpr std::size_t kMaxQueuedReplies = 256;

  Session(Broker::Impl& broker, stream_protocol::socket socket, Peer peer, std::uint64_t id)
      : broker_(broker), socket_(std::move(socket)), peer_(std::move(peer)), id_(id) {}

  void start() { read_header(); }

  const Peer& mailbox_owner() const noexcept override { return peer_; }

  bool deliver(std::vector<std::uint8_t> frame) override {
    if (closed_ || out_.size() >= kMaxBacklogFrames || out_bytes_ + frame.size() > kMaxBacklogBytes ||
        broker_.mailbox_backlog + frame.size() > kMaxTotalBacklogBytes)
      return false;
    message_bytes_ += frame.size();
    broker_.mailbox_backlog += frame.size();
    queue(std::move(frame), true);
    return true;
  }

  ~Session() override { broker_.mailbox_backlog -= message_bytes_; }

  bool hung_up() noexcept override {
    if (closed_) return true;
    pollfd p{socket_.native_handle(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

 private:
  // Reads go through async_read_with_fds, since a frame may bring pidfds.
  void read_header() {
    async_read_with_fds(socket_, asio::buffer(header_), &pidfds_, proto::kMaxFramePidfds,
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          if (ec) return self->drop(ec == asio::error::eof ? "" : ec.message());
                          self->on_header();
                        });
  }

  void on_header() {
    auto h = proto::parse_header(header_);
    if (!h) return drop(std::string("bad frame header: ") + std::string(proto::to_string(h.error())));
    if (h->kind != proto::FrameKind::request) return drop("non-request frame sent to the broker");
    request_id_ = h->request_id;
    expected_ = h->payload_len;
    payload_.clear();
    read_payload_chunk();
  }

  // The payload grows as its bytes arrive, a chunk at a time: a header that
  // announces 2 MiB and sends nothing costs the broker one chunk, not 2 MiB.
  static constexpr std::size_t kPayloadChunk = 64 * 1024;
  void read_payload_chunk() {
    const std::size_t have = payload_.size();
    if (have == expected_) return on_payload();
    const std::size_t n = std::min(kPayloadChunk, expected_ - have);
    payload_.resize(have + n);
    async_read_with_fds(socket_, asio::buffer(payload_.data() + have, n), &pidfds_, proto::kMaxFramePidfds,
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          if (ec) return self->drop(ec == asio::error::eof ? "truncated frame" : ec.message());
                          self->read_payload_chunk();
                        });
  }

  void on_payload() {
    auto ops = proto::decode_request(payload_);
    if (!ops) return drop(std::string("bad request: ") + std::string(proto::to_string(ops.error())));
    auto results = broker_.execute(peer_, *ops, pidfds_, shared_from_this());
    pidfds_.clear();  // the broker dup'ed what it keeps; close the rest
    queue(proto::encode_reply(request_id_, results));
    // Back-pressure: a client that pipelines without reading its replies is
    // paused, not buffered without bound.
    if (out_.size() < kMaxQueuedReplies)
      read_header();
    else
      paused_ = true;
  }

  void queue(std::vector<std::uint8_t> frame, bool message = false) {
    out_bytes_ += frame.size();
    out_.push_back(OutFrame{std::move(frame), message});
    if (out_.size() == 1) write_next();
  }

  void write_next() {
    asio::async_write(socket_, asio::buffer(out_.front().bytes),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->drop(ec.message());
                        const OutFrame& done = self->out_.front();
                        self->out_bytes_ -= done.bytes.size();
                        if (done.message) {
                          self->message_bytes_ -= done.bytes.size();
                          self->broker_.mailbox_backlog -= done.bytes.size();
                        }
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->write_next();
                        if (self->paused_ && self->out_.size() < kMaxQueuedReplies / 2) {
                          self->paused_ = false;
                          self->read_header();
                        }
                      });
  }

  // Closing a connection removes nothing: entries belong to the process.
  void drop(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    broker_.mailboxes->close(this);
    if (!reason.empty())
      broker_.log("dropping connection " + std::to_string(id_) + " of pid " + std::to_string(peer_.pid) + ": " + reason);
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  Broker::Impl& broker_;
  stream_protocol::socket socket_;
  Peer peer_;
  std::uint64_t id_;
  std::array<std::uint8_t, proto::kHeaderSize> header_{};
  std::vector<std::uint8_t> payload_;
  std::size_t expected_ = 0;  // payload length the current frame announced
  std::vector<UniqueFd> pidfds_;  // came with the frame being read
  std::uint32_t request_id_ = 0;
  struct OutFrame {
    std::vector<std::uint8_t> bytes;
    bool message = false;  // a mailbox message (counted in the broker's mailbox_backlog)
  };
  std::deque<OutFrame> out_;
  std::size_t out_bytes_ = 0;      // queued in out_, not yet written
  std::size_t message_bytes_ = 0;  // of which message frames
  bool paused_ = false;
  bool closed_ = false;
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
  return 0;
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

  shm::WriterOptions wopts;
  wopts.grace = config.grace;
  auto w = shm::SegmentWriter::attach(config.ns, wopts);
  if (w) {
    log(std::string("attached existing segment /dev/shm/") + shm::segment_object_name(config.ns) +
        (w->repaired_at_attach() ? " (repaired a write cut short by a crash)" : ""));
  } else if (w.error() == shm::Errc::segment_not_found) {
    shm::CreateOptions copts;
    copts.size = config.segment_size;
    copts.owner_capacity = config.owner_capacity;
    copts.writer = wopts;
    w = shm::SegmentWriter::create(config.ns, copts);
    if (!w) {
      log("cannot create the segment: " + std::string(shm::to_string(w.error())));
      return 1;
    }
    log("created segment /dev/shm/" + shm::segment_object_name(config.ns) + " of " +
        std::to_string(config.segment_size) + " bytes");
  } else {
    log("cannot attach the existing segment: " + std::string(shm::to_string(w.error())) +
        "; stop its readers and remove /dev/shm/" + shm::segment_object_name(config.ns) + " to start afresh");
    return 1;
  }
  writer.emplace(std::move(*w));
  semantics.emplace(*writer, config.ns, semantic_hooks());
  mailboxes.emplace(semantic_hooks().watch_of);
  raise_fd_limit();
  if (!reconcile_owners()) return 1;

  try {
    std::filesystem::path sock(config.socket_path);
    if (sock.has_parent_path()) {
      std::filesystem::create_directories(sock.parent_path());
    }
    ::unlink(config.socket_path.c_str());  // stale from a previous run; we hold the lock
    acceptor.open(stream_protocol());
    acceptor.bind(stream_protocol::endpoint(config.socket_path));
    acceptor.listen(asio::socket_base::max_listen_connections);
    ::chmod(config.socket_path.c_str(), 0666);
  } catch (const std::exception& e) {
    log("cannot listen on " + config.socket_path + ": " + e.what());
    return 1;
  }
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    io.stop();
  });
  accept_next();
  log("listening on " + config.socket_path);
  sd_notify(0, "READY=1");
  notify_status();
  return 0;
}

void Broker::Impl::notify_status() {
  const std::string s = "STATUS=serving namespace " + config.ns + ", " + std::to_string(watches.size()) +
                        " owners watched, " + std::to_string(reaped_owners) + " reaped";
  sd_notify(0, s.c_str());
}

// Invariants 3 and 8: an owner recorded in the segment keeps its entries only
// if a process with that pid AND that identity is alive right now.
bool Broker::Impl::reconcile_owners() {
  std::size_t kept = 0, reaped = 0;
  for (const shm::OwnerRecord& o : writer->owners()) {
    const auto pid = static_cast<pid_t>(o.identity.pid);
    UniqueFd fd(open_pidfd(pid));
    if (!fd) {
      // Only "no such process" proves the owner gone. Anything else (out of
      // descriptors, say) proves nothing: stop before reaping the living.
      if (errno != ESRCH) {
        log("cannot check owner pid " + std::to_string(pid) + ": " + std::strerror(errno) +
            "; refusing to start rather than reap owners that may be alive");
        return false;
      }
      reap(pid, "died while no broker ran");
      ++reaped;
      continue;
    }
    auto now = identity_of(fd.get(), pid, o.identity.kind);
    if (!now) {
      if (pidfd_exited(fd.get())) {
        reap(pid, "died while no broker ran");
        ++reaped;
        continue;
      }
      // The recorded kind cannot be checked on this kernel: keep the entries
      // (they leave only for a reason) and watch the process we see.
      log("pid " + std::to_string(pid) + ": cannot verify identity (" + now.error() + "); keeping its entries");
      auto best = identity_of(fd.get(), pid);
      watch_owner(pid, std::move(fd), best ? *best : ProcessIdentity{o.identity.kind, o.identity.value});
      ++kept;
      continue;
    }
    if (now->value != o.identity.value) {
      reap(pid, "pid was recycled by another process");
      ++reaped;
      continue;
    }
    watch_owner(pid, std::move(fd), *now);
    ++kept;
  }
  if (kept + reaped > 0)
    log("reconciled owners: " + std::to_string(kept) + " alive and re-armed, " + std::to_string(reaped) + " reaped");
  return true;
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
    auto peer = peer_of(socket.native_handle());
    if (!peer) {
      log("refused a connection: " + peer.error());
    } else {
      if (config.verbose)
        log("connection " + std::to_string(next_session) + " from pid " + std::to_string(peer->pid) + " uid " +
            std::to_string(peer->uid) + (peer->from_peerpidfd ? " (SO_PEERPIDFD)" : " (pidfd_open fallback)"));
      std::make_shared<Session>(*this, std::move(socket), std::move(*peer), next_session++)->start();
    }
    accept_next();
  });
}

void Broker::Impl::watch_owner(pid_t pid, UniqueFd pidfd, ProcessIdentity identity) {
  OwnerWatch w;
  w.identity = identity;
  w.token = next_token++;
  w.pidfd = std::make_unique<asio::posix::stream_descriptor>(io, pidfd.release());
  const std::uint64_t token = w.token;
  watches[pid] = std::move(w);
  arm_watch(pid, token);
}

void Broker::Impl::arm_watch(pid_t pid, std::uint64_t token) {
  auto& desc = *watches.at(pid).pidfd;
  desc.async_wait(asio::posix::stream_descriptor::wait_read, [this, pid, token](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the watch was replaced or removed
    auto it = watches.find(pid);
    if (it == watches.end() || it->second.token != token) return;
    // Readiness is only a hint: a descriptor number reused after a session
    // closed can deliver a stale event. Only a pidfd that polls readable
    // right now proves the owner dead; otherwise wait again.
    if (!pidfd_exited(it->second.pidfd->native_handle())) return arm_watch(pid, token);
    reap(pid, "exited");
  });
}

void Broker::Impl::reap(pid_t pid, const char* why) {
  auto n = writer->remove_owner(static_cast<std::uint32_t>(pid), shm::RemoveReason::owner_died);
  watches.erase(pid);
  ++reaped_owners;
  if (n && *n > 0) log("reaped pid " + std::to_string(pid) + " (" + why + "): " + std::to_string(*n) + " entries removed");
  if (!n) log("reaping pid " + std::to_string(pid) + " failed: " + std::string(shm::to_string(n.error())));
}

BrokerHooks Broker::Impl::semantic_hooks() {
  BrokerHooks h;
  h.register_key = [this](const Peer& owner, const proto::RegisterKey& op) { return register_key(owner, op); };
  h.reap = [this](pid_t pid, const char* why) {
    reap(pid, why);
    notify_status();
  };
  h.watch_of = [this](pid_t pid) -> std::optional<OwnerWatchInfo> {
    auto it = watches.find(pid);
    if (it == watches.end()) return std::nullopt;
    return OwnerWatchInfo{it->second.pidfd->native_handle(), it->second.identity};
  };
  h.error_result = [](shm::Errc e) { return error_result(e); };
  h.log = [this](const std::string& msg) { log(msg); };
  return h;
}

proto::OpResult Broker::Impl::create_registry(const proto::CreateRegistry& op) {
  shm::RegistrySpec spec;
  spec.name = op.name;
  spec.kind = op.kind == 2 ? shm::RegistryKind::duplicate : shm::RegistryKind::unique;
  spec.partitions = op.partitions;
  spec.max_key = op.max_key != 0 ? op.max_key : config.default_max_key;
  spec.max_value = op.max_value != 0 ? op.max_value : config.default_max_value;
  spec.capacity = op.capacity != 0 ? op.capacity : config.default_capacity;
  return semantics->create_registry(spec, op.meta);
}

std::expected<Broker::Impl::Registration, proto::OpResult> Broker::Impl::begin_registration(
    const Peer& peer, const std::string& registry) {
  auto id = writer->find_registry(registry);
  if (!id) return std::unexpected(error_result(id.error()));
  auto watch_fd = watch_fd_for(peer);
  if (!watch_fd) return std::unexpected(proto::OpResult{proto::Status::internal_error, 0, watch_fd.error(), {}});
  return Registration{*id,
                      shm::OwnerIdentity{static_cast<std::uint32_t>(peer.pid), static_cast<std::uint32_t>(peer.uid),
                                         peer.identity.kind, peer.identity.value},
                      std::move(*watch_fd)};
}

proto::OpResult Broker::Impl::register_key(const Peer& peer, const proto::RegisterKey& op) {
  auto reg = begin_registration(peer, op.registry);
  if (!reg) return std::move(reg.error());
  std::uint32_t conflict = 0;
  auto r = insert_reaping_stale(
      peer, [&] { return writer->insert(reg->registry, op.key, op.value, reg->owner, &conflict); });
  if (!r) {
    proto::OpResult res = error_result(r.error());
    if (r.error() == shm::Errc::already_registered) {
      res.value = conflict;
      res.message = "already registered by PID " + std::to_string(conflict);
    }
    return res;
  }
  ensure_watched(peer, std::move(reg->watch_fd));
  return proto::OpResult{proto::Status::ok, r->version, {}};
}

std::expected<UniqueFd, std::string> Broker::Impl::watch_fd_for(const Peer& peer) {
  auto it = watches.find(peer.pid);
  if (it != watches.end() && it->second.identity.value == peer.identity.value) return UniqueFd();
  UniqueFd dup(::fcntl(peer.pidfd.get(), F_DUPFD_CLOEXEC, 0));
  if (!dup) {
    const std::string why = "broker cannot watch pid " + std::to_string(peer.pid) + ": " + std::strerror(errno);
    log(why);
    return std::unexpected(why);
  }
  return dup;
}

void Broker::Impl::ensure_watched(const Peer& peer, UniqueFd fd) {
  auto it = watches.find(peer.pid);
  if (it != watches.end() && it->second.identity.value == peer.identity.value) return;
  if (!fd) fd = UniqueFd(::fcntl(peer.pidfd.get(), F_DUPFD_CLOEXEC, 0));
  if (fd)
    watch_owner(peer.pid, std::move(fd), peer.identity);
  else
    log("cannot watch pid " + std::to_string(peer.pid) + ": " + std::strerror(errno));
  notify_status();
}

proto::OpResult Broker::Impl::register_queued(const Peer& peer, const proto::RegisterQueued& op) {
  auto reg = begin_registration(peer, op.registry);
  if (!reg) return std::move(reg.error());
  auto r = insert_reaping_stale(
      peer, [&] { return writer->insert_queued(reg->registry, op.key, op.value, reg->owner, op.flags); });
  if (!r) return error_result(r.error());
  if (r->reply != shm::QueueReply::exists) ensure_watched(peer, std::move(reg->watch_fd));
  return proto::OpResult{proto::Status::ok,
                         proto::pack_queue_reply(static_cast<std::uint32_t>(r->reply), r->owner_pid), {}, {}};
}

proto::OpResult Broker::Impl::send_message(const Peer& peer, const proto::SendMessage& op, FrameContext& frame) {
  try {
    auto owners = semantics->owners_of(op.registry, op.key);
    if (!owners) return std::move(owners.error());
    return mailboxes->send(peer, op, *owners, frame.data_budget);
  } catch (const std::exception& e) {
    return proto::OpResult{proto::Status::internal_error, 0, std::string("internal error: ") + e.what(), {}};
  }
}

std::vector<proto::OpResult> Broker::Impl::execute(const Peer& peer, const std::vector<proto::Op>& ops,
                                                   std::span<const UniqueFd> pidfds,
                                                   const std::shared_ptr<Session>& session) {
  FrameContext frame{pidfds};
  std::vector<proto::OpResult> out;
  out.reserve(ops.size());
  for (const proto::Op& op : ops) {
    out.push_back(std::visit(
        [&](const auto& o) -> proto::OpResult {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, proto::Ping>) {
            return proto::OpResult{proto::Status::ok, static_cast<std::uint64_t>(::getpid()), {}};
          } else if constexpr (std::is_same_v<T, proto::CreateRegistry>) {
            return create_registry(o);
          } else if constexpr (std::is_same_v<T, proto::RegisterKey>) {
            return register_key(peer, o);
          } else if constexpr (std::is_same_v<T, proto::Unregister>) {
            auto id = writer->find_registry(o.registry);
            if (!id) return error_result(id.error());
            auto n = writer->remove(*id, o.key, static_cast<std::uint32_t>(peer.pid));
            if (!n) return error_result(n.error());
            return proto::OpResult{proto::Status::ok, *n, {}};
          } else if constexpr (std::is_same_v<T, proto::UnregisterAll>) {
            auto n = writer->remove_owner(static_cast<std::uint32_t>(peer.pid));
            if (!n) return error_result(n.error());
            return proto::OpResult{proto::Status::ok, *n, {}};
          } else if constexpr (std::is_same_v<T, proto::RegisterQueued>) {
            return register_queued(peer, o);
          } else if constexpr (std::is_same_v<T, proto::OpenMailbox>) {
            return mailboxes->open(session);
          } else if constexpr (std::is_same_v<T, proto::SendMessage>) {
            return send_message(peer, o, frame);
          } else {
            return semantics->run(peer, o, frame);
          }
        },
        op));
  }
  return out;
}

}  // namespace shmreg::broker
