// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// libFuzzer harness for the whole runtime: load a .gear file from memory,
// then on every gear switch, prepare small fixed input shapes and run one
// inference (run_gear_file.h). Every input must either run or fail with a
// Status, never crash, read out of bounds or hit undefined behaviour. Built
// only with -DGEARSHIFT_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined);
// `make fuzz` runs it on fuzz/corpus/gear (the same seeds as
// fuzz_gear_reader), and tests/cpp/fuzz_corpus_test.cc replays those seeds.
//
// Which kernels run follows the sum of the input's bytes (so a crash
// reproduces from the file alone): bit 0 picks the reference kernels or the
// best ISA of this CPU, bit 1 Run (float32) or RunIo (interface dtypes).
// GEARSHIFT_FUZZ_TRACE=1 prints one line per gear with the status of its
// run, to check that the seeds reach the kernels:
//   GEARSHIFT_FUZZ_TRACE=1 build-fuzz/fuzz_gear_run fuzz/corpus/gear/*
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "run_gear_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool trace = std::getenv("GEARSHIFT_FUZZ_TRACE") != nullptr;
  unsigned sum = 0;
  for (size_t i = 0; i < size; ++i) sum += data[i];
  gearshift::fuzz::RunOptions options;
  options.isa = sum % 2 == 0 ? "ref" : "";
  options.io = (sum / 2) % 2 == 1;
  options.trace = trace;
  (void)gearshift::fuzz::RunGearFile(data, size, options);
  return 0;
}
