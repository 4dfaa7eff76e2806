// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Weight packing: the GEMM / depthwise packs a plan's steps run on, made
// once from the gear's constants (or straight from a recipe: fp16 half
// bits, q8r4, q4m) and shared between the plans of one Runtime.
#ifndef GEARSHIFT_PLAN_WEIGHT_PACKING_H_
#define GEARSHIFT_PLAN_WEIGHT_PACKING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "dispatch.h"
#include "ops/conv.h"
#include "ops_q8/q8_conv.h"
#include "plan/memory_plan.h"
#include "prepare/gear_weights.h"

namespace gearshift {

// A 64-byte aligned heap buffer of `bytes`, freed with the returned owner.
std::shared_ptr<void> AlignedBytes(size_t bytes);

// GEMM-packed weights shared between the plans of one Runtime, keyed by the
// constant's address and packing shape. Entries are held weakly: a pack is
// freed when the last plan using it is evicted.
class PackedWeightsCache {
 public:
  // The pack of w [n, k] (+ bias) for tile width nr, made on first use.
  // May throw std::bad_alloc (Runtime catches).
  std::shared_ptr<const float> Get(int64_t n, int64_t k, int nr, const float* w, const float* bias);
  // The same pack of an f32 gear's q8r4 weight, decoded into a temporary
  // only while it is made (keyed by the recipe).
  std::shared_ptr<const float> GetQ8R4(int64_t n, int64_t k, int nr, const Q8R4Tensor& w,
                                       const float* bias);
  // w's decoded f32 values, for steps that read the filter itself.
  std::shared_ptr<const void> GetQ8R4Values(const Q8R4Tensor& w, size_t* bytes);
  // The int8 pack (PackQ8GemmWeights) of w [n, k] (+ bias) for `kernel`
  // with q's multipliers, shifts and input zero point, made on first use.
  // `id` (if set) identifies the weights instead of w, for values expanded
  // into a temporary (a q4 weight's int8 values).
  std::shared_ptr<const void> GetQ8(const Q8GemmKernel& kernel, int64_t n, int64_t k,
                                    const int8_t* w, const int32_t* bias, const Q8ChannelRequant& q,
                                    const void* id = nullptr);
  // The int4 pack (PackQ4GemmWeights) of a q4m weight whose channel rows are
  // the GEMM's [n, k] rows; `bytes` receives its size.
  std::shared_ptr<const void> GetQ4(const Q8GemmKernel& kernel, int64_t n, int64_t k,
                                    const Q4MTensor& w, const int32_t* bias,
                                    const Q8ChannelRequant& q, size_t* bytes);
  // The fp16-weight GEMM pack (PackF16wGemmWeights) of an f16 gear's weight
  // w, whose [n, k] rows are the GEMM's, for `kernel`; `bytes` receives its
  // size. The half bits exist outside the pack only while it is made.
  std::shared_ptr<const void> GetF16w(const F16wGemmKernel& kernel, int64_t n, int64_t k,
                                      const F16Tensor& w, const float* bias, size_t* bytes);
  // The same for the fp16-arithmetic GEMM (PackF16GemmWeights: half bias).
  std::shared_ptr<const void> GetF16(const F16GemmKernel& kernel, int64_t n, int64_t k,
                                     const F16Tensor& w, const float* bias, size_t* bytes);
  // w's half bits (F16Tensor::Derive), for a weight that has none in place.
  std::shared_ptr<const void> GetF16Values(const F16Tensor& w, size_t* bytes);
  // The int8 depthwise pack (PackQ8Depthwise) of filter w for geometry p
  // and `kernel`, made on first use; `bytes` receives its size.
  std::shared_ptr<const void> GetQ8Depthwise(const Q8DwconvKernel& kernel, const Conv2DParams& p,
                                             const int8_t* w, const int32_t* bias,
                                             const Q8ChannelRequant& q, size_t* bytes,
                                             const void* id = nullptr);

 private:
  struct Entry {
    const void* w;  // the weights' address, or their Q8R4Tensor's
    const float* bias;
    int64_t n, k;
    int nr;
    std::weak_ptr<const float> pack;
  };
  // What identifies an int8 pack: the weights, the layout it was made for
  // (a depthwise pack has kr = 0 and nr = its channel tile) and the
  // requantization folded into it.
  struct Q8Key {
    const void* w;
    const int32_t* bias;
    int64_t n, k;
    int nr, kr, a_offset;
    int32_t a_zero_point;
    std::vector<int32_t> multiplier, shift;
    int q4_block;  // > 0: an int4 pack
    // kr < 0 marks the float gears' packs kept here too: -1 an f16w GEMM
    // pack, -2 a weight's half bits, -3 a q8r4 weight's decoded floats.
    bool operator==(const Q8Key& o) const;
  };
  struct Q8Entry {
    Q8Key key;
    std::weak_ptr<const void> pack;
  };
  // The live pack for `key`, else a new one of `bytes` bytes filled by
  // `pack_into` (expired entries are dropped on the way).
  std::shared_ptr<const void> FindOrPackQ8(Q8Key key, size_t bytes,
                                           const std::function<void(void*)>& pack_into);
  // The live f32 pack of (id, bias, n, k, nr), else a new one filled by
  // `pack_into`.
  std::shared_ptr<const float> FindOrPackF32(const void* id, const float* bias, int64_t n,
                                             int64_t k, int nr,
                                             const std::function<void(float*)>& pack_into);
  std::vector<Entry> entries_;
  std::vector<Q8Entry> q8_entries_;
};

// The packs and other derived weight memory one plan keeps alive (shared
// with other plans through a PackedWeightsCache where one is given), and
// their bytes (Plan::packed_bytes()). Packing may throw std::bad_alloc
// (Runtime catches). `packs` arguments may be null: a pack then goes
// through a temporary cache (shared with no other plan).
class PlanPacks {
 public:
  // `kernels` must outlive this object (the Plan owns both).
  PlanPacks(std::shared_ptr<const GearWeights> weights, const KernelTable* kernels);

  int64_t bytes() const { return bytes_; }
  // Keeps `pack` alive with the plan and counts `bytes`; returns it.
  const void* Keep(std::shared_ptr<const void> pack, size_t bytes);
  // Counts `bytes` of prepared memory a step keeps itself (tables).
  void AddBytes(int64_t bytes) { bytes_ += bytes; }
  // fp16 gear: packs weight `w` (its [n, k] rows) for kernels->f16_gemm
  // where the CPU has fp16 arithmetic, else for kernels->f16w_gemm, or
  // reuses the pack in `packs`.
  const void* PackGemmF16(int64_t n, int64_t k, const F16Tensor& w, const float* bias,
                          PackedWeightsCache* packs);
  // fp16 gear: w's half bits, in place or derived once (shared via `packs`).
  const uint16_t* F16Values(const F16Tensor& w, PackedWeightsCache* packs);
  // fp16 gear: tensor t's weight widened to f32 into memory the plan owns,
  // once per plan: for the steps no f16w kernel runs (reference ops, or a
  // table without one).
  const float* WidenedF16(int t);
  // f32 gear: a q8r4 weight packed as PackGemm packs its decoded values.
  const float* PackGemmQ8R4(int64_t n, int64_t k, const Q8R4Tensor& w, const float* bias,
                            PackedWeightsCache* packs, int nr);
  // f32 gear: w's decoded values (shared via `packs`), counted once per plan.
  const float* DecodedQ8R4(const Q8R4Tensor& w, PackedWeightsCache* packs);
  // Keeps an fp32 GEMM pack of [n, k] for tile width nr alive with the plan
  // and counts its bytes; returns it.
  const float* KeepF32Pack(std::shared_ptr<const float> pack, int64_t n, int64_t k, int nr);
  // The fp32 pack of a conv/dense node's weight (input 1: f32, a widened
  // fp16 recipe or a q8r4 recipe decoded into the pack) for `kernel`.
  const float* PackF32Weight(const NodeDesc& node, const std::vector<TensorRef>& refs, int64_t n,
                             int64_t k, const F32GemmKernel& kernel, PackedWeightsCache* packs);
  // Packs w [n, k] (+ bias) for tile width nr (0: kernels->f32_gemm's;
  // 64-byte aligned), or reuses the pack in `packs`.
  const float* PackGemm(int64_t n, int64_t k, const float* w, const float* bias,
                        PackedWeightsCache* packs, int nr = 0);

 private:
  std::shared_ptr<const GearWeights> weights_;
  const KernelTable* kernels_;
  std::vector<std::shared_ptr<const void>> storage_;
  std::unordered_map<int, const float*> widened_f16_;                 // WidenedF16, by tensor
  std::unordered_map<const Q8R4Tensor*, const float*> decoded_q8r4_;  // DecodedQ8R4
  int64_t bytes_ = 0;
};

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_WEIGHT_PACKING_H_
