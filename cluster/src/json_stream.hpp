// Splitting a stream of JSON objects (a watch reply: one object per
// message, in chunks cut anywhere) into whole objects. Internal to
// shmreg_cluster.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace shmreg::cluster::detail {

enum class Split : std::uint8_t { complete, incomplete, malformed };

struct SplitResult {
  Split state = Split::incomplete;
  std::size_t begin = 0;  // complete: the object is [begin, end)
  std::size_t end = 0;
};

// Finds the first whole top-level object in buffer, after any whitespace.
// malformed when something other than '{' starts it; strings and their
// escapes are skipped, so a brace inside a key or value does not count.
SplitResult split_json_object(std::string_view buffer);

}  // namespace shmreg::cluster::detail
