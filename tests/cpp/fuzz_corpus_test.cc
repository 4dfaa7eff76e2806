// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Replays the committed fuzz corpus (fuzz/corpus/gear) through the body of the
// fuzz_gear_run harness, in the ordinary test build and under ASan+UBSan
// (make test-asan), so that a crash the fuzzer once found stays fixed without
// clang or libFuzzer. Every valid seed (seed_*, golden_*) must load and run
// every gear with the reference kernels and the best ISA here, through Run and
// RunIo; a regression seed (regress_*) must merely not crash.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "run_gear_file.h"

namespace gearshift {
namespace {

std::vector<std::string> CorpusFiles() {
  std::vector<std::string> names;
  DIR* dir = opendir(GEARSHIFT_FUZZ_CORPUS_DIR);
  if (dir == nullptr) return names;
  while (const dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gear") == 0) names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzCorpusTest, EverySeedLoadsAndRunsEveryGear) {
  const std::vector<std::string> names = CorpusFiles();
  ASSERT_GE(names.size(), 30u) << "fuzz corpus missing or short: " << GEARSHIFT_FUZZ_CORPUS_DIR;
  int regressions = 0;
  for (const std::string& name : names) {
    const std::vector<uint8_t> bytes =
        ReadFile(std::string(GEARSHIFT_FUZZ_CORPUS_DIR) + "/" + name);
    ASSERT_FALSE(bytes.empty()) << name;
    const bool must_run = name.rfind("regress_", 0) != 0;
    regressions += must_run ? 0 : 1;
    for (const char* isa : {"ref", ""}) {
      for (bool io : {false, true}) {
        fuzz::RunOptions options;
        options.isa = isa;
        options.io = io;
        const fuzz::RunResult r = fuzz::RunGearFile(bytes.data(), bytes.size(), options);
        if (!must_run) continue;
        SCOPED_TRACE(name + (io ? " RunIo" : " Run") + " isa '" + isa + "'");
        EXPECT_TRUE(r.loaded);
        EXPECT_GE(r.gears, 1);
        EXPECT_EQ(r.runs_ok, r.gears);
      }
    }
  }
  RecordProperty("regression_seeds", regressions);
}

}  // namespace
}  // namespace gearshift
