#include "shmreg/cluster/errc.hpp"

namespace shmreg::cluster {

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::cluster_unavailable: return "cluster_unavailable";
    case Errc::bad_reply: return "bad_reply";
    case Errc::rejected: return "rejected";
    case Errc::lease_not_found: return "lease_not_found";
    case Errc::compacted: return "compacted";
    case Errc::watch_closed: return "watch_closed";
    case Errc::invalid_argument: return "invalid_argument";
  }
  return "unknown";
}

}  // namespace shmreg::cluster
