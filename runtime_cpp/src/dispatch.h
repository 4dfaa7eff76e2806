// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Runtime CPU dispatch. Each Runtime builds one KernelTable when it is
// created, from what the CPU offers (cpu_features.h) and what was compiled
// in (the kernels' .inc lists), and hands it to every Plan it builds; there
// is no global kernel pointer to patch. An explicit ISA can be forced through
// RuntimeOptions::isa or the GEARSHIFT_ISA environment variable ("ref" runs
// the reference ops only, so tests can compare paths), and features can be
// masked off with GEARSHIFT_DISABLE=avx2,neon,... to take the fallback path.
// Each kernel family takes the best variant within the selected ISA's
// family (neon_dot falls back to neon, then ref, per op), so selecting
// neon_dot still runs the NEON fp32 GEMM and the SDOT int8 GEMM.
#ifndef GEARSHIFT_DISPATCH_H_
#define GEARSHIFT_DISPATCH_H_

#include <map>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "gearshift/status.h"
#include "kernels/f16_dwconv/f16_dwconv.h"
#include "kernels/f16_gemm/f16_gemm.h"
#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_dwconv/f32_dwconv.h"
#include "kernels/f32_pool/f32_pool.h"
#include "kernels/f32_softmax/f32_softmax.h"
#include "kernels/f32_vbinary/f32_vbinary.h"
#include "kernels/f32_gemm/f32_gemm.h"
#include "kernels/q8_dwconv/q8_dwconv.h"
#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_lut/q8_lut.h"
#include "kernels/q8_quantize/q8_quantize.h"
#include "kernels/q8_resize/q8_resize.h"
#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {

// ISA tokens; kIsaAvx2 means AVX2 + FMA + F16C, kIsaAvxVnni that plus
// AVX-VNNI, kIsaAvx512 AVX2 + AVX-512 F/BW/VL (Skylake-X), kIsaAvx512Vnni
// that plus AVX512-VNNI. A table may run the kernels of the tokens an ISA
// includes: avx512vnni includes avx512, avxvnni and avx2; avx512 and avxvnni
// include avx2 (an avx512vnni table runs the AVX-512 fp32 GEMM). On ARM,
// neon_dot and neon_fp16 include neon, neon_dot also includes neon_fp16,
// and neon_i8mm (SMMLA) includes neon_dot, neon_fp16 and neon (each still
// only where the CPU has it: an A76 selects neon_dot and runs the neon_fp16
// kernels beside the SDOT ones; GEARSHIFT_DISABLE=neon_fp16 masks them).
enum Isa {
  kIsaRef = 0,
  kIsaNeon,
  kIsaNeonFp16,
  kIsaNeonDot,
  kIsaNeonI8mm,
  kIsaAvx2,
  kIsaAvxVnni,
  kIsaAvx512,
  kIsaAvx512Vnni
};

const char* IsaName(Isa isa);

// The kernels one Runtime uses. A null pointer means the reference op.
struct KernelTable {
  std::string isa = "ref";  // the ISA selected
  F32GemmKernel f32_gemm;
  // The same ISA's NR-16 kernel where f32_gemm is wider (AVX-512 12x16):
  // layers of at most 16 output columns take it; else unset.
  F32GemmKernel f32_gemm_n16;
  F32DwconvUkernelFn f32_dwconv = nullptr;
  F32VBinaryUkernelFn f32_vbinary = nullptr;  // ADD/MUL/.../PRELU rows; null: the reference op
  F32PoolUkernelFn f32_pool = nullptr;        // MAX/AVERAGE_POOL_2D pixels; null: the reference
  // SOFTMAX rows with a polynomial exp (f32_softmax.h: within 2 ulp, not
  // the reference's std::exp bits); unset: the reference op.
  F32SoftmaxKernel f32_softmax;
  // The fp16 gear's weights-in-half kernels, picked like the f32 ones (same
  // ISA, same tile), so they compute what f32_gemm/f32_dwconv would on the
  // widened weights; always set (ref is the fallback, so the fp16 gear never
  // holds f32 weights; a null one would make the plan widen them).
  F16wGemmKernel f16w_gemm;
  F16wDwconvUkernelFn f16w_dwconv = nullptr;
  // The fp16 gear's fp16-arithmetic kernels (neon_fp16: half inputs,
  // weights and sums); unset where the CPU lacks half arithmetic, and then
  // the fp16 gear runs f16w_gemm/f16w_dwconv above.
  F16GemmKernel f16_gemm;
  F16DwconvKernel f16_dwconv;
  Q8GemmKernel q8_gemm;          // always set: the ref microkernel is the fallback
  Q8GemmKernel q8_gemm_w127;     // for layers without a -128 weight (== q8_gemm if none faster)
  Q8DwconvKernel q8_dwconv;      // always set, likewise
  Q8QuantizeKernel q8_quantize;  // graph inputs -> int8; null: the scalar loop
  Q8VBinaryKernel q8_vbinary;    // ADD/SUB, MUL, PRELU rows; null: the portable loops
  Q8ResizeKernel q8_resize;      // always set: bilinear rows (ref the fallback)
  Q8LutKernel q8_lut;            // always set: 256-entry int8 lookups
};

// Kernel family -> selected variant name ("ref" for the reference op), e.g.
// {"f32_gemm": "f32_gemm_4x8__neon", "q8_gemm": "q8_gemm_8x8c4__neon_dot"}.
std::map<std::string, std::string> SelectedKernels(const KernelTable& t);

// True when this CPU (as masked) can run code of `isa`.
bool IsaSupported(Isa isa, const CpuFeatures& f);

// "ref" plus every ISA with at least one kernel compiled into this binary.
std::vector<std::string> CompiledIsas();

// `f` minus the features named in `disabled` (comma separated, as
// CpuFeatureNames() prints them; "dotprod" is an alias of "neon_dot", and
// masking "neon"/"asimd" masks every extension built on it). Tests pass the
// list explicitly instead of setting GEARSHIFT_DISABLE.
CpuFeatures MaskCpuFeatures(CpuFeatures f, const std::string& disabled);

// Features as detected, minus those named in GEARSHIFT_DISABLE.
CpuFeatures DetectCpuFeaturesMasked();

// Builds the table for `requested` ("" = best available; else one of
// CompiledIsas() that the CPU supports). An empty request falls back to the
// GEARSHIFT_ISA environment variable. Unknown or unavailable ISAs give
// InvalidArgument listing the available ones.
Status BuildKernelTable(const std::string& requested, KernelTable* out);
Status BuildKernelTable(const std::string& requested, const CpuFeatures& features,
                        KernelTable* out);

}  // namespace gearshift

#endif  // GEARSHIFT_DISPATCH_H_
