// Who may do what, and how much each uid may hold: the rules of the broker's
// settings ([access], [[registry]] register/admin, [[registry.reserve]],
// [limits]) as functions of the settings, a process and what the segment
// already holds. Every rule is here, so that one file answers "why was this
// refused"; the broker calls them from two places only:
//   - authorize() (op_table.hpp) with the caller, before an op runs: the
//     access lists (create, register, admin, reload);
//   - the handlers, in one line each, once they know the owner or the exact
//     write: reservations and the per-uid quotas, which depend on the owner
//     (the caller, or the process it acts for) and on the op's size.
//
// Root (uid 0) passes every access list and reservation; it has quotas only
// when [limits.user.root] gives it some (Limits::for_uid).
//
// Each refusal is the op's reply: permission_denied naming the rule, its list,
// where it comes from (the config file, or "default") and the uid; or
// quota_exceeded naming the limit key, its value, the uid and its use.
//
// Thread-safety: pure functions of their arguments, except that a refusal's
// text resolves the uid's user name (getpwuid_r).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

#include "caller.hpp"
#include "settings.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::broker {

using Verdict = std::expected<void, proto::OpResult>;

// -- access lists, checked against the caller by authorize() --

// create_registry that would create the registry: [access] create.
[[nodiscard]] Verdict may_create(const Settings& settings, const Caller& caller, std::string_view registry);
// register, register_on_behalf, register_queued: the registry's `register`
// list if the file declares it, else [access] register.
[[nodiscard]] Verdict may_register(const Settings& settings, const Caller& caller, std::string_view registry);
// put_meta, delete_meta, set_static, unset_static: a declared registry's
// `admin` list; for any other registry, root and the uid that created it.
[[nodiscard]] Verdict may_administer(const Settings& settings, const Caller& caller, std::string_view registry,
                                     std::uint32_t creator_uid);
// lookup_consistent: with [broker] segment_group, only root, the broker's
// own uid and members of that group (who may read the segment itself).
[[nodiscard]] Verdict may_read_entries(const Settings& settings, const Caller& caller);
// register_on_behalf: the caller, too, must be allowed by every reservation
// of the key (the owner's groups may be ones the caller does not have, e.g.
// a setgid program of the caller's uid).
[[nodiscard]] Verdict may_claim(const Settings& settings, const Caller& caller, std::string_view registry,
                                std::string_view key);
// reload, forbid and allow: [access] reload.
[[nodiscard]] Verdict may_reload(const Settings& settings, const Caller& caller);

// -- owner-side rules and quotas, called by the handlers before they write --

// A new entry (or queued record) of value_size bytes under key, owned by
// owner: every reservation of the registry whose prefix key starts with
// must allow the owner, and the owner's uid must stay within its entries
// and value_bytes quotas.
[[nodiscard]] Verdict may_own(const Settings& settings, const shm::SegmentWriter& writer, const Owner& owner,
                              std::string_view registry, std::string_view key, std::size_t value_size);
// An entry of owner_uid's growing from old_size to new_size value bytes.
[[nodiscard]] Verdict may_grow_value(const Settings& settings, const shm::SegmentWriter& writer, uid_t owner_uid,
                                     std::size_t old_size, std::size_t new_size);
// A registry created by creator_uid that takes footprint bytes of the arena:
// the registries and registry_bytes quotas.
[[nodiscard]] Verdict may_add_registry(const Settings& settings, const shm::SegmentWriter& writer, uid_t creator_uid,
                                       std::uint64_t footprint);

// "65534 (nobody)", or "1234" for a uid without a name.
[[nodiscard]] std::string uid_text(uid_t uid);

}  // namespace shmreg::broker
