// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Picks, per op, the best compiled kernel the CPU can run. The candidates
// come from the .inc lists, so a new variant needs no change here; the
// preference between ISAs is the order below (wider and newer first).
#include "dispatch.h"

#include <cstdlib>
#include <iterator>
#include <sstream>

namespace gearshift {
namespace {

// One compiled variant of a kernel family and the ISA it needs.
template <typename Kernel>
struct Entry {
  Isa isa;
  Kernel kernel;
};

std::vector<Entry<F32GemmKernel>> F32GemmEntries() {
  std::vector<Entry<F32GemmKernel>> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, {&name, mr, nr, #name}});
#include "kernels/f32_gemm/f32_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F32DwconvUkernelFn>> F32DwconvEntries() {
  std::vector<Entry<F32DwconvUkernelFn>> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, &name});
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F32VBinaryUkernelFn>> F32VBinaryEntries() {
  std::vector<Entry<F32VBinaryUkernelFn>> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, &name});
#include "kernels/f32_vbinary/f32_vbinary.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F32PoolUkernelFn>> F32PoolEntries() {
  std::vector<Entry<F32PoolUkernelFn>> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, &name});
#include "kernels/f32_pool/f32_pool.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F32SoftmaxKernel>> F32SoftmaxEntries() {
  std::vector<Entry<F32SoftmaxKernel>> v;
#define GS_UKERNEL(isa, row, exp) v.push_back({isa, {&row, &exp, #row}});
#include "kernels/f32_softmax/f32_softmax.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F16wGemmKernel>> F16wGemmEntries() {
  std::vector<Entry<F16wGemmKernel>> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, {&name, mr, nr, #name}});
#include "kernels/f16w_gemm/f16w_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F16wDwconvUkernelFn>> F16wDwconvEntries() {
  std::vector<Entry<F16wDwconvUkernelFn>> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, &name});
#include "kernels/f16w_dwconv/f16w_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F16GemmKernel>> F16GemmEntries() {
  std::vector<Entry<F16GemmKernel>> v;
#define GS_UKERNEL(isa, name, mr, nr, convert) v.push_back({isa, {&name, mr, nr, #name, &convert}});
#include "kernels/f16_gemm/f16_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<F16DwconvKernel>> F16DwconvEntries() {
  std::vector<Entry<F16DwconvKernel>> v;
#define GS_UKERNEL(isa, name, ct, convert) v.push_back({isa, {&name, ct, #name, &convert}});
#include "kernels/f16_dwconv/f16_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8GemmKernel>> Q8GemmEntries() {
  std::vector<Entry<Q8GemmKernel>> v;
#define GS_UKERNEL(isa, name, mr, nr, kr, a_offset, wmin, wide_nc) \
  v.push_back({isa, {&name, mr, nr, kr, #name, a_offset, wmin, wide_nc != 0}});
#include "kernels/q8_gemm/q8_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8DwconvKernel>> Q8DwconvEntries() {
  std::vector<Entry<Q8DwconvKernel>> v;
#define GS_UKERNEL(isa, name, ct) v.push_back({isa, {&name, ct, #name}});
#define GS_ROWS_UKERNEL(name, rows_fn)                  \
  for (Entry<Q8DwconvKernel>& e : v) {                  \
    if (e.kernel.fn == &name) e.kernel.rows = &rows_fn; \
  }
#include "kernels/q8_dwconv/q8_dwconv.inc"
#undef GS_ROWS_UKERNEL
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8VBinaryKernel>> Q8VBinaryEntries() {
  std::vector<Entry<Q8VBinaryKernel>> v;
#define GS_UKERNEL(isa, suffix, prelu_suffix, vbmi)                                                \
  v.push_back({isa,                                                                                \
               {&q8_vadd__##suffix, &q8_vmul__##suffix, &q8_vprelu__##prelu_suffix, #prelu_suffix, \
                vbmi != 0}});
#include "kernels/q8_vbinary/q8_vbinary.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8LutKernel>> Q8LutEntries() {
  std::vector<Entry<Q8LutKernel>> v;
#define GS_UKERNEL(isa, name, vbmi) v.push_back({isa, {&name, #name, vbmi != 0}});
#include "kernels/q8_lut/q8_lut.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8ResizeKernel>> Q8ResizeEntries() {
  std::vector<Entry<Q8ResizeKernel>> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, {&name, #name}});
#include "kernels/q8_resize/q8_resize.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<Entry<Q8QuantizeKernel>> Q8QuantizeEntries() {
  std::vector<Entry<Q8QuantizeKernel>> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, {&name, #name}});
#include "kernels/q8_quantize/q8_quantize.inc"
#undef GS_UKERNEL
  return v;
}

template <typename Kernel>
bool HasIsa(const std::vector<Entry<Kernel>>& entries, Isa isa) {
  for (const Entry<Kernel>& e : entries) {
    if (e.isa == isa) return true;
  }
  return false;
}

// Preference order, best first. The reference path is always last.
constexpr Isa kPreference[] = {kIsaAvx512Vnni, kIsaAvx512,   kIsaAvxVnni, kIsaAvx2, kIsaNeonI8mm,
                               kIsaNeonDot,    kIsaNeonFp16, kIsaNeon,    kIsaRef};

bool ParseIsa(const std::string& s, Isa* isa) {
  for (Isa i : kPreference) {
    if (s == IsaName(i)) {
      *isa = i;
      return true;
    }
  }
  return false;
}

bool Compiled(Isa isa) {
  return isa == kIsaRef || HasIsa(F32GemmEntries(), isa) || HasIsa(F32DwconvEntries(), isa) ||
         HasIsa(F32VBinaryEntries(), isa) || HasIsa(F32PoolEntries(), isa) ||
         HasIsa(F32SoftmaxEntries(), isa) || HasIsa(F16GemmEntries(), isa) ||
         HasIsa(F16DwconvEntries(), isa) || HasIsa(Q8GemmEntries(), isa) ||
         HasIsa(Q8DwconvEntries(), isa) || HasIsa(Q8QuantizeEntries(), isa) ||
         HasIsa(Q8VBinaryEntries(), isa) || HasIsa(Q8ResizeEntries(), isa) ||
         HasIsa(Q8LutEntries(), isa);
}

// True when a kernel of `candidate` may run under the selected ISA: the ISA
// itself, the bases it extends (neon under neon_dot/neon_fp16; neon_fp16
// under neon_dot, since the CPUs with SDOT (A55, A75, A76, N1...) have half
// arithmetic too and select neon_dot; those three under neon_i8mm) and ref.
// PickBest still checks each candidate against the CPU's features.
bool Within(Isa candidate, Isa selected) {
  if (candidate == selected || candidate == kIsaRef) return true;
  if (candidate == kIsaAvx2) {
    return selected == kIsaAvxVnni || selected == kIsaAvx512 || selected == kIsaAvx512Vnni;
  }
  if (candidate == kIsaAvxVnni || candidate == kIsaAvx512) return selected == kIsaAvx512Vnni;
  if (selected == kIsaNeonI8mm) {
    return candidate == kIsaNeon || candidate == kIsaNeonDot || candidate == kIsaNeonFp16;
  }
  if (candidate == kIsaNeonFp16) return selected == kIsaNeonDot;
  return candidate == kIsaNeon && (selected == kIsaNeonDot || selected == kIsaNeonFp16);
}

// The last entry of the best ISA (preference order) that may run under
// `selected` on this CPU, or `none` if no entry qualifies; `with_ref` says
// whether ref entries count (the fp32 families keep their reference ops
// instead).
template <typename Kernel>
Kernel PickBest(const std::vector<Entry<Kernel>>& entries, Isa selected,
                const CpuFeatures& features, bool with_ref, Kernel none) {
  for (Isa i : kPreference) {
    if ((i == kIsaRef && !with_ref) || !Within(i, selected) || !IsaSupported(i, features)) {
      continue;
    }
    bool found = false;
    Kernel k = none;
    for (const Entry<Kernel>& e : entries) {
      if (e.isa == i) {
        k = e.kernel;
        found = true;
      }
    }
    if (found) return k;
  }
  return none;
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case kIsaRef:
      return "ref";
    case kIsaNeon:
      return "neon";
    case kIsaNeonFp16:
      return "neon_fp16";
    case kIsaNeonDot:
      return "neon_dot";
    case kIsaNeonI8mm:
      return "neon_i8mm";
    case kIsaAvx2:
      return "avx2";
    case kIsaAvxVnni:
      return "avxvnni";
    case kIsaAvx512:
      return "avx512";
    case kIsaAvx512Vnni:
      return "avx512vnni";
  }
  return "?";
}

bool IsaSupported(Isa isa, const CpuFeatures& f) {
  switch (isa) {
    case kIsaRef:
      return true;
    case kIsaAvx2:
      return f.avx2 && f.fma && f.f16c;
    case kIsaAvxVnni:
      return f.avx2 && f.fma && f.f16c && f.avx_vnni;
    case kIsaAvx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl;
    case kIsaAvx512Vnni:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
    case kIsaNeon:
      return f.neon || f.asimd;
    case kIsaNeonFp16:
      return (f.neon || f.asimd) && f.neon_fp16;
    case kIsaNeonDot:
      return (f.neon || f.asimd) && f.neon_dot;
    case kIsaNeonI8mm:
      return (f.neon || f.asimd) && f.neon_dot && f.i8mm;
  }
  return false;
}

std::vector<std::string> CompiledIsas() {
  std::vector<std::string> v;
  for (auto it = std::rbegin(kPreference); it != std::rend(kPreference); ++it) {
    if (Compiled(*it)) v.push_back(IsaName(*it));
  }
  return v;
}

CpuFeatures MaskCpuFeatures(CpuFeatures f, const std::string& disabled) {
  std::stringstream ss(disabled);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name == "avx2") f.avx2 = f.avx_vnni = f.avx512_vnni = f.avx512_vbmi = false;
    if (name == "fma") f.fma = false;
    if (name == "f16c") f.f16c = false;
    if (name == "avx512f" || name == "avx512") {
      f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_vbmi = false;
    }
    if (name == "avx512bw") f.avx512bw = false;
    if (name == "avx512vl") f.avx512vl = false;
    if (name == "vnni") f.avx512_vnni = f.avx_vnni = false;
    if (name == "avx512_vnni") f.avx512_vnni = false;
    if (name == "avx_vnni") f.avx_vnni = false;
    if (name == "avx512_vbmi" || name == "vbmi") f.avx512_vbmi = false;
    if (name == "neon" || name == "asimd") {
      f.neon = f.asimd = f.neon_dot = f.neon_fp16 = f.i8mm = false;
    }
    if (name == "neon_dot" || name == "dotprod") f.neon_dot = false;
    if (name == "neon_fp16") f.neon_fp16 = false;
    if (name == "i8mm" || name == "neon_i8mm") f.i8mm = false;
  }
  return f;
}

CpuFeatures DetectCpuFeaturesMasked() {
  const char* env = std::getenv("GEARSHIFT_DISABLE");
  return MaskCpuFeatures(DetectCpuFeatures(), env != nullptr ? env : "");
}

std::map<std::string, std::string> SelectedKernels(const KernelTable& t) {
  return {{"f32_gemm", t.f32_gemm.fn != nullptr ? t.f32_gemm.name : "ref"},
          {"f32_vbinary", t.f32_vbinary != nullptr ? "opt" : "ref"},
          {"f32_pool", t.f32_pool != nullptr ? "opt" : "ref"},
          {"f32_softmax", t.f32_softmax.row != nullptr ? t.f32_softmax.name : "ref"},
          {"f16w_gemm", t.f16w_gemm.fn != nullptr ? t.f16w_gemm.name : "ref"},
          {"f16_gemm", t.f16_gemm.fn != nullptr ? t.f16_gemm.name : "none"},
          {"f16_dwconv", t.f16_dwconv.fn != nullptr ? t.f16_dwconv.name : "none"},
          {"q8_gemm", t.q8_gemm.fn != nullptr ? t.q8_gemm.name : "ref"},
          {"q8_gemm_w127", t.q8_gemm_w127.fn != nullptr ? t.q8_gemm_w127.name : "ref"},
          {"q8_dwconv", t.q8_dwconv.fn != nullptr ? t.q8_dwconv.name : "ref"},
          {"q8_quantize", t.q8_quantize.fn != nullptr ? t.q8_quantize.name : "ref"},
          {"q8_vbinary", t.q8_vbinary.add != nullptr ? t.q8_vbinary.name : "ref"},
          {"q8_resize", t.q8_resize.bilinear != nullptr ? t.q8_resize.name : "ref"},
          {"q8_lut", t.q8_lut.fn != nullptr ? t.q8_lut.name : "ref"}};
}

Status BuildKernelTable(const std::string& requested, KernelTable* out) {
  return BuildKernelTable(requested, DetectCpuFeaturesMasked(), out);
}

Status BuildKernelTable(const std::string& requested, const CpuFeatures& features,
                        KernelTable* out) {
  std::string want = requested;
  if (want.empty()) {
    const char* env = std::getenv("GEARSHIFT_ISA");
    if (env != nullptr) want = env;
  }
  std::string available;
  for (Isa i : kPreference) {
    if (Compiled(i) && IsaSupported(i, features)) {
      available += (available.empty() ? "" : ", ") + std::string(IsaName(i));
    }
  }
  Isa isa = kIsaRef;
  if (want.empty()) {
    for (Isa i : kPreference) {
      if (Compiled(i) && IsaSupported(i, features)) {
        isa = i;
        break;
      }
    }
  } else if (!ParseIsa(want, &isa) || !Compiled(isa) || !IsaSupported(isa, features)) {
    return InvalidArgument("isa '" + want +
                           "' is not available on this CPU/build; available: " + available);
  }
  KernelTable t;
  t.isa = IsaName(isa);
  // Per family: the last entry of the best ISA within the selected one. The
  // fp32 families keep null (the reference op) rather than a ref entry.
  t.f32_gemm = PickBest(F32GemmEntries(), isa, features, false, F32GemmKernel());
  // Its narrow sibling: an NR-16 entry of the same ISA, where the chosen
  // kernel is wider.
  Isa f32_isa = kIsaRef;
  for (const Entry<F32GemmKernel>& e : F32GemmEntries()) {
    if (e.kernel.fn == t.f32_gemm.fn) f32_isa = e.isa;
  }
  for (const Entry<F32GemmKernel>& e : F32GemmEntries()) {
    if (t.f32_gemm.fn != nullptr && e.isa == f32_isa && e.kernel.nr == 16 && t.f32_gemm.nr > 16) {
      t.f32_gemm_n16 = e.kernel;
    }
  }
  t.f32_dwconv = PickBest<F32DwconvUkernelFn>(F32DwconvEntries(), isa, features, false, nullptr);
  t.f32_vbinary = PickBest<F32VBinaryUkernelFn>(F32VBinaryEntries(), isa, features, false, nullptr);
  t.f32_pool = PickBest<F32PoolUkernelFn>(F32PoolEntries(), isa, features, false, nullptr);
  t.f32_softmax = PickBest(F32SoftmaxEntries(), isa, features, false, F32SoftmaxKernel());
  // The fp16-weight families keep their ref entries (as the int8 ones do):
  // the reference ops read f32 weights, which the fp16 gear no longer holds.
  t.f16w_gemm = PickBest(F16wGemmEntries(), isa, features, true, F16wGemmKernel());
  t.f16w_dwconv = PickBest<F16wDwconvUkernelFn>(F16wDwconvEntries(), isa, features, true, nullptr);
  // fp16 arithmetic: no reference entry (unset = the f16w kernels above).
  t.f16_gemm = PickBest(F16GemmEntries(), isa, features, false, F16GemmKernel());
  t.f16_dwconv = PickBest(F16DwconvEntries(), isa, features, false, F16DwconvKernel());
  t.q8_dwconv = PickBest(Q8DwconvEntries(), isa, features, true, Q8DwconvKernel());
  t.q8_quantize = PickBest(Q8QuantizeEntries(), isa, features, true, Q8QuantizeKernel());
  std::vector<Entry<Q8VBinaryKernel>> vbinary;  // less those needing VBMI where the CPU lacks it
  for (const Entry<Q8VBinaryKernel>& e : Q8VBinaryEntries()) {
    if (!e.kernel.needs_vbmi || features.avx512_vbmi) vbinary.push_back(e);
  }
  t.q8_vbinary = PickBest(vbinary, isa, features, false, Q8VBinaryKernel());
  t.q8_resize = PickBest(Q8ResizeEntries(), isa, features, true, Q8ResizeKernel());
  std::vector<Entry<Q8LutKernel>> luts;  // less those needing VBMI where the CPU lacks it
  for (const Entry<Q8LutKernel>& e : Q8LutEntries()) {
    if (!e.kernel.needs_vbmi || features.avx512_vbmi) luts.push_back(e);
  }
  t.q8_lut = PickBest(luts, isa, features, true, Q8LutKernel());
  // The general int8 GEMM: the best ISA's last wmin -128 entry. The w127 one
  // (for layers without a -128 weight): that ISA's last entry of any wmin.
  std::vector<Entry<Q8GemmKernel>> general;
  for (const Entry<Q8GemmKernel>& e : Q8GemmEntries()) {
    if (e.kernel.wmin <= -128) general.push_back(e);
  }
  t.q8_gemm = PickBest(general, isa, features, true, Q8GemmKernel());
  t.q8_gemm_w127 = t.q8_gemm;
  Isa gemm_isa = kIsaRef;
  for (const Entry<Q8GemmKernel>& e : general) {
    if (e.kernel.fn == t.q8_gemm.fn) gemm_isa = e.isa;
  }
  for (const Entry<Q8GemmKernel>& e : Q8GemmEntries()) {
    if (e.isa == gemm_isa) t.q8_gemm_w127 = e.kernel;
  }
  *out = t;
  return Status::Ok();
}

}  // namespace gearshift
