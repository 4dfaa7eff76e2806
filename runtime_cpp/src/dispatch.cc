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

struct GemmEntry {
  Isa isa;
  F32GemmKernel kernel;
};

std::vector<GemmEntry> F32GemmEntries() {
  std::vector<GemmEntry> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, {&name, mr, nr, #name}});
#include "kernels/f32_gemm/f32_gemm.inc"
#undef GS_UKERNEL
  return v;
}

struct DwconvEntry {
  Isa isa;
  F32DwconvUkernelFn fn;
};

std::vector<DwconvEntry> F32DwconvEntries() {
  std::vector<DwconvEntry> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, &name});
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

struct Q8GemmEntry {
  Isa isa;
  Q8GemmKernel kernel;
};

std::vector<Q8GemmEntry> Q8GemmEntries() {
  std::vector<Q8GemmEntry> v;
#define GS_UKERNEL(isa, name, mr, nr, kr, a_offset, wmin) \
  v.push_back({isa, {&name, mr, nr, kr, #name, a_offset, wmin}});
#include "kernels/q8_gemm/q8_gemm.inc"
#undef GS_UKERNEL
  return v;
}

struct Q8DwconvEntry {
  Isa isa;
  Q8DwconvKernel kernel;
};

std::vector<Q8DwconvEntry> Q8DwconvEntries() {
  std::vector<Q8DwconvEntry> v;
#define GS_UKERNEL(isa, name, ct) v.push_back({isa, {&name, ct, #name}});
#include "kernels/q8_dwconv/q8_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

struct Q8QuantizeEntry {
  Isa isa;
  Q8QuantizeKernel kernel;
};

std::vector<Q8QuantizeEntry> Q8QuantizeEntries() {
  std::vector<Q8QuantizeEntry> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, {&name, #name}});
#include "kernels/q8_quantize/q8_quantize.inc"
#undef GS_UKERNEL
  return v;
}

// Preference order, best first. The reference path is always last.
constexpr Isa kPreference[] = {kIsaAvx512Vnni, kIsaAvxVnni, kIsaAvx2, kIsaNeonDot,
                               kIsaNeonFp16,   kIsaNeon,    kIsaRef};

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
  if (isa == kIsaRef) return true;
  for (const GemmEntry& e : F32GemmEntries()) {
    if (e.isa == isa) return true;
  }
  for (const DwconvEntry& e : F32DwconvEntries()) {
    if (e.isa == isa) return true;
  }
  for (const Q8GemmEntry& e : Q8GemmEntries()) {
    if (e.isa == isa) return true;
  }
  for (const Q8DwconvEntry& e : Q8DwconvEntries()) {
    if (e.isa == isa) return true;
  }
  for (const Q8QuantizeEntry& e : Q8QuantizeEntries()) {
    if (e.isa == isa) return true;
  }
  return false;
}

// True when a kernel of `candidate` may run under the selected ISA: the ISA
// itself, the base it extends (neon under neon_dot/neon_fp16) and ref.
bool Within(Isa candidate, Isa selected) {
  if (candidate == selected || candidate == kIsaRef) return true;
  if (candidate == kIsaAvx2) return selected == kIsaAvxVnni || selected == kIsaAvx512Vnni;
  if (candidate == kIsaAvxVnni) return selected == kIsaAvx512Vnni;
  return candidate == kIsaNeon && (selected == kIsaNeonDot || selected == kIsaNeonFp16);
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case kIsaRef: return "ref";
    case kIsaNeon: return "neon";
    case kIsaNeonFp16: return "neon_fp16";
    case kIsaNeonDot: return "neon_dot";
    case kIsaAvx2: return "avx2";
    case kIsaAvxVnni: return "avxvnni";
    case kIsaAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

bool IsaSupported(Isa isa, const CpuFeatures& f) {
  switch (isa) {
    case kIsaRef: return true;
    case kIsaAvx2: return f.avx2 && f.fma && f.f16c;
    case kIsaAvxVnni: return f.avx2 && f.fma && f.f16c && f.avx_vnni;
    case kIsaAvx512Vnni:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
    case kIsaNeon: return f.neon || f.asimd;
    case kIsaNeonFp16: return (f.neon || f.asimd) && f.neon_fp16;
    case kIsaNeonDot: return (f.neon || f.asimd) && f.neon_dot;
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
    if (name == "avx2") f.avx2 = f.avx_vnni = f.avx512_vnni = false;
    if (name == "fma") f.fma = false;
    if (name == "f16c") f.f16c = false;
    if (name == "avx512f" || name == "avx512") {
      f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = false;
    }
    if (name == "avx512bw") f.avx512bw = false;
    if (name == "avx512vl") f.avx512vl = false;
    if (name == "vnni") f.avx512_vnni = f.avx_vnni = false;
    if (name == "avx512_vnni") f.avx512_vnni = false;
    if (name == "avx_vnni") f.avx_vnni = false;
    if (name == "neon" || name == "asimd") {
      f.neon = f.asimd = f.neon_dot = f.neon_fp16 = f.i8mm = false;
    }
    if (name == "neon_dot" || name == "dotprod") f.neon_dot = false;
    if (name == "neon_fp16") f.neon_fp16 = false;
    if (name == "i8mm") f.i8mm = false;
  }
  return f;
}

CpuFeatures DetectCpuFeaturesMasked() {
  const char* env = std::getenv("GEARSHIFT_DISABLE");
  return MaskCpuFeatures(DetectCpuFeatures(), env != nullptr ? env : "");
}

std::map<std::string, std::string> SelectedKernels(const KernelTable& t) {
  return {{"f32_gemm", t.f32_gemm.fn != nullptr ? t.f32_gemm.name : "ref"},
          {"q8_gemm", t.q8_gemm.fn != nullptr ? t.q8_gemm.name : "ref"},
          {"q8_gemm_w127", t.q8_gemm_w127.fn != nullptr ? t.q8_gemm_w127.name : "ref"},
          {"q8_dwconv", t.q8_dwconv.fn != nullptr ? t.q8_dwconv.name : "ref"},
          {"q8_quantize", t.q8_quantize.fn != nullptr ? t.q8_quantize.name : "ref"}};
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
    return InvalidArgument("isa '" + want + "' is not available on this CPU/build; available: " +
                           available);
  }
  KernelTable t;
  t.isa = IsaName(isa);
  // Per family: the last entry of the best ISA within the selected one. The
  // fp32 families keep null (the reference op) rather than a ref entry.
  for (Isa i : kPreference) {
    if (i == kIsaRef || !Within(i, isa) || !IsaSupported(i, features)) continue;
    if (t.f32_gemm.fn == nullptr) {
      for (const GemmEntry& e : F32GemmEntries()) {
        if (e.isa == i) t.f32_gemm = e.kernel;
      }
    }
    if (t.f32_dwconv == nullptr) {
      for (const DwconvEntry& e : F32DwconvEntries()) {
        if (e.isa == i) t.f32_dwconv = e.fn;
      }
    }
  }
  // The general int8 GEMM: the last wmin -128 entry of the best ISA. The
  // w127 one: that ISA's last entry of any wmin.
  for (Isa i : kPreference) {
    if (!Within(i, isa) || !IsaSupported(i, features)) continue;
    for (const Q8GemmEntry& e : Q8GemmEntries()) {
      if (e.isa != i) continue;
      if (e.kernel.wmin <= -128) t.q8_gemm = e.kernel;
      t.q8_gemm_w127 = e.kernel;
    }
    if (t.q8_gemm.fn != nullptr) break;
  }
  for (Isa i : kPreference) {
    if (!Within(i, isa) || !IsaSupported(i, features)) continue;
    for (const Q8DwconvEntry& e : Q8DwconvEntries()) {
      if (e.isa == i) t.q8_dwconv = e.kernel;
    }
    if (t.q8_dwconv.fn != nullptr) break;
  }
  for (Isa i : kPreference) {
    if (!Within(i, isa) || !IsaSupported(i, features)) continue;
    for (const Q8QuantizeEntry& e : Q8QuantizeEntries()) {
      if (e.isa == i) t.q8_quantize = e.kernel;
    }
    if (t.q8_quantize.fn != nullptr) break;
  }
  *out = t;
  return Status::Ok();
}

}  // namespace gearshift
