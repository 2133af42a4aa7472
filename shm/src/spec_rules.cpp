// The rules of a registry's spec and their words (see spec_rules.hpp).
#include "shmreg/shm/spec_rules.hpp"

#include <algorithm>

namespace shmreg::shm {

namespace {

std::string range(std::uint64_t low, std::uint64_t high) {
  return std::to_string(low) + " to " + std::to_string(high);
}

const char* kind_name(RegistryKind k) { return k == RegistryKind::unique ? "unique" : "duplicate"; }

}  // namespace

bool valid_registry_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNameLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

bool valid_host_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxHostLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::optional<SpecRule> broken_rule(const RegistrySpec& s) noexcept {
  if (!valid_registry_name(s.name)) return SpecRule::name;
  if (s.kind != RegistryKind::unique && s.kind != RegistryKind::duplicate) return SpecRule::kind;
  if (s.partitions < 1 || s.partitions > kMaxPartitions) return SpecRule::partitions;
  if (s.max_key < 1 || s.max_key > kMaxKeyLen) return SpecRule::max_key;
  if (s.max_value > kMaxValueLen) return SpecRule::max_value;
  if (s.capacity < 1 || s.capacity > kMaxRecordsPerRegistry) return SpecRule::capacity;
  if (s.event_capacity < 2 || s.event_capacity > kMaxEventCapacity || (s.event_capacity & (s.event_capacity - 1)) != 0)
    return SpecRule::event_capacity;
  return std::nullopt;
}

std::string describe(SpecRule rule, const RegistrySpec& s) {
  switch (rule) {
    case SpecRule::name:
      return "registry name '" + s.name + "' (" + std::to_string(s.name.size()) + " bytes) is not valid: a name is " +
             range(1, kMaxNameLen) + " bytes, with no spaces or control characters";
    case SpecRule::kind: return "registry '" + s.name + "': keys must be unique or duplicate";
    case SpecRule::partitions:
      return "registry '" + s.name + "': partitions " + std::to_string(s.partitions) + " is out of range " +
             range(1, kMaxPartitions);
    case SpecRule::max_key:
      return "registry '" + s.name + "': max_key " + std::to_string(s.max_key) + " is out of range " +
             range(1, kMaxKeyLen) + " bytes";
    case SpecRule::max_value:
      return "registry '" + s.name + "': max_value " + std::to_string(s.max_value) + " is out of range 0 to " +
             std::to_string(kMaxValueLen) + " bytes";
    case SpecRule::capacity:
      return "registry '" + s.name + "': capacity " + std::to_string(s.capacity) + " is out of range " +
             range(1, kMaxRecordsPerRegistry) + " entries";
    case SpecRule::event_capacity:
      return "registry '" + s.name + "': events " + std::to_string(s.event_capacity) +
             " is not a power of two from 2 to " + std::to_string(kMaxEventCapacity);
  }
  return "registry '" + s.name + "': invalid spec";
}

std::string difference(const RegistryView& existing, const RegistrySpec& s) {
  const auto differs = [](const char* option, std::uint64_t has, std::uint64_t asked) {
    return std::string(option) + " is " + std::to_string(has) + ", not " + std::to_string(asked);
  };
  if (existing.kind() != s.kind)
    return std::string("keys are ") + kind_name(existing.kind()) + ", not " + kind_name(s.kind);
  if (existing.partitions() != s.partitions) return differs("partitions", existing.partitions(), s.partitions);
  if (existing.max_key() != s.max_key) return differs("max_key", existing.max_key(), s.max_key);
  if (existing.max_value() != s.max_value) return differs("max_value", existing.max_value(), s.max_value);
  if (existing.capacity() != s.capacity) return differs("capacity", existing.capacity(), s.capacity);
  if (existing.event_capacity() != s.event_capacity) return differs("events", existing.event_capacity(), s.event_capacity);
  return {};
}

}  // namespace shmreg::shm
