// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp16-weight GEMM microkernel and the packing every variant
// shares. Plain loops, no intrinsics: f32_gemm_4x4__ref's loop with each
// weight widened (exactly) as it is read.
#include <algorithm>
#include <cstring>

#include "kernels/f16w_gemm/f16w_gemm.h"
#include "prepare/gear_weights.h"

namespace gearshift {

void PackF16wGemmWeights(size_t n, size_t k, size_t nr, const uint16_t* w, const float* bias,
                         void* packed) {
  uint8_t* out = static_cast<uint8_t*>(packed);
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    const size_t cols = std::min(nr, n - n0);
    for (size_t j = 0; j < nr; ++j) {
      const float b = (j < cols && bias != nullptr) ? bias[n0 + j] : 0.0f;
      std::memcpy(out + j * sizeof(float), &b, sizeof(float));
    }
    out += nr * sizeof(float);
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < nr; ++j) {
        const uint16_t h = j < cols ? w[(n0 + j) * k + kk] : 0;
        std::memcpy(out + j * sizeof(uint16_t), &h, sizeof(uint16_t));
      }
      out += nr * sizeof(uint16_t);
    }
  }
}

void f16w_gemm_4x4__ref(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                        const void* w, float* c, size_t c_stride, float lo, float hi) {
  constexpr size_t kMr = 4, kNr = 4;
  const float* bias = static_cast<const float*>(w);
  const uint16_t* wh = reinterpret_cast<const uint16_t*>(bias + kNr);
  for (size_t r = 0; r < mr; ++r) {
    for (size_t j = 0; j < nc; ++j) {
      float acc = bias[j];
      const uint16_t* wk = wh + j;
      for (size_t t = 0; t < ks; ++t) {
        const float* ar = a[t * kMr + r];
        for (size_t kk = 0; kk < kc; ++kk, wk += kNr) acc += ar[kk] * F16BitsToF32(*wk);
      }
      c[r * c_stride + j] = std::min(std::max(acc, lo), hi);
    }
  }
}

}  // namespace gearshift
