// Fuzz target: JSON match patterns and guards (proto/pattern.hpp) and select
// specs (client/src/select.hpp), compiled from hostile text and run against
// hostile values.
//
// Input: fields separated by NUL bytes. Field 0 is compiled as a match
// pattern with field 1 as its guards, and on its own as a select spec. Every
// field from 1 on is then a value that what compiled is run against (for a
// select spec, field 1 is also the key, and the owner pid is 0 or 4242).
// Whatever compiles must answer consistently: a pattern that matches
// everything matches each value; a select spec selects exactly the entries
// it matches, only under the keys it names literally (when it names them
// all: literal_keys), and its result is JSON text.
//
// A crash, an abort from require(), an uncaught exception or a sanitizer
// report is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "select.hpp"
#include "shmreg/proto/pattern.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::string_view> fields_of(std::string_view input) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t nul = input.find('\0');
    fields.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) return fields;
    input.remove_prefix(nul + 1);
  }
}

void run_pattern(const std::vector<std::string_view>& fields) {
  const std::string_view guards = fields.size() > 1 ? fields[1] : std::string_view{};
  const auto matcher = shmreg::proto::Matcher::compile(fields[0], guards);
  if (!matcher) {
    require(!matcher.error().empty());
    return;
  }
  for (std::size_t i = 1; i < fields.size(); ++i) {
    const bool hit = matcher->matches(fields[i]);
    if (matcher->matches_everything()) require(hit);
  }
}

void run_select(const std::vector<std::string_view>& fields) {
  const auto spec = shmreg::client_detail::SelectSpec::compile(fields[0]);
  if (!spec) {
    require(!spec.error().empty());
    return;
  }
  const std::string_view key = fields.size() > 1 ? fields[1] : std::string_view{};
  const auto* literal = spec->literal_keys();
  const bool key_listed = literal == nullptr || std::find(literal->begin(), literal->end(), key) != literal->end();
  for (std::size_t i = 1; i < fields.size(); ++i) {
    for (const std::uint32_t pid : {0u, 4242u}) {
      const auto result = spec->select(key, pid, fields[i]);
      require(result.has_value() == spec->matches(key, pid, fields[i]));
      if (result) require(key_listed && nlohmann::json::accept(*result));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = fields_of(std::string_view(reinterpret_cast<const char*>(data), size));
  run_pattern(fields);
  run_select(fields);
  return 0;
}
