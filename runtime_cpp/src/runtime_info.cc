// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// GetRuntimeInfo(): the facts `gearshift info` and `gearshift-run --info`
// print: the reference path plus every ISA with kernels compiled into this
// binary (dispatch.h), and the CPU features as detected (and masked by
// GEARSHIFT_DISABLE, so the report matches what dispatch sees), and the
// variant per kernel family a default Runtime selects.
#include "cpu_features.h"
#include "dispatch.h"
#include "gearshift/gearshift.h"

namespace gearshift {

RuntimeInfo GetRuntimeInfo() {
  RuntimeInfo info;
  try {
    info.version = kVersion;
    info.isa_compiled = CompiledIsas();
    info.isa_detected = CpuFeatureNames(DetectCpuFeaturesMasked());
    KernelTable table;
    if (BuildKernelTable("", &table).ok()) info.isa_selected = SelectedKernels(table);
  } catch (...) {
    // Out of memory while building a few short strings: report what we have.
  }
  return info;
}

}  // namespace gearshift
