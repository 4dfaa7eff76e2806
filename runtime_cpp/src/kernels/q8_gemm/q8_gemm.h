// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 GEMM microkernels (the int8 gear's dense layers and 1x1 convolutions):
// one MR x NR tile of C[m][n] = clamp(requant(sum_k (A[m][k] - a_zp) *
// B[n][k] + bias[n], multiplier[n], shift[n]) + c_zp, act_min, act_max)
// (requant: double or single rounding, as Q8GemmOutput says), with
// A int8 activations (rows a_stride bytes apart), B int8 symmetric per-channel
// weights [N][K]. B is packed once per layer by PackQ8GemmWeights: per block
// of NR output columns, NR int32 folded biases bias'[n] = bias[n] - a_zp *
// sum_k B[n][k] (so no kernel subtracts a_zp in its inner loop; int32
// arithmetic is exact modulo 2^32, so the result is bit-identical), NR int32
// multipliers, NR int32 shifts, then ceil(K / KR) groups of [NR][KR] int8
// weights, zero-padded in both N and K. Every variant accumulates in int32
// and requantizes TFLite's double rounding in registers (q8_requant/*.h,
// each bit for bit requant.h, tested over the whole int32 range); the
// single rounding of FULLY_CONNECTED goes through Q8GemmRequantizeTile
// (ref.cc), so all ISAs round identically.
#ifndef GEARSHIFT_KERNELS_Q8_GEMM_Q8_GEMM_H_
#define GEARSHIFT_KERNELS_Q8_GEMM_Q8_GEMM_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

// Output stage of one call: the output zero point, the clamp range and the
// rounding: TFLite's double-rounding MultiplyByQuantizedMultiplier (CONV_2D)
// or, with single_rounding, its single-rounding form (FULLY_CONNECTED, as
// LiteRT's reference kernel; requant.h).
struct Q8GemmOutput {
  int32_t c_zero_point = 0;
  int32_t act_min = -128;
  int32_t act_max = 127;
  bool single_rounding = false;
};

// mr in [1, MR] rows of A (row r at a + r * a_stride), nc in [1, NR]
// columns of the packed block `w` stored to c (row r at c + r * c_stride).
// A kernel with wide_nc also takes nc > NR: the columns of ceil(nc / NR)
// consecutive packed blocks from `w` (one call per row tile, so the
// per-call set-up is paid once per row tile, not once per column block).
using Q8GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                 const void* w, int8_t* c, size_t c_stride,
                                 const Q8GemmOutput* out);

// One int8 GEMM microkernel, its tile, its weight layout (KR) and the
// offset its activations carry: 128 for the VNNI kernels, whose VPDPBUSD
// multiplies unsigned by signed bytes: their A rows must hold x ^ 0x80 =
// x + 128 as unsigned bytes (the drivers flip each row tile once, FlipRows)
// and the packing folds (a_zp + 128) * sum_k B into the bias.
struct Q8GemmKernel {
  Q8GemmUkernelFn fn = nullptr;
  int mr = 0, nr = 0, kr = 1;
  const char* name = "";
  int a_offset = 0;
  int wmin = -128;       // the least weight value the kernel is exact for
  bool wide_nc = false;  // takes nc > nr (see Q8GemmUkernelFn)
};

constexpr int kQ8GemmMaxMr = 8;
constexpr int kQ8GemmMaxNr = 16;

#define GS_UKERNEL(isa, name, mr, nr, kr, a_offset, wmin, wide_nc)                             \
  void name(size_t mr_, size_t nc, size_t kc, const int8_t* a, size_t a_stride, const void* w, \
            int8_t* c, size_t c_stride, const Q8GemmOutput* out);
#include "kernels/q8_gemm/q8_gemm.inc"
#undef GS_UKERNEL

// Bytes of one packed block of NR columns.
inline size_t Q8GemmPackedBlockBytes(size_t k, size_t nr, size_t kr) {
  return 3 * sizeof(int32_t) * nr + (k + kr - 1) / kr * kr * nr;
}

// Packs b [n][k] row-major, bias [n] (or null), multiplier [n], shift [n]
// and the activation zero point (plus kernel.a_offset) for `kernel` into
// `packed`, which holds ceil(n / nr) * Q8GemmPackedBlockBytes(k, nr, kr) bytes.
void PackQ8GemmWeights(const Q8GemmKernel& kernel, size_t n, size_t k, const int8_t* b,
                       const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                       int32_t a_zero_point, void* packed);

// int4 packs (the q4 gear's weights, 4-bit in memory): per block of NR
// columns the int8 block's int32 head, then its ceil(K / KR) * KR * NR weight
// bytes as signed nibbles r (byte i of the int8 layout is nibble i, low
// first), then ceil(K / block) x NR bytes of q4m multipliers m (block b of
// column j at b * NR + j), the weight being m * r; padded to 4 bytes.
size_t Q4GemmPackedBlockBytes(size_t k, size_t nr, size_t kr, size_t block);
// Packs an int4 weight [n][k] given as nibbles r (row-major, two per byte,
// low first) and multipliers m [n][ceil(k / block)], as PackQ8GemmWeights
// would pack its values m * r.
void PackQ4GemmWeights(const Q8GemmKernel& kernel, size_t n, size_t k, const uint8_t* r,
                       const uint8_t* m, size_t block, const int32_t* bias,
                       const int32_t* multiplier, const int32_t* shift, int32_t a_zero_point,
                       void* packed);
// One int4 block -> the int8 block PackQ8GemmWeights makes of the same
// values (Q8GemmPackedBlockBytes(k, nr, kr) bytes at q8, 4-byte aligned).
void UnpackQ4GemmBlock(size_t nr, size_t kr, size_t k, size_t block, const void* q4, void* q8);

// The shared epilogue: requantizes acc [mr][acc_stride] (bias' included)
// with the block's multipliers and shifts and stores nc int8 columns per row.
void Q8GemmRequantizeTile(size_t mr, size_t nc, const int32_t* acc, size_t acc_stride,
                          const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out,
                          int8_t* c, size_t c_stride);

// dst[i] = src[i] ^ flip for n bytes: a row of A for a kernel with a_offset
// 128 (flip 0x80), a copy for the others (flip 0).
void FlipRows(int8_t* dst, const int8_t* src, size_t n, uint8_t flip);

// The whole GEMM through `kernel` (packs B, flips A where the kernel needs, walks the tiles): for
// tests, the Python parity binding and benchmarks. m, n, k >= 1.
void RunQ8Gemm(const Q8GemmKernel& kernel, size_t m, size_t n, size_t k, const int8_t* a,
               size_t a_stride, int32_t a_zero_point, const int8_t* b, const int32_t* bias,
               const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out, int8_t* c,
               size_t c_stride);

// Plain-loop oracle on unpacked operands (no folding, no tiles), matching
// converters/quant_ref.py: what every variant is tested against.
void Q8GemmReference(size_t m, size_t n, size_t k, const int8_t* a, size_t a_stride,
                     int32_t a_zero_point, const int8_t* b, const int32_t* bias,
                     const int32_t* multiplier, const int32_t* shift, const Q8GemmOutput& out,
                     int8_t* c, size_t c_stride);

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_GEMM_Q8_GEMM_H_
