// Bytes in the CLI's JSON, losslessly. JSON strings are Unicode, values are
// bytes: a field whose bytes are valid UTF-8 is a JSON string under its own
// name ("value"); any other is base64 (RFC 4648, with padding) under the name
// with "_base64" appended ("value_base64"), and the plain name is absent.
// A reader takes whichever of the two is present. The same form is accepted
// where the CLI reads a value (--base64: the VALUE argument is base64).
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace shmreg::tools::cli {

[[nodiscard]] bool valid_utf8(std::string_view bytes) noexcept;

[[nodiscard]] std::string base64_encode(std::string_view bytes);

// nullopt when text is not base64 (a character outside the alphabet, a bad
// length or misplaced padding).
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

// Sets j[field] = bytes, or j[field + "_base64"] = base64(bytes) when they are
// not valid UTF-8.
void put_bytes(nlohmann::json& j, const std::string& field, std::string_view bytes);

}  // namespace shmreg::tools::cli
