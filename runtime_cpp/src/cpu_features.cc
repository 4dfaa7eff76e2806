// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX and AVX-512 also need OS support for the wider registers (XSAVE state
// enabled in XCR0), so a CPU flag alone is not enough.
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

#include <cstdint>

namespace gearshift {
namespace {

#if defined(__x86_64__) || defined(__i386__)
uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

void DetectX86(CpuFeatures* f) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return;
  const bool osxsave = (ecx >> 27) & 1;
  const bool avx = (ecx >> 28) & 1;
  const uint64_t xcr0 = osxsave ? ReadXcr0() : 0;
  const bool ymm_ok = (xcr0 & 0x6) == 0x6;           // SSE and AVX state
  const bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM hi halves
  f->fma = ymm_ok && avx && ((ecx >> 12) & 1);
  f->f16c = ymm_ok && avx && ((ecx >> 29) & 1);
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    f->avx2 = ymm_ok && avx && ((ebx >> 5) & 1);
    f->avx512f = zmm_ok && ((ebx >> 16) & 1);
    f->avx512bw = zmm_ok && ((ebx >> 30) & 1);
    f->avx512vl = zmm_ok && ((ebx >> 31) & 1);
    f->avx512_vnni = zmm_ok && ((ecx >> 11) & 1);
    f->avx512_vbmi = zmm_ok && ((ecx >> 1) & 1);
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    f->avx_vnni = ymm_ok && avx && ((eax >> 4) & 1);
  }
}
#endif

}  // namespace

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  DetectX86(&f);
#elif defined(__aarch64__)
#if defined(__linux__)
  // Bits from the kernel's arch/arm64/include/uapi/asm/hwcap.h.
  const unsigned long hwcap = getauxval(AT_HWCAP);    // NOLINT(runtime/int)
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);  // NOLINT(runtime/int)
  f.asimd = (hwcap & (1UL << 1)) != 0;       // HWCAP_ASIMD
  f.neon_fp16 = (hwcap & (1UL << 10)) != 0;  // HWCAP_ASIMDHP
  f.neon_dot = (hwcap & (1UL << 20)) != 0;   // HWCAP_ASIMDDP
  f.i8mm = (hwcap2 & (1UL << 13)) != 0;      // HWCAP2_I8MM
#else
  f.asimd = true;  // mandatory in the AArch64 base ISA
#endif
  f.neon = f.asimd;
#elif defined(__arm__) && defined(__linux__)
  // armv7: NEON only; the dot product and fp16 vector extensions are AArch64
  // features as far as this runtime is concerned.
  f.neon = (getauxval(AT_HWCAP) & (1UL << 12)) != 0;  // HWCAP_NEON
#endif
  return f;
}

std::vector<std::string> CpuFeatureNames(const CpuFeatures& f) {
  std::vector<std::string> names;
  if (f.avx2) names.push_back("avx2");
  if (f.fma) names.push_back("fma");
  if (f.f16c) names.push_back("f16c");
  if (f.avx512f) names.push_back("avx512f");
  if (f.avx512bw) names.push_back("avx512bw");
  if (f.avx512vl) names.push_back("avx512vl");
  if (f.neon) names.push_back("neon");
  if (f.asimd) names.push_back("asimd");
  if (f.neon_dot) names.push_back("neon_dot");
  if (f.neon_fp16) names.push_back("neon_fp16");
  if (f.i8mm) names.push_back("i8mm");
  if (f.avx512_vnni) names.push_back("avx512_vnni");
  if (f.avx512_vbmi) names.push_back("avx512_vbmi");
  if (f.avx_vnni) names.push_back("avx_vnni");
  return names;
}

}  // namespace gearshift
