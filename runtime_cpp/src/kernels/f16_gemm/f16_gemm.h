// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp16-arithmetic GEMM microkernels: the fp16 gear's convolutions and dense
// layers on CPUs with half-precision vector arithmetic (ARMv8.2 FEAT_FP16,
// dispatch token neon_fp16). Unlike f16w_gemm (half weights widened, fp32
// arithmetic), both operands are IEEE half and the products are summed in
// half (FMLA .8h, as XNNPACK's f16 kernels do): twice the multiply-adds per
// instruction of fp32. The op converts the input rows to half as it gathers
// them (F32ToF16Fn); the epilogue clamps in half and widens the results to
// fp32 (FCVTL), so every tensor between ops stays fp32. The accuracy this
// costs is stated in docs/QUANTIZATION.md (fp16 section).
//
// Same indirect (IGEMM) interface as f32_gemm.h, with half rows: `a` holds
// ks * MR row pointers (tap t, row i at a[t * MR + i]), each to kc halves.
// Packed block per NR output columns: NR half bias values, then K rows of
// NR half weights, zero-padded to NR.
#ifndef GEARSHIFT_KERNELS_F16_GEMM_F16_GEMM_H_
#define GEARSHIFT_KERNELS_F16_GEMM_F16_GEMM_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

using F16GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, size_t ks,
                                  const uint16_t* const* a, const void* w, float* c,
                                  size_t c_stride, float lo, float hi);

// y[i] = half(x[i]), round to nearest even (values beyond the half range
// become +-inf, as a hardware FCVTN does).
using F32ToF16Fn = void (*)(size_t n, const float* x, uint16_t* y);

// One kernel, its tile, and the input conversion compiled beside it.
struct F16GemmKernel {
  F16GemmUkernelFn fn = nullptr;
  int mr = 0, nr = 0;
  const char* name = "";
  F32ToF16Fn convert = nullptr;
};

#define GS_UKERNEL(isa, name, mr, nr, convert)                                                    \
  void name(size_t mr_, size_t nc, size_t kc, size_t ks, const uint16_t* const* a, const void* w, \
            float* c, size_t c_stride, float lo, float hi);                                       \
  void convert(size_t n, const float* x, uint16_t* y);
#include "kernels/f16_gemm/f16_gemm.inc"
#undef GS_UKERNEL

// Bytes of one packed block (half bias row + k half weight rows).
inline size_t F16GemmPackedBlockBytes(size_t k, size_t nr) {
  return (k + 1) * nr * sizeof(uint16_t);
}

// Packs w [n, k] row-major half bits (plus fp32 bias [n], rounded to half,
// or null) into `packed`, ceil(n / nr) * F16GemmPackedBlockBytes(k, nr)
// bytes.
void PackF16GemmWeights(size_t n, size_t k, size_t nr, const uint16_t* w, const float* bias,
                        void* packed);

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F16_GEMM_F16_GEMM_H_
