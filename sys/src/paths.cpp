#include "shmreg/sys/paths.hpp"

namespace shmreg::sys {

std::string namespace_lock_path(std::string_view ns) {
  std::string p = "/dev/shm/shmreg-lock.";
  p += ns;
  return p;
}

}  // namespace shmreg::sys
