#include "failover.hpp"

#include <thread>

namespace shmreg::cluster::detail {

namespace {

// gRPC status codes the gateway passes on.
constexpr std::int64_t kGrpcDeadlineExceeded = 4;
constexpr std::int64_t kGrpcNotFound = 5;  // etcd uses it for "requested lease not found"
constexpr std::int64_t kGrpcOutOfRange = 11;  // "required revision has been compacted"
constexpr std::int64_t kGrpcUnavailable = 14;  // no leader, leader changed, request timed out

constexpr auto kRoundPause = std::chrono::milliseconds(50);

std::string where(std::string_view call, const Endpoint& endpoint) {
  return "etcd " + std::string(call) + " on " + endpoint.url;
}

}  // namespace

Result<std::size_t> try_endpoints(std::string_view call, const std::vector<std::string>& urls, std::size_t first,
                                  std::chrono::milliseconds attempt_timeout, Deadline deadline,
                                  const std::function<AttemptResult(std::size_t, Deadline)>& attempt) {
  const auto start = Clock::now();
  std::vector<std::string> reasons(urls.size(), "not tried before the deadline");
  std::vector<bool> tried(urls.size(), false);
  bool malformed = false;
  int rounds = 0;
  while (Clock::now() < deadline) {
    ++rounds;
    // Garbage is no passing state, unlike "no leader": a round in which
    // every endpoint answered garbage ends the call.
    std::size_t garbage = 0;
    for (std::size_t k = 0; k < urls.size(); ++k) {
      const std::size_t i = (first + k) % urls.size();
      const auto now = Clock::now();
      if (now >= deadline) break;
      const Deadline attempt_deadline = std::min(deadline, now + attempt_timeout);
      AttemptResult r = attempt(i, attempt_deadline);
      if (std::holds_alternative<std::monostate>(r)) return i;
      if (auto* final_error = std::get_if<Error>(&r)) return std::unexpected(std::move(*final_error));
      auto& failed = std::get<AttemptFailed>(r);
      malformed = malformed || failed.malformed;
      garbage += failed.malformed ? 1 : 0;
      // An attempt that the call's own deadline cut short says less than
      // the endpoint's earlier answer ("certificate required"): keep that.
      const bool cut_short = attempt_deadline == deadline && Clock::now() >= deadline;
      if (!(cut_short && tried[i])) reasons[i] = std::move(failed.reason);
      tried[i] = true;
    }
    if (garbage == urls.size()) break;
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, kRoundPause));
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  std::string message = "etcd " + std::string(call) + (malformed ? ": no endpoint answered as etcd does within " : ": no endpoint answered within ") +
                        std::to_string(waited.count()) + " ms (" + std::to_string(rounds) + " round" +
                        (rounds == 1 ? "" : "s") + "): ";
  for (std::size_t i = 0; i < urls.size(); ++i) message += (i ? "; " : "") + urls[i] + ": " + reasons[i];
  return fail(malformed ? Errc::bad_reply : Errc::cluster_unavailable, std::move(message));
}

AttemptResult judge_etcd_error(std::string_view call, const Endpoint& endpoint, const Json& reply) {
  const auto it = reply.find("error");
  if (it == reply.end()) return std::monostate{};
  std::int64_t code = 0;
  std::string message;
  try {
    if (it->is_object()) {
      code = int64_field(*it, "grpc_code");
      message = string_field(*it, "message");
    } else if (it->is_string()) {
      code = int64_field(reply, "code");
      message = it->get<std::string>();
    } else {
      throw ReplyError("field 'error' is neither a string nor an object");
    }
    if (code <= 0) throw ReplyError("an error without a gRPC code");
  } catch (const ReplyError& e) {
    return AttemptFailed{true, "an error reply of unexpected shape: " + std::string(e.what())};
  }
  const std::string said = "etcd says '" + message + "' (code " + std::to_string(code) + ")";
  switch (code) {
    case kGrpcUnavailable:
    case kGrpcDeadlineExceeded:
      return AttemptFailed{false, said};
    case kGrpcNotFound:
      return Error{Errc::lease_not_found, where(call, endpoint) + ": " + said};
    case kGrpcOutOfRange:
      return Error{Errc::compacted, where(call, endpoint) + ": " + said};
    default:
      return Error{Errc::rejected, where(call, endpoint) + ": " + said};
  }
}

AttemptResult judge_reply(std::string_view call, const Endpoint& endpoint,
                          const std::expected<HttpReply, TransportError>& reply, Json& out) {
  if (!reply) return AttemptFailed{reply.error().malformed, reply.error().what};
  out = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) {
    if (reply->status >= 500) return AttemptFailed{false, "HTTP " + std::to_string(reply->status) + " without an etcd error"};
    return AttemptFailed{true, "HTTP " + std::to_string(reply->status) + " with a body that is not a JSON object"};
  }
  if (auto judged = judge_etcd_error(call, endpoint, out); !std::holds_alternative<std::monostate>(judged)) {
    return judged;
  }
  if (reply->status != 200) {
    return AttemptFailed{true, "HTTP " + std::to_string(reply->status) + " without an etcd error"};
  }
  return std::monostate{};
}

}  // namespace shmreg::cluster::detail
