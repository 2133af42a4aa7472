// The runtime directory (see runtime_dir.hpp).
#include "runtime_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "shmreg/sys/file_check.hpp"

namespace shmreg::broker {

std::expected<RuntimeDir, std::string> RuntimeDir::open(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path dir(path);
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return std::unexpected("cannot create the runtime directory " + path + ": " + std::strerror(errno));
  const std::array<uid_t, 2> owners{::geteuid(), 0};
  const sys::FileRule rule{.kind = sys::FileKind::directory,
                           .owners = std::span<const uid_t>(owners.data(), owners[0] == 0 ? 1 : 2),
                           .forbidden_bits = 022,
                           .single_link = false};
  auto fd = sys::open_checked(AT_FDCWD, path, path, O_RDONLY | O_DIRECTORY, rule);
  if (!fd) return std::unexpected("runtime directory: " + fd.error());
  return RuntimeDir(std::move(*fd), path);
}

}  // namespace shmreg::broker
