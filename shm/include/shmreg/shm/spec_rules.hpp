// The rules a registry's spec must keep (name, kind, partitions, limits, the
// event ring) and their words: which rule a spec breaks, with the limit and
// its value, and which option differs from an existing registry's. The
// writer refuses by broken_rule(); the broker and the configuration reader
// say why with describe() and difference(), so that every client is told the
// same rule in the same words.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::shm {

enum class SpecRule { name, kind, partitions, max_key, max_value, capacity, event_capacity };

// 1..kMaxNameLen bytes, none of them a space or a control character.
[[nodiscard]] bool valid_registry_name(std::string_view name) noexcept;

// A cluster host's name: 1..kMaxHostLen bytes of [A-Za-z0-9._-] (the name
// of a remote owner's host, HostSlot).
[[nodiscard]] bool valid_host_name(std::string_view name) noexcept;

// The first rule s breaks, in the order of SpecRule; nullopt when s is valid.
[[nodiscard]] std::optional<SpecRule> broken_rule(const RegistrySpec& s) noexcept;

// Why s breaks rule: the option, the value given and the range allowed.
[[nodiscard]] std::string describe(SpecRule rule, const RegistrySpec& s);

// "capacity is 4096, not 10": the first option in which s differs from the
// existing registry, with both values; empty when they are the same.
[[nodiscard]] std::string difference(const RegistryView& existing, const RegistrySpec& s);

}  // namespace shmreg::shm
