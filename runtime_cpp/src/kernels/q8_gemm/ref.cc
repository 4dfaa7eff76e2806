// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference int8 GEMM: the plain-loop oracle on unpacked operands, the
// weight packing and the requantizing epilogue every variant shares, the
// tile walker, and the 4x4 reference microkernel. Plain loops, no
// intrinsics, on purpose; compiled with baseline flags, so the inline
// requant.h functions used here never carry ISA-specific code.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/q8_gemm/q8_gemm.h"
#include "requant.h"

namespace gearshift {
namespace {

int32_t LoadI32(const void* p, size_t i) {
  int32_t v;
  std::memcpy(&v, static_cast<const char*>(p) + i * sizeof(int32_t), sizeof(v));
  return v;
}

// int32 wrap-around addition (defined behaviour through uint32).
int32_t WrapAdd(int32_t a, int64_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

int8_t OutputStage(int32_t acc, int32_t multiplier, int32_t shift, const Q8GemmOutput& out) {
  const int64_t scaled = out.single_rounding
                             ? MultiplyByQuantizedMultiplierSingleRounding(acc, multiplier, shift)
                             : int64_t{MultiplyByQuantizedMultiplier(acc, multiplier, shift)};
  const int64_t v = scaled + out.c_zero_point;
  return static_cast<int8_t>(std::min<int64_t>(std::max<int64_t>(v, out.act_min), out.act_max));
}

}  // namespace

void PackQ8GemmWeights(const Q8GemmKernel& kernel, size_t n, size_t k, const int8_t* b,
                       const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                       int32_t a_zero_point, void* packed) {
  const auto nr = static_cast<size_t>(kernel.nr);
  const auto kr = static_cast<size_t>(kernel.kr);
  a_zero_point += kernel.a_offset;
  auto* p = static_cast<char*>(packed);
  const size_t kp = (k + kr - 1) / kr * kr;
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    const size_t cols = std::min(nr, n - n0);
    std::vector<int32_t> head(3 * nr, 0);
    for (size_t j = 0; j < cols; ++j) {
      int64_t sum = 0;
      for (size_t kk = 0; kk < k; ++kk) sum += b[(n0 + j) * k + kk];
      head[j] = WrapAdd(bias != nullptr ? bias[n0 + j] : 0, -int64_t{a_zero_point} * sum);
      head[nr + j] = multiplier[n0 + j];
      head[2 * nr + j] = shift[n0 + j];
    }
    std::memcpy(p, head.data(), head.size() * sizeof(int32_t));
    auto* w = reinterpret_cast<int8_t*>(p + head.size() * sizeof(int32_t));
    for (size_t k0 = 0; k0 < kp; k0 += kr) {
      for (size_t j = 0; j < nr; ++j) {
        for (size_t kk = k0; kk < k0 + kr; ++kk) {
          *w++ = (j < cols && kk < k) ? b[(n0 + j) * k + kk] : 0;
        }
      }
    }
    p += Q8GemmPackedBlockBytes(k, nr, kr);
  }
}

void Q8GemmRequantizeTile(size_t mr, size_t nc, const int32_t* acc, size_t acc_stride,
                          const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out,
                          int8_t* c, size_t c_stride) {
  for (size_t r = 0; r < mr; ++r) {
    for (size_t j = 0; j < nc; ++j) {
      c[r * c_stride + j] = OutputStage(acc[r * acc_stride + j], multiplier[j], shift[j], out);
    }
  }
}

void FlipRows(int8_t* dst, const int8_t* src, size_t n, uint8_t flip) {
  // A plain loop the compiler vectorises.
  const auto* s = reinterpret_cast<const uint8_t*>(src);
  auto* d = reinterpret_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(s[i] ^ flip);
}

void RunQ8Gemm(const Q8GemmKernel& kernel, size_t m, size_t n, size_t k, const int8_t* a,
               size_t a_stride, int32_t a_zero_point, const int8_t* b, const int32_t* bias,
               const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out, int8_t* c,
               size_t c_stride) {
  std::vector<int8_t> flipped;
  if (kernel.a_offset != 0) {  // the kernel reads x + 128 as unsigned bytes
    flipped.resize(m * k);
    for (size_t r = 0; r < m; ++r) FlipRows(flipped.data() + r * k, a + r * a_stride, k, 0x80);
    a = flipped.data();
    a_stride = k;
  }
  const auto nr = static_cast<size_t>(kernel.nr);
  const auto mr = static_cast<size_t>(kernel.mr);
  const size_t block = Q8GemmPackedBlockBytes(k, nr, kernel.kr);
  // int32 elements, so the block heads are 4-byte aligned.
  std::vector<int32_t> packed(((n + nr - 1) / nr * block + 3) / 4);
  PackQ8GemmWeights(kernel, n, k, b, bias, multiplier, shift, a_zero_point, packed.data());
  const auto* w = reinterpret_cast<const char*>(packed.data());
  for (size_t r0 = 0; r0 < m; r0 += mr) {
    if (kernel.wide_nc) {  // the whole row of column blocks in one call
      kernel.fn(std::min(mr, m - r0), n, k, a + r0 * a_stride, a_stride, w, c + r0 * c_stride,
                c_stride, &out);
      continue;
    }
    for (size_t n0 = 0, nb = 0; n0 < n; n0 += nr, ++nb) {
      kernel.fn(std::min(mr, m - r0), std::min(nr, n - n0), k, a + r0 * a_stride, a_stride,
                w + nb * block, c + r0 * c_stride + n0, c_stride, &out);
    }
  }
}

void Q8GemmReference(size_t m, size_t n, size_t k, const int8_t* a, size_t a_stride,
                     int32_t a_zero_point, const int8_t* b, const int32_t* bias,
                     const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out,
                     int8_t* c, size_t c_stride) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int32_t acc = bias != nullptr ? bias[j] : 0;
      for (size_t kk = 0; kk < k; ++kk) {
        acc = WrapAdd(acc, (int64_t{a[i * a_stride + kk]} - a_zero_point) * b[j * k + kk]);
      }
      c[i * c_stride + j] = OutputStage(acc, multiplier[j], shift[j], out);
    }
  }
}

void q8_gemm_4x4__ref(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                      const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 4;
  const auto* weights = reinterpret_cast<const int8_t*>(w) + 3 * kNr * sizeof(int32_t);
  int32_t acc[kQ8GemmMaxMr * kNr];
  for (size_t r = 0; r < mr; ++r) {
    for (size_t j = 0; j < kNr; ++j) {
      int32_t sum = LoadI32(w, j);
      for (size_t kk = 0; kk < kc; ++kk) {
        sum = WrapAdd(sum, int32_t{a[r * a_stride + kk]} * weights[kk * kNr + j]);
      }
      acc[r * kNr + j] = sum;
    }
  }
  int32_t mult[kNr], shift[kNr];
  for (size_t j = 0; j < kNr; ++j) {
    mult[j] = LoadI32(w, kNr + j);
    shift[j] = LoadI32(w, 2 * kNr + j);
  }
  Q8GemmRequantizeTile(mr, nc, acc, kNr, mult, shift, *out, c, c_stride);
}

}  // namespace gearshift
