// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 GEMM microkernels: one MR x NR tile of C = A * B + bias, clamped to
// [lo, hi] (the fused activation), over the full K = ks * kc. They are
// indirect (IGEMM, as XNNPACK calls it): A is given as ks groups of MR row
// pointers, each to kc contiguous floats, so a convolution points every tap
// of every output pixel straight into the NHWC input (or at a zero row where
// the tap falls in the padding) and nothing is copied, for any kernel size
// and channel count. Dense layers and 1x1 convolutions are ks = 1. B is
// pre-packed once per plan by PackF32GemmWeights: per block of NR output
// columns, NR bias values then K rows of NR weights, zero-padded to NR (a
// [O, KH, KW, C] filter is already tap-major, so packing does not change).
// Microkernels own only this inner loop; ops own shapes, packing, threading.
#ifndef GEARSHIFT_KERNELS_F32_GEMM_F32_GEMM_H_
#define GEARSHIFT_KERNELS_F32_GEMM_F32_GEMM_H_

#include <cstddef>

namespace gearshift {

// mr in [1, MR] rows, nc in [1, NR] columns of the packed block `w` are
// stored; c row r starts at c + r * c_stride (floats). Tap t of row r is
// a[t * MR + r] (MR = the kernel's tile rows); callers fill all MR rows of
// every tap (rows >= mr repeat a real row: computed, never stored), so a
// kernel needs no per-tap row checks. kc, ks >= 1.
using F32GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, size_t ks,
                                  const float* const* a, const float* w, float* c,
                                  size_t c_stride, float lo, float hi);

// One GEMM microkernel and its tile (dispatch.h picks one per Runtime).
struct F32GemmKernel {
  F32GemmUkernelFn fn = nullptr;
  int mr = 0, nr = 0;
  const char* name = "";
};

// Largest MR of any variant; callers keep MR row pointers on the stack.
constexpr int kF32GemmMaxMr = 12;

#define GS_UKERNEL(isa, name, mr, nr)                                                   \
  void name(size_t mr_, size_t nc, size_t kc, size_t ks, const float* const* a,          \
            const float* w, float* c, size_t c_stride, float lo, float hi);
#include "kernels/f32_gemm/f32_gemm.inc"
#undef GS_UKERNEL

// Floats one packed weight block takes (bias row + k weight rows).
inline size_t F32GemmPackedBlockFloats(size_t k, size_t nr) { return (k + 1) * nr; }

// Packs w [n, k] row-major (plus bias [n] or null) into `packed`, which holds
// ceil(n / nr) * F32GemmPackedBlockFloats(k, nr) floats.
void PackF32GemmWeights(size_t n, size_t k, size_t nr, const float* w, const float* bias,
                        float* packed);

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_GEMM_F32_GEMM_H_
