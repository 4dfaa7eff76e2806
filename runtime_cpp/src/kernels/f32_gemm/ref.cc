// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 GEMM microkernel and the weight packing every variant
// shares. Plain loops, no intrinsics, on purpose: this is what the ISA
// variants are tested against, and the fallback where none exists.
#include <algorithm>

#include "kernels/f32_gemm/f32_gemm.h"

namespace gearshift {

void PackF32GemmWeights(size_t n, size_t k, size_t nr, const float* w, const float* bias,
                        float* packed) {
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    const size_t cols = std::min(nr, n - n0);
    for (size_t j = 0; j < nr; ++j) {
      packed[j] = (j < cols && bias != nullptr) ? bias[n0 + j] : 0.0f;
    }
    packed += nr;
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < nr; ++j) packed[j] = j < cols ? w[(n0 + j) * k + kk] : 0.0f;
      packed += nr;
    }
  }
}

void f32_gemm_4x4__ref(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                       const float* w, float* c, size_t c_stride, float lo, float hi) {
  constexpr size_t kMr = 4, kNr = 4;
  for (size_t r = 0; r < mr; ++r) {
    for (size_t j = 0; j < nc; ++j) {
      float acc = w[j];
      const float* wk = w + kNr + j;
      for (size_t t = 0; t < ks; ++t) {
        const float* ar = a[t * kMr + r];
        for (size_t kk = 0; kk < kc; ++kk, wk += kNr) acc += ar[kk] * *wk;
      }
      c[r * c_stride + j] = std::min(std::max(acc, lo), hi);
    }
  }
}

}  // namespace gearshift
