#include "json_stream.hpp"

namespace shmreg::cluster::detail {

SplitResult split_json_object(std::string_view buffer) {
  std::size_t i = 0;
  while (i < buffer.size() && (buffer[i] == ' ' || buffer[i] == '\n' || buffer[i] == '\r' || buffer[i] == '\t')) ++i;
  if (i == buffer.size()) return {Split::incomplete, i, i};
  if (buffer[i] != '{') return {Split::malformed, i, i};
  const std::size_t begin = i;
  std::size_t depth = 0;
  bool in_string = false;
  for (; i < buffer.size(); ++i) {
    const char c = buffer[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return {Split::malformed, begin, i};
      if (--depth == 0) return {Split::complete, begin, i + 1};
    }
  }
  return {Split::incomplete, begin, begin};
}

}  // namespace shmreg::cluster::detail
