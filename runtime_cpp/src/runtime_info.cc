// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// GetRuntimeInfo(): the facts `gearshift info` and `gearshift-run --info`
// print. Only the reference kernels are compiled in so far.
#include "cpu_features.h"
#include "gearshift/gearshift.h"

namespace gearshift {

RuntimeInfo GetRuntimeInfo() {
  RuntimeInfo info;
  try {
    info.version = kVersion;
    info.isa_compiled = {"ref"};
    info.isa_detected = CpuFeatureNames(DetectCpuFeatures());
  } catch (...) {
    // Out of memory while building a few short strings: report what we have.
  }
  return info;
}

}  // namespace gearshift
