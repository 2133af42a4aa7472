// The runtime directory (see runtime_dir.hpp).
#include "runtime_dir.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <cstdio>
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

namespace {

// The name of a file system type a runtime directory is likely to be on.
std::string fs_type_name(__fsword_t type) {
  switch (type) {
    case TMPFS_MAGIC: return "tmpfs";
    case EXT4_SUPER_MAGIC: return "ext4";
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
    default: {
      char hex[24];
      std::snprintf(hex, sizeof hex, "type 0x%lx", static_cast<unsigned long>(type));
      return hex;
    }
  }
}

}  // namespace

std::string RuntimeDir::space_text() const {
  struct statfs fs{};
  if (::fstatfs(fd_.get(), &fs) != 0) return std::string("file system unknown: ") + std::strerror(errno);
  const auto unit = static_cast<unsigned long long>(fs.f_bsize);
  return fs_type_name(fs.f_type) + ", " + std::to_string(unit * fs.f_bavail) + " of " +
         std::to_string(unit * fs.f_blocks) + " bytes free";
}

}  // namespace shmreg::broker
