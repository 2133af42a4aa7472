// Random draws and named keys (see keys.hpp).
#include "keys.hpp"

#include <cstdio>

namespace shmreg::bench {

std::vector<std::uint32_t> random_indexes(std::uint32_t n, std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::uint32_t> v(count);
  for (auto& x : v) x = rng.below(n);
  return v;
}

std::string key_string(std::string_view prefix, std::uint64_t i) {
  std::string k(prefix);
  char digits[24];
  const int n = std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(i));
  k.append(digits, static_cast<std::size_t>(n));
  if (k.size() < kKeyLen) k.insert(prefix.size(), kKeyLen - k.size(), '.');
  return k;
}

std::string value_string(std::uint64_t i) {
  std::string v = "endpoint=unix:/run/e2e/" + std::to_string(i) + ";";
  v.resize(kValueLen, 'v');
  return v;
}

}  // namespace shmreg::bench
