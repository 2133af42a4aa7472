#include "shmreg/cluster/watch.hpp"

#include <optional>

#include "codec.hpp"
#include "failover.hpp"
#include "http_connection.hpp"
#include "json_stream.hpp"

namespace shmreg::cluster {

using detail::Json;

struct Watch::Impl {
  std::optional<detail::HttpConnection> conn;
  std::size_t max_message = 0;
  std::string pending;  // bytes read and not yet split into messages
  std::int64_t revision = 0;
  std::int64_t compact_revision = 0;
  std::optional<Error> over;  // the error that ended the watch
  // Events read with the confirmation, for the first next().
  std::vector<WatchEvent> ready;

  // Takes the whole messages in pending, appending their events to out.
  // An error ends the watch.
  Status drain(std::vector<WatchEvent>& out);
  Status apply(const Json& message, std::vector<WatchEvent>& out);
  Error end(Errc code, const std::string& why) {
    over = Error{code, "etcd watch on " + conn->endpoint().url + ": " + why};
    conn->close();
    return *over;
  }
};

Status Watch::Impl::apply(const Json& message, std::vector<WatchEvent>& out) {
  auto judged = detail::judge_etcd_error("watch", conn->endpoint(), message);
  if (auto* e = std::get_if<Error>(&judged)) return std::unexpected(end(e->code, e->message));
  if (auto* f = std::get_if<detail::AttemptFailed>(&judged)) {
    return std::unexpected(end(f->malformed ? Errc::bad_reply : Errc::watch_closed, f->reason));
  }
  const Json& result = detail::object_field(message, "result");
  if (result.empty()) throw detail::ReplyError("a message with neither 'result' nor 'error'");
  if (const auto rev = detail::read_header(result).revision; rev > 0) revision = rev;
  if (detail::bool_field(result, "canceled")) {
    compact_revision = detail::int64_field(result, "compact_revision");
    if (compact_revision > 0) {
      return std::unexpected(end(Errc::compacted, "revisions before " + std::to_string(compact_revision) +
                                                      " have been compacted; re-read and watch again"));
    }
    const std::string reason = detail::string_field(result, "cancel_reason");
    return std::unexpected(end(Errc::watch_closed, "etcd cancelled the watch" + (reason.empty() ? "" : ": " + reason)));
  }
  if (const Json* events = detail::array_field(result, "events")) {
    for (const auto& e : *events) out.push_back(detail::read_watch_event(e));
  }
  return {};
}

Status Watch::Impl::drain(std::vector<WatchEvent>& out) {
  for (;;) {
    const auto split = detail::split_json_object(pending);
    if (split.state == detail::Split::incomplete) {
      if (pending.size() > max_message) {
        return std::unexpected(end(Errc::bad_reply, "a message over the limit of " + std::to_string(max_message) + " bytes"));
      }
      return {};
    }
    if (split.state == detail::Split::malformed) return std::unexpected(end(Errc::bad_reply, "a message that is not a JSON object"));
    const Json message = Json::parse(std::string_view(pending).substr(split.begin, split.end - split.begin), nullptr, false);
    pending.erase(0, split.end);
    if (message.is_discarded()) return std::unexpected(end(Errc::bad_reply, "a message that is not JSON"));
    try {
      if (auto applied = apply(message, out); !applied) return applied;
    } catch (const detail::ReplyError& e) {
      return std::unexpected(end(Errc::bad_reply, "an unexpected message: " + std::string(e.what())));
    }
  }
}

Result<Watch> Watch::open(const ClientOptions& options, const std::string& prefix, std::int64_t start_revision,
                          Deadline deadline) {
  if (options.endpoints.empty()) return fail(Errc::invalid_argument, "etcd watch: no endpoint given");
  std::shared_ptr<detail::TlsContext> tls;
  std::vector<detail::Endpoint> endpoints;
  for (const auto& url : options.endpoints) {
    auto endpoint = detail::parse_endpoint(url);
    if (!endpoint) return std::unexpected(std::move(endpoint.error()));
    if (endpoint->tls && !tls) {
      auto made = detail::make_tls_context(options.tls);
      if (!made) return std::unexpected(std::move(made.error()));
      tls = std::move(*made);
    }
    endpoints.push_back(std::move(*endpoint));
  }
  const std::string key = prefix.empty() ? std::string(1, '\0') : prefix;
  Json create = {{"key", detail::base64_encode(key)}, {"range_end", detail::base64_encode(detail::prefix_range_end(prefix))}};
  if (start_revision > 0) create["start_revision"] = detail::int64_string(start_revision);
  const std::string body = Json{{"create_request", create}}.dump();

  auto impl = std::make_unique<Impl>();
  impl->max_message = options.max_reply_bytes;
  auto served = detail::try_endpoints(
      "watch", options.endpoints, 0, options.attempt_timeout, deadline,
      [&](std::size_t i, Deadline attempt) -> detail::AttemptResult {
        impl->conn.emplace(endpoints[i], options.max_reply_bytes, endpoints[i].tls ? tls : nullptr);
        impl->pending.clear();
        impl->over.reset();
        impl->ready.clear();
        auto reply = impl->conn->open_stream("/v3/watch", body, attempt);
        if (reply && reply->status != 200) {
          Json error;
          return detail::judge_reply("watch", endpoints[i], reply, error);
        }
        if (!reply) return detail::AttemptFailed{reply.error().malformed, reply.error().what};
        // Wait for the first message: etcd's confirmation.
        while (detail::split_json_object(impl->pending).state == detail::Split::incomplete) {
          if (Clock::now() >= attempt) return detail::AttemptFailed{false, "watch: no confirmation in time"};
          if (auto read = impl->conn->read_stream(impl->pending, attempt); !read) {
            return detail::AttemptFailed{read.error().malformed, read.error().what};
          }
        }
        if (auto drained = impl->drain(impl->ready); !drained) {
          const Errc code = drained.error().code;
          if (code == Errc::bad_reply || code == Errc::watch_closed) {
            return detail::AttemptFailed{code == Errc::bad_reply, drained.error().message};
          }
          return drained.error();  // compacted, refused: no other endpoint would say otherwise
        }
        return std::monostate{};
      });
  if (!served) {
    // compacted at creation: a watch that reports it from next(), as documented.
    if (served.error().code != Errc::compacted) return std::unexpected(std::move(served.error()));
  }
  return Watch(std::move(impl));
}

Watch::Watch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Watch::Watch(Watch&&) noexcept = default;
Watch& Watch::operator=(Watch&&) noexcept = default;
Watch::~Watch() = default;

Result<std::vector<WatchEvent>> Watch::next(Deadline deadline) {
  Impl& w = *impl_;
  std::vector<WatchEvent> events = std::move(w.ready);
  w.ready.clear();
  for (;;) {
    if (w.over) return std::unexpected(*w.over);
    if (auto drained = w.drain(events); !drained) return std::unexpected(drained.error());
    if (!events.empty() || Clock::now() >= deadline) return events;
    if (auto read = w.conn->read_stream(w.pending, deadline); !read) {
      // Whole messages that came before the end are still delivered.
      if (auto drained = w.drain(events); !drained) return std::unexpected(drained.error());
      w.end(read.error().malformed ? Errc::bad_reply : Errc::watch_closed, read.error().what);
      if (!events.empty()) return events;
    }
  }
}

std::int64_t Watch::compact_revision() const noexcept { return impl_->compact_revision; }
std::int64_t Watch::revision() const noexcept { return impl_->revision; }
const std::string& Watch::endpoint() const noexcept { return impl_->conn->endpoint().url; }

}  // namespace shmreg::cluster
