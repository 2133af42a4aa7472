// Fuzz target: the broker's configuration file parser, then its check
// against a live segment.
//
// Input: the text of a configuration file. parse_settings() must turn it
// into Settings or into problems, each with a reason; Settings that parse
// are then validated as a reload would validate them (validate_settings())
// against a live segment: the sample segment (sample_segment.hpp), made once
// per process in a fresh temporary directory and removed at exit. Nothing
// is ever applied, so every input meets the same segment.
//
// A crash, an abort from require(), an uncaught exception or a sanitizer
// report is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "config_file.hpp"
#include "sample_segment.hpp"
#include "settings_apply.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace {

namespace broker = shmreg::broker;

constexpr const char* kSegmentName = "config-fuzz.segment";

void require(bool ok) {
  if (!ok) std::abort();
}

// The segment settings are checked against, for the whole run.
struct LiveSegment {
  std::string dir;
  shmreg::sys::UniqueFd dir_fd;
  shmreg::shm::SegmentWriter writer;

  static LiveSegment& get() {
    static LiveSegment* live = make();
    return *live;
  }

 private:
  static LiveSegment* make() {
    std::string dir = (std::filesystem::temp_directory_path() / "shmreg-config-fuzz-XXXXXX").string();
    require(::mkdtemp(dir.data()) != nullptr);
    shmreg::sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    require(fd.get() >= 0);
    auto w = shmreg::fuzz::make_sample_segment(fd.get(), kSegmentName);
    if (!w) std::cerr << "config fuzz: the sample segment failed: " << shmreg::shm::to_string(w.error()) << "\n";
    require(w.has_value());
    static std::string removed_at_exit;
    removed_at_exit = dir;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(removed_at_exit, ec);
    });
    return new LiveSegment{std::move(dir), std::move(fd), std::move(*w)};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = broker::parse_settings(text, "fuzz.toml");
  if (!parsed) {
    require(!parsed.error().empty());
    for (const broker::ConfigProblem& p : parsed.error()) require(!p.reason.empty() && !p.text().empty());
    return 0;
  }
  LiveSegment& live = LiveSegment::get();
  const auto reasons = broker::validate_settings(*parsed, live.writer, {live.dir_fd.get(), kSegmentName});
  for (const std::string& r : reasons) require(!r.empty());
  return 0;
}
