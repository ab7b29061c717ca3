// Driver for fuzz targets in the ordinary (gcc) build: feeds every file of the seed corpus,
// then deterministic random inputs and single-byte mutations of each seed, to
// LLVMFuzzerTestOneInput. The mutations share one budget (kMutations, at least
// kMinMutationsPerSeed per seed), so a grown corpus keeps this a unit test of seconds. A crash or sanitizer report fails the test; the libFuzzer build
// (KEYMESH_FUZZ, clang-19) explores further.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
constexpr std::size_t kMutations = 20000;
constexpr std::size_t kMinMutationsPerSeed = 100;
constexpr std::size_t kMaxMutationsPerSeed = 2000;
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::vector<std::uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i], ec)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  std::mt19937_64 rng(0x6b65796d657368);
  std::size_t runs = 0;
  const std::size_t per_seed =
      seeds.empty() ? 0
                    : std::clamp(kMutations / seeds.size(), kMinMutationsPerSeed,
                                 kMaxMutationsPerSeed);
  for (const auto& s : seeds) {
    LLVMFuzzerTestOneInput(s.data(), s.size());
    ++runs;
    for (std::size_t m = 0; m < per_seed && !s.empty(); ++m) {
      auto copy = s;
      const int edits = 1 + int(rng() % 4);
      for (int e = 0; e < edits; ++e) copy[rng() % copy.size()] = std::uint8_t(rng());
      if (rng() % 8 == 0) copy.resize(rng() % (copy.size() + 1));
      LLVMFuzzerTestOneInput(copy.data(), copy.size());
      ++runs;
    }
  }
  for (int r = 0; r < 20000; ++r) {
    std::vector<std::uint8_t> buf(rng() % 512);
    for (auto& b : buf) b = std::uint8_t(rng());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
    ++runs;
  }
  std::printf("replayed %zu inputs from %zu seeds\n", runs, seeds.size());
  return 0;
}
