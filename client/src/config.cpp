// libshmreg, op family "config": static entries (set_static, unset_static),
// reloading the broker's configuration file, and the broker's status. The
// broker sends reload outcomes and its status as JSON in the result's data
// (proto/wire.hpp); this file turns them into the plain values of
// shmreg/broker_status.hpp.
#include <nlohmann/json.hpp>

#include "client_state.hpp"
#include "errors.hpp"

namespace shmreg {

using client_detail::guarded;
using nlohmann::json;

namespace {

// A reply the client cannot read: the message says which op and why.
Error unreadable(std::string_view what, std::string_view why) {
  return Error{Errc::protocol_error, "the broker's " + std::string(what) + " is not what this client reads: " +
                                         std::string(why)};
}

std::vector<std::string> optional_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (auto it = j.find(key); it != j.end() && it->is_array())
    for (const auto& s : *it) out.push_back(s.get<std::string>());
  return out;
}

// The reload result's data: {"state", "generation", "reasons", "notes"}.
Result<ReloadOutcome> reload_outcome_of(const proto::OpResult& r) {
  const json j = json::parse(r.data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected(unreadable("reload outcome", "not a JSON object"));
  try {
    return ReloadOutcome{j.value("state", std::string()), j.value("generation", r.value), optional_strings(j, "reasons"),
                         optional_strings(j, "notes")};
  } catch (const json::exception& e) {
    return std::unexpected(unreadable("reload outcome", e.what()));
  }
}

// A refused reload names every reason, one per line, so that a caller (and
// `shmreg reload`) shows them all; the broker's own message names the first.
Error reload_refusal(const proto::OpResult& r) {
  Error e = client_detail::error_from_reply(r);
  auto outcome = reload_outcome_of(r);
  if (!outcome || outcome->reasons.empty()) return e;
  e.message = "reload failed (" + std::to_string(outcome->reasons.size()) + " reason" +
              (outcome->reasons.size() == 1 ? "" : "s") + "; the configuration in force is unchanged):";
  for (const auto& reason : outcome->reasons) e.message += "\n  " + reason;
  return e;
}

}  // namespace

Result<std::uint64_t> Client::set_static(std::string_view registry, std::string_view key,
                                         std::string_view value) const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::SetStatic{std::string(registry), std::string(key), std::string(value)});
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value;
  });
}

Result<bool> Client::unset_static(std::string_view registry, std::string_view key) const noexcept {
  return guarded([&]() -> Result<bool> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::UnsetStatic{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    return r->value != 0;
  });
}

namespace {

Result<ReloadOutcome> call_reload(client_detail::ClientState& state, std::chrono::nanoseconds timeout,
                                  proto::ReloadAction action) {
  auto r = state.call_batch(client_detail::Deadline::after(timeout), {proto::Op{proto::Reload{action}}});
  if (!r) return std::unexpected(std::move(r.error()));
  const proto::OpResult& res = r->front();
  if (res.status == proto::Status::reload_failed) return std::unexpected(reload_refusal(res));
  if (res.status != proto::Status::ok) return std::unexpected(client_detail::error_from_reply(res));
  return reload_outcome_of(res);
}

}  // namespace

Result<ReloadOutcome> Client::reload() const noexcept {
  return guarded([&] { return call_reload(*state_, timeout_, proto::ReloadAction::reload); });
}

Result<ReloadOutcome> Client::forbid_reload() const noexcept {
  return guarded([&] { return call_reload(*state_, timeout_, proto::ReloadAction::forbid); });
}

Result<ReloadOutcome> Client::allow_reload() const noexcept {
  return guarded([&] { return call_reload(*state_, timeout_, proto::ReloadAction::allow); });
}

}  // namespace shmreg
