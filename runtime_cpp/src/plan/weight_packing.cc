// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// PackedWeightsCache (packs shared between the plans of one Runtime) and
// the Plan's weight helpers: GEMM packs, fp16 half bits, widened or decoded
// recipes and expanded q4 values, each kept alive by the plan that uses it
// and counted in packed_bytes().
#include "plan/weight_packing.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "plan/plan.h"
#include "plan/plan_internal.h"

namespace gearshift {

using plan_internal::BiasData;

std::shared_ptr<void> AlignedBytes(size_t bytes) {
  std::unique_ptr<uint8_t[]> raw(new uint8_t[bytes + 64]);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(raw.get());
  uint8_t* aligned = raw.get() + (64 - addr % 64) % 64;
  uint8_t* owner = raw.release();
  return std::shared_ptr<void>(aligned, [owner](void*) { delete[] owner; });
}

std::shared_ptr<const float> PackedWeightsCache::Get(int64_t n, int64_t k, int nr, const float* w,
                                                     const float* bias) {
  return FindOrPackF32(w, bias, n, k, nr, [&](float* out) {
    PackF32GemmWeights(static_cast<size_t>(n), static_cast<size_t>(k), static_cast<size_t>(nr), w,
                       bias, out);
  });
}

std::shared_ptr<const float> PackedWeightsCache::GetQ8R4(int64_t n, int64_t k, int nr,
                                                         const Q8R4Tensor& w, const float* bias) {
  return FindOrPackF32(&w, bias, n, k, nr, [&](float* out) {
    // The decoded values exist only while this pack is made.
    std::vector<float> values(static_cast<size_t>(w.elements));
    w.Decode(values.data());
    PackF32GemmWeights(static_cast<size_t>(n), static_cast<size_t>(k), static_cast<size_t>(nr),
                       values.data(), bias, out);
  });
}

std::shared_ptr<const void> PackedWeightsCache::GetQ8R4Values(const Q8R4Tensor& w, size_t* bytes) {
  *bytes = static_cast<size_t>(w.elements) * sizeof(float);
  return FindOrPackQ8({&w, nullptr, w.elements, 0, 0, -3, 0, 0, {}, {}, 0}, *bytes,
                      [&](void* out) { w.Decode(static_cast<float*>(out)); });
}

std::shared_ptr<const float> PackedWeightsCache::FindOrPackF32(
    const void* w, const float* bias, int64_t n, int64_t k, int nr,
    const std::function<void(float*)>& pack_into) {
  for (const Entry& e : entries_) {
    if (e.w == w && e.bias == bias && e.n == n && e.k == k && e.nr == nr) {
      if (std::shared_ptr<const float> pack = e.pack.lock()) return pack;
    }
  }
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const Entry& e) { return e.pack.expired(); }),
                 entries_.end());
  const size_t unr = static_cast<size_t>(nr);
  const size_t blocks = (static_cast<size_t>(n) + unr - 1) / unr;
  const size_t floats = blocks * F32GemmPackedBlockFloats(static_cast<size_t>(k), unr);
  constexpr size_t kAlignFloats = 16;  // 64 bytes
  std::unique_ptr<float[]> raw(new float[floats + kAlignFloats]);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(raw.get());
  float* aligned = raw.get() + ((64 - addr % 64) % 64) / sizeof(float);
  pack_into(aligned);
  float* owner = raw.release();
  std::shared_ptr<const float> pack(aligned, [owner](const float*) { delete[] owner; });
  entries_.push_back({w, bias, n, k, nr, pack});
  return pack;
}

bool PackedWeightsCache::Q8Key::operator==(const Q8Key& o) const {
  return w == o.w && bias == o.bias && n == o.n && k == o.k && nr == o.nr && kr == o.kr &&
         a_offset == o.a_offset && a_zero_point == o.a_zero_point && multiplier == o.multiplier &&
         shift == o.shift && q4_block == o.q4_block;
}

std::shared_ptr<const void> PackedWeightsCache::FindOrPackQ8(
    Q8Key key, size_t bytes, const std::function<void(void*)>& pack_into) {
  for (const Q8Entry& e : q8_entries_) {
    if (e.key == key) {
      if (std::shared_ptr<const void> pack = e.pack.lock()) return pack;
    }
  }
  q8_entries_.erase(std::remove_if(q8_entries_.begin(), q8_entries_.end(),
                                   [](const Q8Entry& e) { return e.pack.expired(); }),
                    q8_entries_.end());
  std::shared_ptr<void> pack = AlignedBytes(bytes);
  pack_into(pack.get());
  q8_entries_.push_back({std::move(key), pack});
  return pack;
}

std::shared_ptr<const void> PackedWeightsCache::GetQ8(const Q8GemmKernel& kernel, int64_t n,
                                                      int64_t k, const int8_t* w,
                                                      const int32_t* bias,
                                                      const Q8ChannelRequant& q, const void* id) {
  const size_t bytes = Q8GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(k), kernel);
  return FindOrPackQ8({id != nullptr ? id : w, bias, n, k, kernel.nr, kernel.kr, kernel.a_offset,
                       q.x_zero_point, q.multiplier, q.shift, 0},
                      bytes, [&](void* out) {
                        PackQ8GemmWeights(kernel, static_cast<size_t>(n), static_cast<size_t>(k), w,
                                          bias, q.multiplier.data(), q.shift.data(), q.x_zero_point,
                                          out);
                      });
}

std::shared_ptr<const void> PackedWeightsCache::GetQ4(const Q8GemmKernel& kernel, int64_t n,
                                                      int64_t k, const Q4MTensor& w,
                                                      const int32_t* bias,
                                                      const Q8ChannelRequant& q, size_t* bytes) {
  const auto block = static_cast<size_t>(w.block);
  *bytes = Q4GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(k), kernel, block);
  return FindOrPackQ8({&w, bias, n, k, kernel.nr, kernel.kr, kernel.a_offset, q.x_zero_point,
                       q.multiplier, q.shift, w.block},
                      *bytes, [&](void* out) {
                        // The 4-bit parts exist only while this pack is made.
                        std::vector<uint8_t> r(static_cast<size_t>((w.elements + 1) / 2));
                        std::vector<uint8_t> m(static_cast<size_t>(w.layout.channels * w.blocks));
                        w.Derive(r.data(), m.data());
                        PackQ4GemmWeights(kernel, static_cast<size_t>(n), static_cast<size_t>(k),
                                          r.data(), m.data(), block, bias, q.multiplier.data(),
                                          q.shift.data(), q.x_zero_point, out);
                      });
}

std::shared_ptr<const void> PackedWeightsCache::GetQ8Depthwise(const Q8DwconvKernel& kernel,
                                                               const Conv2DParams& p,
                                                               const int8_t* w, const int32_t* bias,
                                                               const Q8ChannelRequant& q,
                                                               size_t* bytes, const void* id) {
  *bytes = Q8DepthwisePackedBytes(p, kernel);
  return FindOrPackQ8({id != nullptr ? id : w, bias, p.out_c, int64_t{p.kernel_h} * p.kernel_w,
                       kernel.ct, 0, 0, q.x_zero_point, q.multiplier, q.shift, 0},
                      *bytes, [&](void* out) { PackQ8Depthwise(p, q, kernel, w, bias, out); });
}

namespace {

// w's half bits: in place in the file, or derived (rounded) into *tmp.
const uint16_t* HalfBits(const F16Tensor& w, std::vector<uint16_t>* tmp) {
  if (const uint16_t* h = w.InPlace()) return h;
  tmp->resize(static_cast<size_t>(w.elements));
  w.Derive(tmp->data());
  return tmp->data();
}

}  // namespace

std::shared_ptr<const void> PackedWeightsCache::GetF16w(const F16wGemmKernel& kernel, int64_t n,
                                                        int64_t k, const F16Tensor& w,
                                                        const float* bias, size_t* bytes) {
  const auto un = static_cast<size_t>(n), uk = static_cast<size_t>(k);
  const auto nr = static_cast<size_t>(kernel.nr);
  *bytes = (un + nr - 1) / nr * F16wGemmPackedBlockBytes(uk, nr);
  // The key's bias field only identifies the bias (an f32 one here).
  const auto* bias_id = reinterpret_cast<const int32_t*>(bias);
  return FindOrPackQ8({&w, bias_id, n, k, kernel.nr, -1, 0, 0, {}, {}, 0}, *bytes, [&](void* out) {
    std::vector<uint16_t> tmp;
    const uint16_t* h = HalfBits(w, &tmp);
    PackF16wGemmWeights(un, uk, nr, h, bias, out);
  });
}

std::shared_ptr<const void> PackedWeightsCache::GetF16(const F16GemmKernel& kernel, int64_t n,
                                                       int64_t k, const F16Tensor& w,
                                                       const float* bias, size_t* bytes) {
  const auto un = static_cast<size_t>(n), uk = static_cast<size_t>(k);
  const auto nr = static_cast<size_t>(kernel.nr);
  *bytes = (un + nr - 1) / nr * F16GemmPackedBlockBytes(uk, nr);
  const auto* bias_id = reinterpret_cast<const int32_t*>(bias);
  return FindOrPackQ8({&w, bias_id, n, k, kernel.nr, -3, 0, 0, {}, {}, 0}, *bytes, [&](void* out) {
    std::vector<uint16_t> tmp;
    const uint16_t* h = HalfBits(w, &tmp);
    PackF16GemmWeights(un, uk, nr, h, bias, out);
  });
}

std::shared_ptr<const void> PackedWeightsCache::GetF16Values(const F16Tensor& w, size_t* bytes) {
  *bytes = static_cast<size_t>(w.elements) * sizeof(uint16_t);
  return FindOrPackQ8({&w, nullptr, w.elements, 0, 0, -2, 0, 0, {}, {}, 0}, *bytes,
                      [&](void* out) { w.Derive(static_cast<uint16_t*>(out)); });
}

PlanPacks::PlanPacks(std::shared_ptr<const GearWeights> weights, const KernelTable* kernels)
    : weights_(std::move(weights)), kernels_(kernels) {}

const void* PlanPacks::PackGemmF16(int64_t n, int64_t k, const F16Tensor& w, const float* bias,
                                   PackedWeightsCache* packs) {
  PackedWeightsCache local;
  size_t bytes = 0;
  PackedWeightsCache* cache = packs != nullptr ? packs : &local;
  std::shared_ptr<const void> pack =
      kernels_->f16_gemm.fn != nullptr ? cache->GetF16(kernels_->f16_gemm, n, k, w, bias, &bytes)
                                       : cache->GetF16w(kernels_->f16w_gemm, n, k, w, bias, &bytes);
  bytes_ += static_cast<int64_t>(bytes);
  storage_.push_back(pack);
  return pack.get();
}

const uint16_t* PlanPacks::F16Values(const F16Tensor& w, PackedWeightsCache* packs) {
  if (const uint16_t* in_place = w.InPlace()) return in_place;
  PackedWeightsCache local;
  size_t bytes = 0;
  std::shared_ptr<const void> values = (packs != nullptr ? packs : &local)->GetF16Values(w, &bytes);
  bytes_ += static_cast<int64_t>(bytes);
  storage_.push_back(values);
  return static_cast<const uint16_t*>(values.get());
}

const float* PlanPacks::WidenedF16(int t) {
  auto it = widened_f16_.find(t);
  if (it != widened_f16_.end()) return it->second;
  const F16Tensor& w = *weights_->at(t).f16;
  const size_t bytes = static_cast<size_t>(w.elements) * sizeof(float);
  std::shared_ptr<void> values = AlignedBytes(bytes);
  w.Widen(static_cast<float*>(values.get()));
  bytes_ += static_cast<int64_t>(bytes);
  const float* f = static_cast<const float*>(values.get());
  storage_.push_back(std::move(values));
  widened_f16_.emplace(t, f);
  return f;
}

const float* PlanPacks::PackGemmQ8R4(int64_t n, int64_t k, const Q8R4Tensor& w, const float* bias,
                                     PackedWeightsCache* packs, int tile_nr) {
  PackedWeightsCache local;
  return KeepF32Pack((packs != nullptr ? packs : &local)->GetQ8R4(n, k, tile_nr, w, bias), n, k,
                     tile_nr);
}

const float* PlanPacks::KeepF32Pack(std::shared_ptr<const float> pack, int64_t n, int64_t k,
                                    int nr) {
  const auto unr = static_cast<size_t>(nr);
  bytes_ +=
      static_cast<int64_t>(((static_cast<size_t>(n) + unr - 1) / unr) *
                           F32GemmPackedBlockFloats(static_cast<size_t>(k), unr) * sizeof(float));
  const float* p = pack.get();
  storage_.push_back(std::move(pack));
  return p;
}

const float* PlanPacks::DecodedQ8R4(const Q8R4Tensor& w, PackedWeightsCache* packs) {
  auto it = decoded_q8r4_.find(&w);
  if (it != decoded_q8r4_.end()) return it->second;
  PackedWeightsCache local;
  size_t bytes = 0;
  std::shared_ptr<const void> values =
      (packs != nullptr ? packs : &local)->GetQ8R4Values(w, &bytes);
  bytes_ += static_cast<int64_t>(bytes);
  const auto* f = static_cast<const float*>(values.get());
  storage_.push_back(std::move(values));
  decoded_q8r4_.emplace(&w, f);
  return f;
}

const float* PlanPacks::PackGemm(int64_t n, int64_t k, const float* w, const float* bias,
                                 PackedWeightsCache* packs, int tile_nr) {
  if (tile_nr <= 0) tile_nr = kernels_->f32_gemm.nr;
  PackedWeightsCache local;
  return KeepF32Pack((packs != nullptr ? packs : &local)->Get(n, k, tile_nr, w, bias), n, k,
                     tile_nr);
}

const void* PlanPacks::Keep(std::shared_ptr<const void> pack, size_t bytes) {
  bytes_ += static_cast<int64_t>(bytes);
  const void* p = pack.get();
  storage_.push_back(std::move(pack));
  return p;
}

const float* PlanPacks::PackF32Weight(const NodeDesc& node, const std::vector<TensorRef>& refs,
                                      int64_t n, int64_t k, const F32GemmKernel& kernel,
                                      PackedWeightsCache* packs) {
  const auto* bias = static_cast<const float*>(BiasData(refs, node));
  const ConstView& cv = weights_->at(node.inputs[1]);
  if (cv.q8r4 != nullptr) return PackGemmQ8R4(n, k, *cv.q8r4, bias, packs, kernel.nr);
  const float* w = cv.f16 != nullptr ? WidenedF16(node.inputs[1])
                                     : static_cast<const float*>(refs[node.inputs[1]].data);
  return PackGemm(n, k, w, bias, packs, kernel.nr);
}

void Plan::MaterializeRecipeReads(const ModelDesc& model, PackedWeightsCache* packs) {
  for (size_t s = 0; s < steps_.size(); ++s) {
    const PlanStep& st = steps_[s];
    const NodeDesc& node = model.nodes[s];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int t = node.inputs[j];
      if (t < 0) continue;
      const ConstView& cv = weights_->at(t);
      if (cv.f16 == nullptr && cv.q8r4 == nullptr) continue;
      // A packed step or an f16w depthwise step never reads operand 1 itself.
      if (j == 1 && FloatStepPacksWeight(st.params)) continue;
      operands_[static_cast<size_t>(st.first_operand) + j].data =
          cv.f16 != nullptr ? plan_packs_->WidenedF16(t)
                            : plan_packs_->DecodedQ8R4(*cv.q8r4, packs);
    }
  }
}

void Plan::ExpandQ4Reads(const ModelDesc& model) {
  std::unordered_map<int, const int8_t*> expanded;  // tensor -> its int8 values
  for (size_t s = 0; s < steps_.size(); ++s) {
    const PlanStep& st = steps_[s];
    const NodeDesc& node = model.nodes[s];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int t = node.inputs[j];
      const Q4MTensor* q4 = t >= 0 ? weights_->at(t).q4 : nullptr;
      // A packed conv/dense/depthwise step never reads operand 1 itself.
      if (q4 == nullptr || (j == 1 && Q8StepPacksWeight(st.params))) continue;
      auto it = expanded.find(t);
      if (it == expanded.end()) {
        std::shared_ptr<void> values = AlignedBytes(static_cast<size_t>(q4->elements));
        q4->Expand(static_cast<int8_t*>(values.get()));
        it = expanded.emplace(t, static_cast<const int8_t*>(values.get())).first;
        plan_packs_->Keep(std::move(values), static_cast<size_t>(q4->elements));
      }
      operands_[static_cast<size_t>(st.first_operand) + j].data = it->second;
    }
  }
}

}  // namespace gearshift
