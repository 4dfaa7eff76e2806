// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 GEMM microkernels on fp16 weights, the fp16 gear's convolutions and
// dense layers on CPUs without fp16 arithmetic: the packed weights stay IEEE
// half (half the memory of an fp32 pack) and each kernel widens them as it
// loads them (F16C VCVTPH2PS on x86, FCVTL/VCVT.F32.F16 on ARM), then
// multiplies and adds in fp32. Widening is exact, and every variant keeps
// the tile and the FMA order of the f32_gemm kernel of the same ISA and
// tile, so its output is bit for bit that kernel's on the widened weights.
// Same indirect (IGEMM) interface as f32_gemm.h; only the packed block
// differs: per block of NR output columns, NR fp32 bias values, then K rows
// of NR half weights (bits), zero-padded to NR.
#ifndef GEARSHIFT_KERNELS_F16W_GEMM_F16W_GEMM_H_
#define GEARSHIFT_KERNELS_F16W_GEMM_F16W_GEMM_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

// As F32GemmUkernelFn, with `w` one packed block of this layout (the bias
// floats at its start are 4-byte aligned when the pack is).
using F16wGemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, size_t ks,
                                   const float* const* a, const void* w, float* c, size_t c_stride,
                                   float lo, float hi);

// One kernel and its tile (dispatch.h picks one per Runtime).
struct F16wGemmKernel {
  F16wGemmUkernelFn fn = nullptr;
  int mr = 0, nr = 0;
  const char* name = "";
};

#define GS_UKERNEL(isa, name, mr, nr)                                                          \
  void name(size_t mr_, size_t nc, size_t kc, size_t ks, const float* const* a, const void* w, \
            float* c, size_t c_stride, float lo, float hi);
#include "kernels/f16w_gemm/f16w_gemm.inc"
#undef GS_UKERNEL

// Bytes of one packed block (fp32 bias row + k half weight rows).
inline size_t F16wGemmPackedBlockBytes(size_t k, size_t nr) {
  return nr * sizeof(float) + k * nr * sizeof(uint16_t);
}

// Packs w [n, k] row-major half bits (plus fp32 bias [n] or null) into
// `packed`, ceil(n / nr) * F16wGemmPackedBlockBytes(k, nr) bytes.
void PackF16wGemmWeights(size_t n, size_t k, size_t nr, const uint16_t* w, const float* bias,
                         void* packed);

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F16W_GEMM_F16W_GEMM_H_
