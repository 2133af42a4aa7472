// The access rules and quotas of the broker's settings (see policy.hpp).
#include "policy.hpp"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <optional>

#include "status.hpp"

namespace shmreg::broker {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<std::string> user_name(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 1024> buf{};
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return std::nullopt;
  return std::string(found->pw_name);
}

// Where the rules in force come from, for messages.
std::string source(const Settings& settings) {
  return settings.path.empty() ? std::string("default") : "config " + settings.path;
}

Verdict denied(std::string message) {
  return std::unexpected(refusal(proto::Status::permission_denied, std::move(message)));
}

// "<subject>: <rule> is limited to [...] (<where>); uid N (name) is not listed".
Verdict check_list(const AccessList& list, uid_t uid, std::span<const gid_t> groups, const std::string& subject,
                   const std::string& rule, const Settings& settings) {
  if (uid == 0 || list.allows(uid, groups)) return {};
  return denied(subject + rule + " is limited to " + list.text() + " (" + source(settings) + "); uid " + uid_text(uid) +
                " is not listed");
}

// The quota of uid, and the section of the file that sets it.
struct QuotaInForce {
  Quota quota;
  std::string section;
};

std::optional<QuotaInForce> quota_of(const Settings& settings, uid_t uid) {
  auto q = settings.limits.for_uid(uid);
  if (!q) return std::nullopt;
  std::string section = "[limits]";
  if (settings.limits.per_user.contains(uid))
    section = "[limits.user." + user_name(uid).value_or(std::to_string(uid)) + "]";
  return QuotaInForce{*q, section + ", " + source(settings)};
}

// Refuses when use + more would pass limit.
Verdict check_quota(const char* key, std::uint64_t limit, std::uint64_t use, std::uint64_t more, uid_t uid,
                    const std::string& where) {
  if (more == 0 || (use <= limit && more <= limit - use)) return {};
  std::string text = std::string("quota exceeded: ") + key + " = " + std::to_string(limit) + " for uid " +
                     uid_text(uid) + ", " + std::to_string(use) + " in use";
  if (more != 1) text += ", " + std::to_string(more) + " more asked";
  return std::unexpected(refusal(proto::Status::quota_exceeded, text + " (" + where + ")"));
}

}  // namespace

std::string uid_text(uid_t uid) {
  const auto name = user_name(uid);
  return name ? std::to_string(uid) + " (" + *name + ")" : std::to_string(uid);
}

Verdict may_create(const Settings& settings, const Caller& caller, std::string_view registry) {
  return check_list(settings.access.create, caller.uid, caller.groups, "creating registry " + quoted(registry) + ": ",
                    "[access] create", settings);
}

Verdict may_register(const Settings& settings, const Caller& caller, std::string_view registry) {
  if (const DeclaredRegistry* d = settings.declared(registry))
    return check_list(d->register_access, caller.uid, caller.groups, "registry " + quoted(registry) + ": ",
                      "register", settings);
  return check_list(settings.access.register_access, caller.uid, caller.groups, "registry " + quoted(registry) + ": ",
                    "[access] register", settings);
}

Verdict may_administer(const Settings& settings, const Caller& caller, std::string_view registry,
                       std::uint32_t creator_uid) {
  if (const DeclaredRegistry* d = settings.declared(registry))
    return check_list(d->admin, caller.uid, caller.groups, "registry " + quoted(registry) + ": ", "admin", settings);
  if (caller.uid == 0 || caller.uid == creator_uid) return {};
  const std::string creator =
      creator_uid == shm::kNamespaceUid ? std::string("the broker") : "uid " + uid_text(creator_uid);
  return denied("registry " + quoted(registry) + " is not declared (" + source(settings) +
                "), so only root and its creator, " + creator + ", may change its meta and static entries; uid " +
                uid_text(caller.uid) + " is neither");
}

Verdict may_read_entries(const Settings& settings, const Caller& caller) {
  const auto& group = settings.broker.segment_group;
  if (!group || caller.uid == 0 || caller.uid == ::geteuid()) return {};
  for (gid_t g : caller.groups)
    if (g == *group) return {};
  return denied("[broker] segment_group = \"" + settings.broker.segment_group_name + "\" (" + source(settings) +
                "): the entries are readable by that group only, through the segment and through the broker; uid " +
                uid_text(caller.uid) + " is not in it");
}

Verdict may_reload(const Settings& settings, const Caller& caller) {
  return check_list(settings.access.reload, caller.uid, caller.groups, "", "[access] reload", settings);
}

namespace {

// Every reservation of the registry whose prefix key starts with must allow
// uid with groups; who: "owner" or "caller", for the message.
Verdict check_reservations(const Settings& settings, uid_t uid, std::span<const gid_t> groups,
                           std::string_view registry, std::string_view key, const char* who) {
  if (const DeclaredRegistry* d = settings.declared(registry); d != nullptr && uid != 0)
    for (const Reservation& r : d->reserve)
      if (key.starts_with(r.prefix) && !r.owners.allows(uid, groups))
        return denied("registry " + quoted(registry) + ": keys beginning with " + quoted(r.prefix) +
                      " may be owned only by " + r.owners.text() + " ([[registry.reserve]], " + source(settings) +
                      (r.where.line ? ":" + std::to_string(r.where.line) : std::string()) + "); " + who + " uid " +
                      uid_text(uid) + " is not listed");
  return {};
}

}  // namespace

Verdict may_claim(const Settings& settings, const Caller& caller, std::string_view registry, std::string_view key) {
  return check_reservations(settings, caller.uid, caller.groups, registry, key, "caller");
}

Verdict may_own(const Settings& settings, const shm::SegmentWriter& writer, const Owner& owner,
                std::string_view registry, std::string_view key, std::size_t value_size) {
  if (auto ok = check_reservations(settings, owner.uid, owner.groups, registry, key, "owner"); !ok) return ok;
  const auto q = quota_of(settings, owner.uid);
  if (!q) return {};
  const shm::UidUsage use = writer.usage_of(static_cast<std::uint32_t>(owner.uid));
  if (auto ok = check_quota("entries", q->quota.entries, use.entries, 1, owner.uid, q->section); !ok) return ok;
  return check_quota("value_bytes", q->quota.value_bytes, use.value_bytes, value_size, owner.uid, q->section);
}

Verdict may_grow_value(const Settings& settings, const shm::SegmentWriter& writer, uid_t owner_uid,
                       std::size_t old_size, std::size_t new_size) {
  const auto q = quota_of(settings, owner_uid);
  if (!q || new_size <= old_size) return {};
  const shm::UidUsage use = writer.usage_of(static_cast<std::uint32_t>(owner_uid));
  return check_quota("value_bytes", q->quota.value_bytes, use.value_bytes, new_size - old_size, owner_uid, q->section);
}

Verdict may_add_registry(const Settings& settings, const shm::SegmentWriter& writer, uid_t creator_uid,
                         std::uint64_t footprint) {
  const auto q = quota_of(settings, creator_uid);
  if (!q) return {};
  const shm::UidUsage use = writer.usage_of(static_cast<std::uint32_t>(creator_uid));
  if (auto ok = check_quota("registries", q->quota.registries, use.registries, 1, creator_uid, q->section); !ok)
    return ok;
  return check_quota("registry_bytes", q->quota.registry_bytes, use.registry_bytes, footprint, creator_uid,
                     q->section);
}

}  // namespace shmreg::broker
