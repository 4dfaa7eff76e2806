// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Work is split over output elements (row-major over [rows, O]) so a batch-1
// dense layer still spreads its output features across threads. The GEMM
// path splits over (row tile, column tile) pairs for the same reason.
#include "ops/fully_connected.h"

#include <algorithm>
#include <vector>

namespace gearshift {

void f32_fully_connected__ref(const FullyConnectedParams& p, const float* x, const float* w,
                              const float* bias, float* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  ParallelItems(pool, p.rows * out, in, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t r = idx / out, o = idx % out;
      const float* xp = x + r * in;
      const float* wp = w + o * in;
      float acc = bias != nullptr ? bias[o] : 0.0f;
      for (int64_t i = 0; i < in; ++i) acc += xp[i] * wp[i];
      y[idx] = Clamp(acc, p.act);
    }
  });
}

namespace {

inline void CallGemm(const F32GemmKernel& k, size_t m, size_t nc, size_t kc, const float* const* a,
                     const void* w, float* c, size_t c_stride, float lo, float hi) {
  k.fn(m, nc, kc, 1, a, static_cast<const float*>(w), c, c_stride, lo, hi);
}
inline void CallGemm(const F16wGemmKernel& k, size_t m, size_t nc, size_t kc, const float* const* a,
                     const void* w, float* c, size_t c_stride, float lo, float hi) {
  k.fn(m, nc, kc, 1, a, w, c, c_stride, lo, hi);
}

// The dense layer on a GEMM of either family; `block_bytes`: one packed
// block of NR columns.
template <typename Kernel>
void FullyConnectedGemm(const FullyConnectedParams& p, const Kernel& kernel, const void* packed,
                        size_t block_bytes, const float* x, float* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (p.rows + mr - 1) / mr, ntiles = (out + nr - 1) / nr;
  ParallelItems(pool, mtiles * ntiles, mr * nr * in, [&](int64_t begin, int64_t end) {
    const float* rows[kF32GemmMaxMr];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, p.rows - r0);
      // Rows past m repeat the last real one (kernels may read all MR).
      for (int64_t i = 0; i < mr; ++i) rows[i] = x + (r0 + std::min(i, m - 1)) * in;
      const int64_t n0 = nt * nr;
      CallGemm(kernel, static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out - n0)),
               static_cast<size_t>(in), rows,
               static_cast<const uint8_t*>(packed) + static_cast<size_t>(nt) * block_bytes,
               y + r0 * out + n0, static_cast<size_t>(out), p.act.lo, p.act.hi);
    }
  });
}

}  // namespace

void f32_fully_connected__gemm(const FullyConnectedParams& p, const F32GemmKernel& kernel,
                               const float* packed, const float* x, float* y, ThreadPool* pool) {
  const size_t block =
      F32GemmPackedBlockFloats(static_cast<size_t>(p.in_features), static_cast<size_t>(kernel.nr));
  FullyConnectedGemm(p, kernel, packed, block * sizeof(float), x, y, pool);
}

void f16w_fully_connected__gemm(const FullyConnectedParams& p, const F16wGemmKernel& kernel,
                                const void* packed, const float* x, float* y, ThreadPool* pool) {
  FullyConnectedGemm(
      p, kernel, packed,
      F16wGemmPackedBlockBytes(static_cast<size_t>(p.in_features), static_cast<size_t>(kernel.nr)),
      x, y, pool);
}

void f16_fully_connected__gemm(const FullyConnectedParams& p, const F16GemmKernel& kernel,
                               const void* packed, const float* x, float* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (p.rows + mr - 1) / mr, ntiles = (out + nr - 1) / nr;
  const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(in), static_cast<size_t>(nr));
  ParallelItems(pool, mtiles * ntiles, mr * nr * in, [&](int64_t begin, int64_t end) {
    // The row tile's inputs in half, converted once per tile (items are
    // row-tile major).
    std::vector<uint16_t> half(static_cast<size_t>(mr * in));
    const uint16_t* rows[kF32GemmMaxMr];
    int64_t have_mt = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, p.rows - r0);
      if (mt != have_mt) {
        have_mt = mt;
        kernel.convert(static_cast<size_t>(m * in), x + r0 * in, half.data());
        // Rows past m repeat the last real one (kernels may read all MR).
        for (int64_t i = 0; i < mr; ++i) rows[i] = half.data() + std::min(i, m - 1) * in;
      }
      const int64_t n0 = nt * nr;
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out - n0)),
                static_cast<size_t>(in), 1, rows,
                static_cast<const uint8_t*>(packed) + static_cast<size_t>(nt) * block,
                y + r0 * out + n0, static_cast<size_t>(out), p.act.lo, p.act.hi);
    }
  });
}

}  // namespace gearshift
