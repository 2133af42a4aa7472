// The main of a fuzz target in the ordinary build: runs the target's
// LLVMFuzzerTestOneInput once on every file named on the command line, or in
// a directory named there (not recursively), in name order, so that a replay
// is reproducible. GCC builds it; no libFuzzer is needed. A finding is what it
// is under libFuzzer: a crash, an abort from the harness's own checks, or a
// sanitizer report in a sanitized build. It exits 1 when it replayed nothing,
// so that a corpus that went missing cannot pass for a clean one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_of(int argc, char** argv) {
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      files.push_back(arg);
      continue;
    }
    std::vector<fs::path> in_dir;
    for (const auto& e : fs::directory_iterator(arg))
      if (e.is_regular_file()) in_dir.push_back(e.path());
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  const auto files = inputs_of(argc, argv);
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::cerr << "replay: cannot read " << f << "\n";
      return 2;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cerr << "replay: " << f.filename().string() << " (" << bytes.size() << " bytes)\n";
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  if (files.empty()) {
    std::cerr << "replay: no input files\n";
    return 1;
  }
  std::cout << "replay: " << files.size() << " inputs, no finding\n";
  return 0;
}
