// The segment on huge pages (see huge_pages.hpp).
#include "huge_pages.hpp"

#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <vector>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1
#endif

namespace shmreg::broker {

namespace {

constexpr const char* kShmemEnabled = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";

std::string mib(std::uint64_t bytes) {
  if (bytes % (std::uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// mountinfo writes a space, tab, newline and backslash of a path as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The value of `name=` in a comma-separated option list, or nullopt.
std::optional<std::string> option_value(const std::string& options, const std::string& name) {
  std::istringstream in(options);
  for (std::string opt; std::getline(in, opt, ',');)
    if (opt.starts_with(name + "=")) return opt.substr(name.size() + 1);
  return std::nullopt;
}

struct MountLine {
  std::string mount_point, fs_type, super_options;
};

// The last mountinfo line of device dev. Bind mounts of one device share its
// super block, hence its options (huge= among them); the last line is the
// mount on top, the one a path reaches.
std::optional<MountLine> mount_of(dev_t dev) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string want = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  std::optional<MountLine> found;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    if (!(f >> id >> parent >> devno >> root >> point) || devno != want) continue;
    const auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    MountLine m{unescape(point), {}, {}};
    std::string source;
    tail >> m.fs_type >> source >> m.super_options;
    found = std::move(m);
  }
  return found;
}

// The bracketed word of shmem_enabled ("never", "deny", "force"...), or "".
std::string shmem_enabled() {
  std::ifstream in(kShmemEnabled);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto open = all.find('['), close = all.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  return all.substr(open + 1, close - open - 1);
}

constexpr const char* kWhatToMount =
    "a tmpfs with huge=within_size, huge=always or huge=advise, or a hugetlbfs";

void judge_tmpfs(SegmentMount& m, const std::string& super_options) {
  m.huge = option_value(super_options, "huge").value_or("never");
  const std::string global = shmem_enabled();
  if (global == "deny")
    m.missing = std::string("which gives no huge pages: the kernel denies them to every tmpfs (") + kShmemEnabled +
                " is deny)";
  else if (global != "force" && (m.huge == "never" || m.huge == "deny"))
    m.missing = std::string("which gives no huge pages: mount there ") + kWhatToMount;
}

}  // namespace

std::string SegmentMount::text() const {
  std::string t = fs_type.empty() ? std::string("an unknown file system") : fs_type;
  if (kind == Kind::tmpfs) t += " (huge=" + huge + ")";
  if (kind == Kind::hugetlbfs) t += " (" + mib(page_size) + " pages)";
  if (!mount_point.empty()) t += " mounted at " + mount_point;
  return t;
}

std::expected<SegmentMount, std::string> probe_segment_mount(int dir_fd) {
  struct statfs sfs{};
  struct stat st{};
  if (::fstatfs(dir_fd, &sfs) != 0 || ::fstat(dir_fd, &st) != 0)
    return std::unexpected(std::string("cannot read its file system: ") + std::strerror(errno));
  SegmentMount m;
  const auto line = mount_of(st.st_dev);
  if (line) {
    m.mount_point = line->mount_point;
    m.fs_type = line->fs_type;
  }
  if (static_cast<unsigned long>(sfs.f_type) == HUGETLBFS_MAGIC) {
    m.kind = SegmentMount::Kind::hugetlbfs;
    m.page_size = static_cast<std::size_t>(sfs.f_bsize);
    if (m.fs_type.empty()) m.fs_type = "hugetlbfs";
  } else if (static_cast<unsigned long>(sfs.f_type) == TMPFS_MAGIC) {
    m.kind = SegmentMount::Kind::tmpfs;
    if (m.fs_type.empty()) m.fs_type = "tmpfs";
    if (!line)
      return std::unexpected(std::string("no line of /proc/self/mountinfo for its tmpfs, so its huge= is unknown"));
    judge_tmpfs(m, line->super_options);
  } else {
    m.missing = std::string("which gives no huge pages: put the directory on ") + kWhatToMount;
  }
  return m;
}

std::size_t huge_segment_size(std::size_t asked, const SegmentMount& mount) noexcept {
  const std::size_t unit = mount.page_size != 0 ? mount.page_size : kPmdPageSize;
  return (asked + unit - 1) / unit * unit;
}

std::string HugePageUse::text() const {
  if (huge_bytes == 0) return "0 of " + mib(size) + " on huge pages";
  return mib(huge_bytes) + " of " + mib(size) + " on " + mib(page_size) + " pages";
}

std::optional<HugePageUse> huge_page_use(const void* base) {
  std::ifstream in("/proc/self/smaps");
  const auto want = reinterpret_cast<std::uintptr_t>(base);
  bool inside = false;
  HugePageUse use;
  std::uint64_t kernel_page_kb = 0, pmd_kb = 0, hugetlb_kb = 0;
  for (std::string line; std::getline(in, line);) {
    std::uintptr_t lo = 0, hi = 0;
    // A mapping's first line: "lo-hi perms offset dev inode path".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
      if (inside) break;
      inside = lo == want;
      if (inside) use.size = hi - lo;
      continue;
    }
    if (!inside) continue;
    char name[64];
    std::uint64_t kb = 0;
    if (std::sscanf(line.c_str(), "%63[^:]: %" SCNu64, name, &kb) != 2) continue;
    const std::string_view n(name);
    if (n == "KernelPageSize") kernel_page_kb = kb;
    else if (n == "ShmemPmdMapped" || n == "FilePmdMapped") pmd_kb += kb;
    else if (n == "Shared_Hugetlb" || n == "Private_Hugetlb") hugetlb_kb += kb;
  }
  if (use.size == 0) return std::nullopt;
  if (hugetlb_kb > 0) {
    use.huge_bytes = hugetlb_kb << 10;
    use.page_size = kernel_page_kb << 10;
  } else if (pmd_kb > 0) {
    use.huge_bytes = pmd_kb << 10;
    use.page_size = kPmdPageSize;
  }
  return use;
}

HugePageUse back_with_huge_pages(const std::byte* base, std::size_t size, const SegmentMount& mount,
                                 std::string* how) {
  void* p = const_cast<std::byte*>(base);
  // Read faults only: every page gets mapped, no byte changes.
  (void)::madvise(p, size, MADV_POPULATE_READ);
  HugePageUse use = huge_page_use(base).value_or(HugePageUse{size, 0, 0});
  if (use.whole() || mount.kind != SegmentMount::Kind::tmpfs || !mount.can_be_huge()) return use;
  // Small pages on a tmpfs that allows huge ones: huge=advise (the
  // reservation had no advice to follow), or a file made before the mount
  // allowed them. MADV_COLLAPSE copies each 2 MiB into a huge page in place.
  if (::madvise(p, size, MADV_HUGEPAGE) != 0 || ::madvise(p, size, MADV_COLLAPSE) != 0) {
    if (how != nullptr)
      *how = std::string("MADV_COLLAPSE failed: ") + std::strerror(errno) +
             (errno == EINVAL ? " (a kernel older than 6.1?)" : errno == EAGAIN || errno == ENOMEM
                                                                      ? " (no free 2 MiB of memory: fragmented?)"
                                                                      : "");
  } else if (how != nullptr) {
    *how = "collapsed into huge pages with MADV_COLLAPSE";
  }
  (void)::madvise(p, size, MADV_POPULATE_READ);
  return huge_page_use(base).value_or(use);
}

}  // namespace shmreg::broker
