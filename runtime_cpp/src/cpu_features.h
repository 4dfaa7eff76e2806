// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// What the CPU we run on offers, detected once per call (no cached global
// state): cpuid/xgetbv on x86-64, getauxval(AT_HWCAP) on Linux ARM. Kernel
// dispatch and GetRuntimeInfo() read it. Other targets report nothing.
#ifndef GEARSHIFT_CPU_FEATURES_H_
#define GEARSHIFT_CPU_FEATURES_H_

#include <string>
#include <vector>

namespace gearshift {

struct CpuFeatures {
  // x86-64
  bool avx2 = false, fma = false, f16c = false, avx512f = false;
  bool avx512bw = false, avx512vl = false;
  // x86-64 VNNI (int8 dot products, VPDPBUSD): the int8 GEMM's fastest path
  bool avx512_vnni = false, avx_vnni = false;
  bool avx512_vbmi = false;  // VPERMB/VPERMI2B (Ice Lake, Zen 4 and later)
  // ARM: NEON on armv7, ASIMD (always present) on aarch64
  bool neon = false, asimd = false;
  // aarch64 only (armv7 has none of these): SDOT/UDOT (HWCAP_ASIMDDP), fp16
  // vector arithmetic (HWCAP_ASIMDHP), int8 matrix multiply (HWCAP2_I8MM)
  bool neon_dot = false, neon_fp16 = false, i8mm = false;
};

CpuFeatures DetectCpuFeatures();

// Names of the detected features, e.g. {"avx2", "fma", "f16c"} or {"neon",
// "asimd", "neon_dot", "neon_fp16"}.
std::vector<std::string> CpuFeatureNames(const CpuFeatures& f);

}  // namespace gearshift

#endif  // GEARSHIFT_CPU_FEATURES_H_
