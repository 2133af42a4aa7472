// Standard base64 with padding (RFC 4648, section 4): how etcd's JSON
// gateway carries keys and values, and how cluster registries carry an
// entry's value bytes inside their JSON (docs/cluster.md).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shmreg::cluster {

[[nodiscard]] std::string base64_encode(std::string_view bytes);
// nullopt when text is not base64: a length that is not a multiple of 4, a
// character outside the alphabet, or padding anywhere but at the end.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace shmreg::cluster
