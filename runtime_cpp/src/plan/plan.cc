// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Plan building (shape inference, lifetimes, arena layout, kernel params)
// and the executor loop. Every graph output is computed into the arena and
// copied to the caller at the end: one memcpy per output buys freedom from
// aliasing between caller buffers and the arena. int8 gears share the
// geometry part of each step with f32 and add their quantized parameters
// (PrepareQ8Step); their graph inputs live in the arena too, quantized on
// entry, and every output is dequantized to the caller at the end.
#include "plan/plan.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "plan/arena_planner.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

Status Unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }

bool SameShapes(const std::vector<Shape>& a, const std::vector<Shape>& b) { return a == b; }

// Conv/dense weights (input 1) and bias (input 2, optional) known at plan
// time, so they can be packed once.
bool ConstWeights(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return false;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return false;
  return node.inputs.size() < 3 || node.inputs[2] < 0 ||
         refs[node.inputs[2]].kind == TensorRef::Kind::kConst;
}

// The SparseMatrix a `sparse` gear keeps for a CONV_2D / FULLY_CONNECTED
// node's constant weights; null for any other node or dense weights.
const SparseMatrix* SparseWeights(const GearWeights& w, const std::vector<TensorRef>& refs,
                                  const NodeDesc& node) {
  if (node.op != OpType::kConv2D && node.op != OpType::kFullyConnected) return nullptr;
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return nullptr;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return nullptr;
  return w.at(node.inputs[1]).sparse;
}

// The fp16 gear's underived weight (input 1) of a conv/dense node; null for
// any other gear, node or weight.
const F16Tensor* F16Weights(const GearWeights& w, const std::vector<TensorRef>& refs,
                            const NodeDesc& node) {
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return nullptr;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return nullptr;
  return w.at(node.inputs[1]).f16;
}

const void* BiasData(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  return node.inputs.size() > 2 && node.inputs[2] >= 0 ? refs[node.inputs[2]].data : nullptr;
}

// A 64-byte aligned heap buffer of `bytes`, freed with the returned owner.
std::shared_ptr<void> AlignedBytes(size_t bytes) {
  std::unique_ptr<uint8_t[]> raw(new uint8_t[bytes + 64]);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(raw.get());
  uint8_t* aligned = raw.get() + (64 - addr % 64) % 64;
  uint8_t* owner = raw.release();
  return std::shared_ptr<void>(aligned, [owner](void*) { delete[] owner; });
}

bool SameQuant(Q8Quant a, Q8Quant b) { return a.scale == b.scale && a.zero_point == b.zero_point; }

}  // namespace

Status Plan::Build(const ModelDesc& model, int gear, const std::vector<Shape>& input_shapes,
                   std::unique_ptr<Plan>* out) {
  std::shared_ptr<const GearWeights> weights;
  GS_RETURN_IF_ERROR(PrepareGearWeights(model, gear, &weights));
  return Build(model, std::move(weights), input_shapes, KernelTable(), nullptr, out);
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

const void* Plan::PackGemmF16(int64_t n, int64_t k, const F16Tensor& w, const float* bias,
                              PackedWeightsCache* packs) {
  PackedWeightsCache local;
  size_t bytes = 0;
  PackedWeightsCache* cache = packs != nullptr ? packs : &local;
  std::shared_ptr<const void> pack =
      kernels_.f16_gemm.fn != nullptr ? cache->GetF16(kernels_.f16_gemm, n, k, w, bias, &bytes)
                                      : cache->GetF16w(kernels_.f16w_gemm, n, k, w, bias, &bytes);
  packed_bytes_ += static_cast<int64_t>(bytes);
  packed_storage_.push_back(pack);
  return pack.get();
}

const uint16_t* Plan::F16Values(const F16Tensor& w, PackedWeightsCache* packs) {
  if (const uint16_t* in_place = w.InPlace()) return in_place;
  PackedWeightsCache local;
  size_t bytes = 0;
  std::shared_ptr<const void> values = (packs != nullptr ? packs : &local)->GetF16Values(w, &bytes);
  packed_bytes_ += static_cast<int64_t>(bytes);
  packed_storage_.push_back(values);
  return static_cast<const uint16_t*>(values.get());
}

const float* Plan::WidenedF16(int t) {
  auto it = widened_f16_.find(t);
  if (it != widened_f16_.end()) return it->second;
  const F16Tensor& w = *weights_->at(t).f16;
  const size_t bytes = static_cast<size_t>(w.elements) * sizeof(float);
  std::shared_ptr<void> values = AlignedBytes(bytes);
  w.Widen(static_cast<float*>(values.get()));
  packed_bytes_ += static_cast<int64_t>(bytes);
  const float* f = static_cast<const float*>(values.get());
  packed_storage_.push_back(std::move(values));
  widened_f16_.emplace(t, f);
  return f;
}

const float* Plan::PackGemmQ8R4(int64_t n, int64_t k, const Q8R4Tensor& w, const float* bias,
                                PackedWeightsCache* packs, int tile_nr) {
  PackedWeightsCache local;
  return KeepF32Pack((packs != nullptr ? packs : &local)->GetQ8R4(n, k, tile_nr, w, bias), n, k,
                     tile_nr);
}

const float* Plan::KeepF32Pack(std::shared_ptr<const float> pack, int64_t n, int64_t k, int nr) {
  const auto unr = static_cast<size_t>(nr);
  packed_bytes_ +=
      static_cast<int64_t>(((static_cast<size_t>(n) + unr - 1) / unr) *
                           F32GemmPackedBlockFloats(static_cast<size_t>(k), unr) * sizeof(float));
  const float* p = pack.get();
  packed_storage_.push_back(std::move(pack));
  return p;
}

const float* Plan::DecodedQ8R4(const Q8R4Tensor& w, PackedWeightsCache* packs) {
  auto it = decoded_q8r4_.find(&w);
  if (it != decoded_q8r4_.end()) return it->second;
  PackedWeightsCache local;
  size_t bytes = 0;
  std::shared_ptr<const void> values =
      (packs != nullptr ? packs : &local)->GetQ8R4Values(w, &bytes);
  packed_bytes_ += static_cast<int64_t>(bytes);
  const auto* f = static_cast<const float*>(values.get());
  packed_storage_.push_back(std::move(values));
  decoded_q8r4_.emplace(&w, f);
  return f;
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
      if (j == 1 &&
          (st.packed != nullptr || st.f16_packed != nullptr || st.f16_filter != nullptr)) {
        continue;
      }
      operands_[static_cast<size_t>(st.first_operand) + j].data =
          cv.f16 != nullptr ? WidenedF16(t) : DecodedQ8R4(*cv.q8r4, packs);
    }
  }
}

const float* Plan::PackGemm(int64_t n, int64_t k, const float* w, const float* bias,
                            PackedWeightsCache* packs, int tile_nr) {
  if (tile_nr <= 0) tile_nr = kernels_.f32_gemm.nr;
  PackedWeightsCache local;
  return KeepF32Pack((packs != nullptr ? packs : &local)->Get(n, k, tile_nr, w, bias), n, k,
                     tile_nr);
}

const float* Plan::PackF32Weight(const NodeDesc& node, const std::vector<TensorRef>& refs,
                                 int64_t n, int64_t k, const F32GemmKernel& kernel,
                                 PackedWeightsCache* packs) {
  const auto* bias = static_cast<const float*>(BiasData(refs, node));
  const ConstView& cv = weights_->at(node.inputs[1]);
  if (cv.q8r4 != nullptr) return PackGemmQ8R4(n, k, *cv.q8r4, bias, packs, kernel.nr);
  const float* w = cv.f16 != nullptr ? WidenedF16(node.inputs[1])
                                     : static_cast<const float*>(refs[node.inputs[1]].data);
  return PackGemm(n, k, w, bias, packs, kernel.nr);
}

namespace {

// The fp32 GEMM kernel for a layer of n output columns: the narrow sibling
// where it exists and n fits it (a 16-channel layer half-filled an 8 x 32
// AVX-512 tile), else the table's kernel.
F32GemmKernel NarrowOr(const KernelTable& kernels, int64_t n) {
  const F32GemmKernel& narrow = kernels.f32_gemm_n16;
  return narrow.fn != nullptr && n <= narrow.nr ? narrow : kernels.f32_gemm;
}

// For each node, the PAD node its input 0 comes from when that PAD can be
// folded into it (else -1): the node is a CONV_2D or DEPTHWISE_CONV_2D and
// the PAD fills with 0 (in int8 gears: the zero point, since PAD keeps its
// input's quantization), pads only H and W of an NHWC tensor by
// non-negative amounts, and has no other reader and is no graph output.
// The convolution then reads the PAD's input with the pads added to its own
// (any tap outside the input reads zero), so the padded copy is never made.
std::vector<int> FoldablePads(const ModelDesc& model) {
  const int num_nodes = static_cast<int>(model.nodes.size());
  std::vector<int> readers(model.tensors.size(), 0), producer(model.tensors.size(), -1);
  for (int s = 0; s < num_nodes; ++s) {
    for (int t : model.nodes[s].inputs) {
      if (t >= 0) ++readers[t];
    }
    producer[model.nodes[s].outputs[0]] = s;
  }
  for (int o : model.outputs) ++readers[o];
  std::vector<int> folds(num_nodes, -1);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& conv = model.nodes[s];
    if (conv.op != OpType::kConv2D && conv.op != OpType::kDepthwiseConv2D) continue;
    const int t = conv.inputs[0];
    if (t < 0 || readers[t] != 1 || producer[t] < 0) continue;
    const NodeDesc& pad = model.nodes[producer[t]];
    const auto& pads = pad.attrs.paddings;
    if (pad.op != OpType::kPad || pads.size() != 4 || pad.attrs.pad_value != 0.0) continue;
    if (pads[0] != std::make_pair(int64_t{0}, int64_t{0}) ||
        pads[3] != std::make_pair(int64_t{0}, int64_t{0})) {
      continue;
    }
    bool ok = true;
    for (int d = 1; d <= 2; ++d) ok = ok && pads[d].first >= 0 && pads[d].second >= 0;
    if (ok) folds[s] = producer[t];
  }
  return folds;
}

}  // namespace

Status Plan::Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                   const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                   PackedWeightsCache* packs, std::unique_ptr<Plan>* out, bool keep_tensors) {
  if (weights == nullptr) return InvalidArgument("Plan::Build: null weights");
  const int gear = weights->gear();
  if (gear < 0 || static_cast<size_t>(gear) >= model.gears.size() ||
      weights->consts().size() != model.tensors.size()) {
    return InvalidArgument("gear index " + std::to_string(gear) + " out of range");
  }
  const GearDesc& g = model.gears[gear];
  const bool int8 = weights->compute() == Compute::kQ8 || weights->compute() == Compute::kQ4;
  if (int8 && g.activations.size() != model.tensors.size()) {
    return FormatError("gear '" + g.name + "': activations do not cover every tensor");
  }
  std::unique_ptr<Plan> plan(new Plan());
  plan->gear_ = gear;
  plan->int8_ = int8;
  plan->weights_ = weights;
  plan->kernels_ = kernels;
  plan->input_shapes_ = input_shapes;
  GS_RETURN_IF_ERROR(InferShapes(model, input_shapes, &plan->tensor_shapes_));
  const std::vector<Shape>& shapes = plan->tensor_shapes_;
  const size_t num_tensors = model.tensors.size();
  const int num_nodes = static_cast<int>(model.nodes.size());

  // Where every tensor lives. Arena tensors get their offset below.
  std::vector<TensorRef> refs(num_tensors);
  for (size_t t = 0; t < num_tensors; ++t) {
    const TensorDesc& td = model.tensors[t];
    if (!td.is_const) continue;
    const ConstView& cv = weights->at(static_cast<int>(t));
    const void* data = int8 ? (cv.i8 != nullptr ? static_cast<const void*>(cv.i8)
                                                : static_cast<const void*>(cv.i32))
                            : static_cast<const void*>(cv.f32);
    // An fp16 gear's underived weight: its steps pack it or widen it.
    if (data == nullptr && !int8) data = cv.f16;
    // An f32 gear's undecoded q8r4 weight: likewise packed or decoded.
    if (data == nullptr && !int8) data = cv.q8r4;
    // A 4-bit weight: its steps pack it; other reads get int8 values below.
    if (data == nullptr && int8) data = cv.q4;
    // A sparse weight: only its steps read it, through PlanStep::sparse.
    if (data == nullptr) data = cv.sparse;
    // A float island's weight in an int8 gear: f32 values.
    if (data == nullptr) data = cv.f32;
    if (data == nullptr) {
      return FormatError("gear '" + g.name + "': constant '" + td.name + "' has no " +
                         (int8 ? "int8/int32" : "f32") + " data");
    }
    refs[t].kind = TensorRef::Kind::kConst;
    refs[t].data = data;
  }
  for (size_t i = model.inputs.size(); i-- > 0;) {  // first occurrence wins
    refs[model.inputs[i]].kind = TensorRef::Kind::kInput;
    refs[model.inputs[i]].index = static_cast<int64_t>(i);
  }

  // Float islands (FORMAT.md 1.5): the nodes of an int8 gear computed in
  // float32, and the tensors they produce, which hold float32.
  const bool islands = int8 && !g.float_nodes.empty();
  auto float_node = [&](int s) { return islands && g.float_nodes[static_cast<size_t>(s)] != 0; };
  std::vector<char> float_tensor(islands ? num_tensors : 0, 0);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (float_node(s)) float_tensor[model.nodes[s].outputs[0]] = 1;
  }
  auto is_float = [&](int t) { return islands && float_tensor[static_cast<size_t>(t)] != 0; };

  // The tensors each step reads: the node's inputs, except that a
  // convolution reading a foldable PAD reads the PAD's input instead (not
  // across an island's boundary: the PAD runs in its own arithmetic).
  std::vector<int> folds = keep_tensors ? std::vector<int>(num_nodes, -1) : FoldablePads(model);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (folds[s] >= 0 && float_node(s) != float_node(folds[s])) folds[s] = -1;
  }
  std::vector<std::vector<int>> reads(num_nodes);
  for (int s = 0; s < num_nodes; ++s) {
    reads[s] = model.nodes[s].inputs;
    if (folds[s] >= 0) reads[s][0] = model.nodes[folds[s]].inputs[0];
  }
  std::vector<bool> folded(num_nodes, false);  // PAD steps that do nothing
  for (int s = 0; s < num_nodes; ++s) {
    if (folds[s] >= 0) folded[folds[s]] = true;
  }

  // Lifetimes of produced tensors: producing step .. last reading step;
  // graph outputs stay live to the end (step num_nodes copies them out).
  // A folded PAD's output is never made, so it gets no memory.
  std::vector<int> producer(num_tensors, -1), last_use(num_tensors, -1);
  std::vector<bool> written(num_tensors, false);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& node = model.nodes[s];
    const int o = node.outputs[0];
    if (refs[o].kind != TensorRef::Kind::kAbsent || written[o]) {
      return FormatError("node '" + node.name + "' writes tensor '" + model.tensors[o].name +
                         "', which is an input, a constant or written twice");
    }
    written[o] = true;
    if (!folded[s]) {
      producer[o] = s;
      last_use[o] = s;
    }
    for (int t : reads[s]) {
      if (t >= 0) last_use[t] = std::max(last_use[t], s);
    }
  }
  for (int o : model.outputs) last_use[o] = num_nodes;
  // int8 gears quantize the graph inputs into the arena before step 0; an
  // input buffer is live from step 0 (nothing else is live before it).
  if (int8) {
    for (int t : model.inputs) {
      producer[t] = 0;
      last_use[t] = std::max(last_use[t], 0);
    }
  }
  if (keep_tensors) {  // nothing computed is overwritten before Run returns
    for (size_t t = 0; t < num_tensors; ++t) {
      if (producer[t] >= 0) last_use[t] = num_nodes;
    }
  }
  auto element_bytes = [&](int t) -> int64_t {
    return int8 && !is_float(t) ? 1 : static_cast<int64_t>(sizeof(float));
  };
  std::vector<ArenaRequest> requests;
  std::vector<int> request_tensor;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (producer[t] < 0) continue;
    ArenaRequest r;
    r.bytes = NumElements(shapes[t]) * element_bytes(static_cast<int>(t));
    r.first_step = producer[t];
    r.last_step = last_use[t];
    requests.push_back(r);
    request_tensor.push_back(static_cast<int>(t));
  }
  // An island's boundary: a tensor read in the other arithmetic than it
  // holds gets a converted copy, made by the first step that reads it so and
  // live until the last. copies[t]: index into `requests`, or -1.
  std::vector<int> copies(islands ? num_tensors : 0, -1);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (folded[s]) continue;
    for (int t : reads[s]) {
      if (t < 0 || refs[t].kind == TensorRef::Kind::kConst || is_float(t) == float_node(s)) {
        continue;
      }
      if (copies[t] < 0) {
        ArenaRequest r;
        r.bytes = NumElements(shapes[t]) * (is_float(t) ? 1 : static_cast<int64_t>(sizeof(float)));
        r.first_step = s;
        copies[t] = static_cast<int>(requests.size());
        requests.push_back(r);
        request_tensor.push_back(-1 - t);
      }
      requests[copies[t]].last_step = keep_tensors ? num_nodes : s;
    }
  }
  const ArenaLayout layout = PlanArena(requests);
  plan->arena_bytes_ = layout.arena_bytes;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (request_tensor[i] < 0) continue;  // a boundary copy
    refs[request_tensor[i]].kind = TensorRef::Kind::kArena;
    refs[request_tensor[i]].index = layout.offsets[i];
  }
  // Where step s reads tensor t: t itself, or its boundary copy.
  auto operand = [&](int s, int t) -> TensorRef {
    if (t < 0) return TensorRef();
    if (!islands || copies[t] < 0 || refs[t].kind == TensorRef::Kind::kConst ||
        is_float(t) == float_node(s)) {
      return refs[t];
    }
    TensorRef r;
    r.kind = TensorRef::Kind::kArena;
    r.index = layout.offsets[copies[t]];
    return r;
  };

  // Kernel parameters.
  size_t max_operands = 0;
  plan->steps_.reserve(num_nodes);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& node = model.nodes[s];
    PlanStep st;
    st.op = node.op;
    st.skip = folded[s];
    st.first_operand = static_cast<int>(plan->operands_.size());
    st.num_operands = static_cast<int>(node.inputs.size());
    max_operands = std::max(max_operands, node.inputs.size());
    for (int t : reads[s]) plan->operands_.push_back(operand(s, t));
    // The boundary copies this step makes first (each tensor's first reader
    // in the other arithmetic).
    for (int t : reads[s]) {
      if (t < 0 || !islands || copies[t] < 0 || requests[copies[t]].first_step != s) continue;
      if (is_float(t) == float_node(s) || refs[t].kind == TensorRef::Kind::kConst) continue;
      bool listed = false;
      for (const PlanStep::Conversion& c : st.convert) listed |= c.src == refs[t].index;
      if (listed) continue;
      PlanStep::Conversion c;
      c.src = refs[t].index;
      c.dst = layout.offsets[copies[t]];
      c.elements = NumElements(shapes[t]);
      c.quant = g.activations[t];
      c.to_f32 = float_node(s);
      st.convert.push_back(c);
    }
    // The arithmetic of this step: an island's node computes in float32.
    const bool q8 = int8 && !float_node(s);
    st.f32 = int8 && !q8;
    const int o = node.outputs[0];
    st.output = refs[o];
    st.out_elements = NumElements(shapes[o]);
    const NodeAttrs& a = node.attrs;
    const Shape& x = shapes[node.inputs[0]];
    const Shape& y = shapes[o];
    switch (node.op) {
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D: {
        const Shape& f = shapes[node.inputs[1]];
        Conv2DParams& p = st.conv;
        p.batch = x[0];
        p.in_h = x[1];
        p.in_w = x[2];
        p.in_c = x[3];
        p.out_h = y[1];
        p.out_w = y[2];
        p.out_c = y[3];
        p.kernel_h = static_cast<int>(f[1]);
        p.kernel_w = static_cast<int>(f[2]);
        p.stride_h = a.stride_h;
        p.stride_w = a.stride_w;
        p.dilation_h = a.dilation_h;
        p.dilation_w = a.dilation_w;
        p.depth_multiplier = a.depth_multiplier;
        p.act = ActivationRange(a.activation);
        int64_t unused;
        ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, a.padding, &unused, &p.pad_top);
        ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, a.padding, &unused,
                      &p.pad_left);
        if (folds[s] >= 0) {  // read the unpadded input; its pads are the conv's
          const NodeDesc& pad = model.nodes[folds[s]];
          const Shape& u = shapes[pad.inputs[0]];
          p.in_h = u[1];
          p.in_w = u[2];
          p.pad_top += pad.attrs.paddings[1].first;
          p.pad_left += pad.attrs.paddings[2].first;
        }
        st.sparse = SparseWeights(*weights, refs, node);
        if (st.sparse != nullptr &&
            (st.sparse->rows != p.out_c || st.sparse->cols != p.kernel_h * p.kernel_w * p.in_c ||
             (q8 ? st.sparse->i8.size() : st.sparse->f32.size()) != st.sparse->col.size())) {
          return FormatError("node '" + node.name + "': its sparse weights do not fit the filter");
        }
        const F16Tensor* f16 = F16Weights(*weights, refs, node);
        if (f16 != nullptr && node.op == OpType::kConv2D && ConstWeights(refs, node) &&
            kernels.f16w_gemm.fn != nullptr && kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
          st.f16_packed = plan->PackGemmF16(p.out_c, p.kernel_h * p.kernel_w * p.in_c, *f16,
                                            static_cast<const float*>(BiasData(refs, node)), packs);
        } else if (st.sparse == nullptr && !q8 && node.op == OpType::kConv2D &&
                   ConstWeights(refs, node) && F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
          st.f32_gemm = NarrowOr(kernels, p.out_c);
          st.packed = plan->PackF32Weight(node, refs, p.out_c, p.kernel_h * p.kernel_w * p.in_c,
                                          st.f32_gemm, packs);
        }
        if (f16 != nullptr && node.op == OpType::kDepthwiseConv2D &&
            kernels.f16w_dwconv != nullptr && F32DepthwiseDwconvSupported(p)) {
          st.f16_filter = plan->F16Values(*f16, packs);
        }
        st.dwconv = !q8 && node.op == OpType::kDepthwiseConv2D && kernels.f32_dwconv != nullptr &&
                    F32DepthwiseDwconvSupported(p);
        break;
      }
      case OpType::kFullyConnected: {
        st.dense.in_features = x.back();
        st.dense.out_features = y.back();
        st.dense.rows = NumElements(x) / x.back();
        st.dense.act = ActivationRange(a.activation);
        st.sparse = SparseWeights(*weights, refs, node);
        if (st.sparse != nullptr &&
            (st.sparse->rows != st.dense.out_features || st.sparse->cols != st.dense.in_features ||
             (q8 ? st.sparse->i8.size() : st.sparse->f32.size()) != st.sparse->col.size())) {
          return FormatError("node '" + node.name + "': its sparse weights do not fit the layer");
        }
        const F16Tensor* f16 = F16Weights(*weights, refs, node);
        if (f16 != nullptr && ConstWeights(refs, node) && kernels.f16w_gemm.fn != nullptr &&
            kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
          st.f16_packed = plan->PackGemmF16(st.dense.out_features, st.dense.in_features, *f16,
                                            static_cast<const float*>(BiasData(refs, node)), packs);
        } else if (st.sparse == nullptr && !q8 && kernels.f32_gemm.fn != nullptr &&
                   kernels.f32_gemm.mr <= kF32GemmMaxMr && ConstWeights(refs, node)) {
          st.f32_gemm = NarrowOr(kernels, st.dense.out_features);
          st.packed = plan->PackF32Weight(node, refs, st.dense.out_features, st.dense.in_features,
                                          st.f32_gemm, packs);
        }
        break;
      }
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D: {
        Pool2DParams& p = st.pool;
        p.batch = x[0];
        p.in_h = x[1];
        p.in_w = x[2];
        p.channels = x[3];
        p.out_h = y[1];
        p.out_w = y[2];
        p.filter_h = a.filter_h;
        p.filter_w = a.filter_w;
        p.stride_h = a.stride_h;
        p.stride_w = a.stride_w;
        p.act = ActivationRange(a.activation);
        int64_t unused;
        ComputeWindow(p.in_h, p.filter_h, p.stride_h, 1, a.padding, &unused, &p.pad_top);
        ComputeWindow(p.in_w, p.filter_w, p.stride_w, 1, a.padding, &unused, &p.pad_left);
        break;
      }
      case OpType::kMean:
        st.mean = MakeMeanParams(x, a.axes);
        break;
      case OpType::kRelu:
        st.unary = UnaryOp::kRelu;
        break;
      case OpType::kRelu6:
        st.unary = UnaryOp::kRelu6;
        break;
      case OpType::kReluN1To1:
        st.unary = UnaryOp::kReluN1To1;
        break;
      case OpType::kLogistic:
        st.unary = UnaryOp::kLogistic;
        break;
      case OpType::kTanh:
        st.unary = UnaryOp::kTanh;
        break;
      case OpType::kHardSwish:
        st.unary = UnaryOp::kHardSwish;
        break;
      case OpType::kSoftmax:
        st.softmax.cols = x.back();
        st.softmax.rows = NumElements(x) / x.back();
        st.softmax.beta = a.beta;
        break;
      case OpType::kAdd:
      case OpType::kMul:
        MakeBinaryParams(x, shapes[node.inputs[1]], a.activation, &st.binary);
        break;
      case OpType::kConcatenation: {
        std::vector<Shape> in;
        for (int t : node.inputs) in.push_back(shapes[t]);
        st.concat = MakeConcatParams(in, a.axis, a.activation);
        break;
      }
      case OpType::kReshape:
      case OpType::kQuantize:
        break;
      case OpType::kPad:
        st.pad = MakePadParams(x, a.paddings, static_cast<float>(a.pad_value));
        break;
      case OpType::kTransposeConv: {
        const Shape& f = shapes[node.inputs[1]];
        Conv2DParams& p = st.conv;
        p.batch = x[0];
        p.in_h = x[1];
        p.in_w = x[2];
        p.in_c = x[3];
        p.out_h = y[1];
        p.out_w = y[2];
        p.out_c = y[3];
        p.kernel_h = static_cast<int>(f[1]);
        p.kernel_w = static_cast<int>(f[2]);
        p.stride_h = a.stride_h;
        p.stride_w = a.stride_w;
        p.act = ActivationRange(a.activation);
        p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, a.padding);
        p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, a.padding);
        if (!q8 && ConstWeights(refs, node) && weights->at(node.inputs[1]).sparse == nullptr &&
            F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
          const auto* w = static_cast<const float*>(refs[node.inputs[1]].data);
          const auto* b = static_cast<const float*>(BiasData(refs, node));
          if (TransposeConvIsShuffle(p)) {  // one temporary pack per filter row
            st.shuffle = true;
            const std::vector<float> bias_cols =
                b != nullptr ? TransposeConvShuffleColumns(p, b) : std::vector<float>();
            for (int ky = 0; ky < p.kernel_h; ++ky) {
              const std::vector<float> rows = TransposeConvShuffleFilter(p, w, ky);
              st.phase_packed.push_back(plan->PackGemm(p.kernel_w * p.out_c, p.in_c, rows.data(),
                                                       b != nullptr ? bias_cols.data() : nullptr,
                                                       nullptr));
            }
            break;
          }
          // One pack per output phase (f32_transpose_conv2d__phased). A
          // phase with every tap (stride 1) packs the filter itself, shared
          // through `packs`; the others pack a temporary, which `packs`
          // (keyed by the weights' address) must not keep.
          for (int ry = 0; ry < p.stride_h; ++ry) {
            for (int rx = 0; rx < p.stride_w; ++rx) {
              const std::vector<int> taps = TransposeConvPhaseTaps(p, ry, rx);
              const int64_t k = static_cast<int64_t>(taps.size()) * p.in_c;
              if (taps.size() == static_cast<size_t>(p.kernel_h) * p.kernel_w) {
                st.phase_packed.push_back(plan->PackGemm(p.out_c, k, w, b, packs));
              } else {
                const std::vector<float> sub = TransposeConvPhaseFilter(p, w, taps);
                st.phase_packed.push_back(plan->PackGemm(p.out_c, k, sub.data(), b, nullptr));
              }
            }
          }
        }
        break;
      }
      case OpType::kSub:
      case OpType::kDiv:
      case OpType::kMaximum:
      case OpType::kMinimum:
      case OpType::kPrelu:
        MakeBinaryParams(x, shapes[node.inputs[1]], a.activation, &st.binary);
        break;
      case OpType::kLeakyRelu:
        st.alpha = a.alpha;
        break;
      case OpType::kResizeBilinear:
      case OpType::kResizeNearestNeighbor:
        st.resize = MakeResizeParams(x, y, a);
        break;
      case OpType::kDepthToSpace:
        st.strided = MakeDepthToSpaceParams(x, a.block_size);
        break;
      case OpType::kSpaceToDepth:
        st.strided = MakeSpaceToDepthParams(x, a.block_size);
        break;
      case OpType::kTranspose:
        st.strided = MakeTransposeParams(x, a.perm);
        break;
      case OpType::kSlice:
        st.strided = MakeSliceParams(x, a.begin, a.end, a.strides);
        break;
      case OpType::kGather:
        st.gather = MakeGatherParams(x, a.axis, a.indices);
        break;
    }
    if (q8) GS_RETURN_IF_ERROR(plan->PrepareQ8Step(model, node, refs, packs, &st));
    plan->steps_.push_back(std::move(st));
  }
  if (int8) plan->ExpandQ4Reads(model);
  if (!int8) plan->MaterializeRecipeReads(model, packs);
  if (keep_tensors) plan->tensor_refs_ = refs;
  plan->float_tensor_ = float_tensor;
  for (int o : model.outputs) {
    plan->graph_outputs_.push_back(refs[o]);
    plan->output_shapes_.push_back(shapes[o]);
    plan->output_bytes_.push_back(NumElements(shapes[o]) * static_cast<int64_t>(sizeof(float)));
  }
  if (int8) {
    for (int t : model.inputs) {
      plan->q8_inputs_.push_back({refs[t].index, NumElements(shapes[t]), g.activations[t],
                                  MakeIoConv(model.tensors[t].io, g.activations[t]), -1, IoDesc()});
    }
    for (int o : model.outputs) {
      if (refs[o].kind == TensorRef::Kind::kConst) {
        return Unsupported("gear '" + g.name + "': graph output '" + model.tensors[o].name +
                           "' is a constant");
      }
      // An island's output leaves as float32 (f32_offset), converted as f32
      // gears convert at an integer interface.
      plan->q8_outputs_.push_back({refs[o].index, NumElements(shapes[o]), g.activations[o],
                                   MakeIoConv(model.tensors[o].io, g.activations[o]),
                                   is_float(o) ? refs[o].index : -1, model.tensors[o].io});
    }
  }
  plan->scratch_.assign(max_operands, nullptr);
  plan->scratch_q8_.assign(max_operands, nullptr);
  *out = std::move(plan);
  return Status::Ok();
}

const void* Plan::Resolve(const TensorRef& ref, const void* const* inputs, uint8_t* arena) const {
  switch (ref.kind) {
    case TensorRef::Kind::kAbsent:
      return nullptr;
    case TensorRef::Kind::kInput:
      return inputs[ref.index];
    case TensorRef::Kind::kConst:
      return ref.data;
    case TensorRef::Kind::kArena:
      return arena + ref.index;
  }
  return nullptr;
}

namespace {

// Times the steps of one run into step_ms[i] when step_ms is not null:
// Next() at the top of each step and once after the last.
class StepTimer {
 public:
  explicit StepTimer(double* step_ms) : ms_(step_ms) {}
  void Next() {
    if (ms_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    if (step_ > 0) ms_[step_ - 1] = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    ++step_;
  }

 private:
  double* ms_;
  size_t step_ = 0;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

void Plan::Run(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
               double* step_ms, bool native_io) {
  if (int8_) {
    RunQ8(inputs, outputs, arena, pool, step_ms, native_io);
  } else {
    RunF32(inputs, outputs, arena, pool, step_ms);
  }
}

const void* Plan::TensorData(int t, const uint8_t* arena) const {
  if (t < 0 || static_cast<size_t>(t) >= tensor_refs_.size()) return nullptr;
  const TensorRef& r = tensor_refs_[t];
  return r.kind == TensorRef::Kind::kArena ? arena + r.index : nullptr;
}

void Plan::RunF32(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
                  double* step_ms, int only_step) {
  const float** in = scratch_.data();
  StepTimer timer(step_ms);
  const size_t first = only_step < 0 ? 0 : static_cast<size_t>(only_step);
  const size_t end = only_step < 0 ? steps_.size() : first + 1;
  for (size_t s = first; s < end; ++s) {
    const PlanStep& st = steps_[s];
    timer.Next();
    if (st.skip) continue;  // a PAD folded into its convolution
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = static_cast<const float*>(Resolve(operands_[st.first_operand + i], inputs, arena));
    }
    float* y = reinterpret_cast<float*>(arena + st.output.index);
    switch (st.op) {
      case OpType::kConv2D:
        if (st.sparse != nullptr) {
          f32_conv2d__sparse(st.conv, *st.sparse, in[0], st.num_operands > 2 ? in[2] : nullptr, y,
                             pool);
          break;
        }
        if (st.f16_packed != nullptr) {
          if (kernels_.f16_gemm.fn != nullptr) {  // packed for it (PackGemmF16)
            f16_conv2d__gemm(st.conv, kernels_.f16_gemm, st.f16_packed, in[0], y, pool);
          } else {
            f16w_conv2d__gemm(st.conv, kernels_.f16w_gemm, st.f16_packed, in[0], y, pool);
          }
          break;
        }
        if (st.packed != nullptr) {
          f32_conv2d__gemm(st.conv, st.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y, pool);
        break;
      case OpType::kDepthwiseConv2D:
        if (st.f16_filter != nullptr && kernels_.f16_dwconv.fn != nullptr) {
          f16_depthwise_conv2d__dwconv(st.conv, kernels_.f16_dwconv, in[0], st.f16_filter,
                                       st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.f16_filter != nullptr) {
          f16w_depthwise_conv2d__dwconv(st.conv, kernels_.f16w_dwconv, in[0], st.f16_filter,
                                        st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.dwconv) {
          f32_depthwise_conv2d__dwconv(st.conv, kernels_.f32_dwconv, in[0], in[1],
                                       st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        f32_depthwise_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                  pool);
        break;
      case OpType::kFullyConnected:
        if (st.sparse != nullptr) {
          f32_fully_connected__sparse(st.dense, *st.sparse, in[0],
                                      st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.f16_packed != nullptr) {
          if (kernels_.f16_gemm.fn != nullptr) {
            f16_fully_connected__gemm(st.dense, kernels_.f16_gemm, st.f16_packed, in[0], y, pool);
          } else {
            f16w_fully_connected__gemm(st.dense, kernels_.f16w_gemm, st.f16_packed, in[0], y, pool);
          }
          break;
        }
        if (st.packed != nullptr) {
          f32_fully_connected__gemm(st.dense, st.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_fully_connected__ref(st.dense, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                 pool);
        break;
      case OpType::kMaxPool2D:
        f32_max_pool2d__opt(st.pool, kernels_.f32_pool, in[0], y, pool);
        break;
      case OpType::kAveragePool2D:
        f32_average_pool2d__opt(st.pool, kernels_.f32_pool, in[0], y, pool);
        break;
      case OpType::kMean:
        f32_mean__opt(st.mean, in[0], y);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        f32_unary__opt(st.unary, in[0], y, st.out_elements, pool);
        break;
      case OpType::kSoftmax:
        f32_softmax__ref(st.softmax, in[0], y);
        break;
      case OpType::kAdd:
        f32_binary__opt(BinaryOp::kAdd, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMul:
        f32_binary__opt(BinaryOp::kMul, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kConcatenation:
        f32_concat__ref(st.concat, in, y);
        break;
      case OpType::kReshape:
        f32_copy__ref(in[0], y, st.out_elements);
        break;
      case OpType::kPad:
        f32_pad__opt(st.pad, in[0], y, pool);
        break;
      case OpType::kTransposeConv:
        if (st.shuffle) {
          f32_transpose_conv2d__shuffle(st.conv, kernels_.f32_gemm, st.phase_packed.data(), in[0],
                                        y, pool);
          break;
        }
        if (!st.phase_packed.empty()) {
          f32_transpose_conv2d__phased(st.conv, kernels_.f32_gemm, st.phase_packed.data(), in[0],
                                       y, pool);
          break;
        }
        f32_transpose_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                  pool);
        break;
      case OpType::kSub:
        f32_binary__opt(BinaryOp::kSub, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kDiv:
        f32_binary__opt(BinaryOp::kDiv, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMaximum:
        f32_binary__opt(BinaryOp::kMaximum, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMinimum:
        f32_binary__opt(BinaryOp::kMinimum, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kPrelu:
        f32_binary__opt(BinaryOp::kPrelu, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kLeakyRelu:
        f32_leaky_relu__opt(st.alpha, kernels_.f32_vbinary, in[0], y, st.out_elements, pool);
        break;
      case OpType::kResizeBilinear:
        f32_resize_bilinear__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kResizeNearestNeighbor:
        f32_resize_nearest__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
      case OpType::kTranspose:
      case OpType::kSlice:
        f32_strided_copy__ref(st.strided, in[0], y);
        break;
      case OpType::kGather:
        f32_gather__ref(st.gather, in[0], y);
        break;
      case OpType::kQuantize:  // identity in float gears
        f32_copy__ref(in[0], y, st.out_elements);
        break;
    }
  }
  if (only_step >= 0) return;  // an int8 gear's float island step (RunQ8)
  timer.Next();
  for (size_t i = 0; i < graph_outputs_.size(); ++i) {
    const void* src = Resolve(graph_outputs_[i], inputs, arena);
    if (src != outputs[i]) {
      std::memmove(outputs[i], src, static_cast<size_t>(output_bytes_[i]));
    }
  }
}

namespace {

// A weight's int8 values: in place, or a q4 weight's expanded into *scratch.
const int8_t* Int8Values(const ConstView& w, std::vector<int8_t>* scratch) {
  if (w.q4 == nullptr) return w.i8;
  scratch->resize(static_cast<size_t>(w.q4->elements));
  w.q4->Expand(scratch->data());
  return scratch->data();
}

}  // namespace

void Plan::ExpandQ4Reads(const ModelDesc& model) {
  std::unordered_map<int, const int8_t*> expanded;  // tensor -> its int8 values
  for (size_t s = 0; s < steps_.size(); ++s) {
    const PlanStep& st = steps_[s];
    const NodeDesc& node = model.nodes[s];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int t = node.inputs[j];
      const Q4MTensor* q4 = t >= 0 ? weights_->at(t).q4 : nullptr;
      // A packed conv/dense/depthwise step never reads operand 1 itself.
      if (q4 == nullptr || (j == 1 && st.q8_packed != nullptr)) continue;
      auto it = expanded.find(t);
      if (it == expanded.end()) {
        std::shared_ptr<void> values = AlignedBytes(static_cast<size_t>(q4->elements));
        q4->Expand(static_cast<int8_t*>(values.get()));
        packed_bytes_ += q4->elements;
        it = expanded.emplace(t, static_cast<const int8_t*>(values.get())).first;
        packed_storage_.push_back(std::move(values));
      }
      operands_[static_cast<size_t>(st.first_operand) + j].data = it->second;
    }
  }
}

Status Plan::PrepareQ8Step(const ModelDesc& model, const NodeDesc& node,
                           const std::vector<TensorRef>& refs, PackedWeightsCache* packs,
                           PlanStep* st) {
  const GearDesc& g = model.gears[gear_];
  auto fail = [&](const std::string& m) {
    return FormatError("gear '" + g.name + "', node '" + node.name + "': " + m);
  };
  // (scale, zero point) of an operand: the gear's activation parameters, or
  // a constant's per-tensor storage quant.
  auto quant_of = [&](int t, Q8Quant* q) -> Status {
    if (refs[t].kind != TensorRef::Kind::kConst) {
      *q = g.activations[t];
      return Status::Ok();
    }
    const ConstView& cv = weights_->at(t);
    if (cv.i8 == nullptr || cv.quant == nullptr || cv.quant->scale.size() != 1) {
      return fail("constant '" + model.tensors[t].name + "' is not int8 with per-tensor quant");
    }
    q->scale = cv.quant->scale[0];
    q->zero_point = cv.quant->zero_point.empty() ? 0 : cv.quant->zero_point[0];
    return Status::Ok();
  };
  // Value-moving ops (pools, CONCATENATION, RESHAPE, PAD, 1.3's layout ops,
  // resizes, MAXIMUM/MINIMUM) need equal
  // parameters in and out (the reader checks; a plan never rescales there).
  auto same_as_output = [&](int t, Q8Quant y) -> Status {
    Q8Quant q;
    GS_RETURN_IF_ERROR(quant_of(t, &q));
    if (!SameQuant(q, y)) {
      return fail("input '" + model.tensors[t].name +
                  "' and the output have different int8 parameters");
    }
    return Status::Ok();
  };
  Q8Quant x, y = g.activations[node.outputs[0]];
  GS_RETURN_IF_ERROR(quant_of(node.inputs[0], &x));
  const Activation act = node.attrs.activation;
  switch (node.op) {
    case OpType::kConv2D:
    case OpType::kDepthwiseConv2D:
    case OpType::kFullyConnected:
    case OpType::kTransposeConv: {
      const int wt = node.inputs[1];
      const int bt = node.inputs.size() > 2 ? node.inputs[2] : -1;
      if (refs[wt].kind != TensorRef::Kind::kConst) {
        return Unsupported("gear '" + g.name + "', node '" + node.name +
                           "': int8 weights must be constant");
      }
      const ConstView& w = weights_->at(wt);
      const bool dense = node.op == OpType::kFullyConnected;
      const int64_t channels = dense ? st->dense.out_features : st->conv.out_c;
      const int axis = node.op == OpType::kDepthwiseConv2D ? 3 : 0;
      if ((w.i8 == nullptr && w.sparse == nullptr && w.q4 == nullptr) || w.quant == nullptr) {
        return fail("weights are not int8");
      }
      const QuantDesc& wq = *w.quant;
      if (!(wq.scale.size() == 1 ||
            (static_cast<int64_t>(wq.scale.size()) == channels && wq.axis == axis))) {
        return fail("weight quant is neither per tensor nor per output channel");
      }
      for (int32_t z : wq.zero_point) {
        if (z != 0) return fail("int8 weights must be symmetric (zero point 0)");
      }
      const int32_t* bias = nullptr;
      if (bt >= 0) {
        bias = refs[bt].kind == TensorRef::Kind::kConst ? weights_->at(bt).i32 : nullptr;
        if (bias == nullptr) return fail("the bias is not a constant int32 tensor");
      }
      MakeQ8ChannelRequant(x, wq.scale, y, channels, act, &st->q8_channel);
      // A kernel that sums two int8 products in int16 is exact only without
      // -128 weights: checked here, per layer, on the gear's own values.
      bool has_w_min = false;
      if (w.i8 != nullptr &&
          (dense || node.op == OpType::kConv2D || node.op == OpType::kTransposeConv) &&
          kernels_.q8_gemm_w127.fn != kernels_.q8_gemm.fn) {
        const int64_t count =
            channels * (dense ? st->dense.in_features
                              : int64_t{st->conv.kernel_h} * st->conv.kernel_w * st->conv.in_c);
        for (int64_t i = 0; i < count && !has_w_min; ++i) has_w_min = w.i8[i] == -128;
      }
      const Q8GemmKernel& kernel = has_w_min ? kernels_.q8_gemm : kernels_.q8_gemm_w127;
      st->q8_gemm = kernel;
      if (node.op == OpType::kTransposeConv && st->sparse == nullptr &&
          TransposeConvIsShuffle(st->conv) && Q8GemmUsable(kernels_.q8_gemm)) {
        // One pack per filter row, of rearranged (temporary) rows: packed
        // through a local cache, never shared by address.
        const Conv2DParams& p = st->conv;
        std::vector<int8_t> expanded;
        const int8_t* values = Int8Values(w, &expanded);
        const int64_t count = p.out_c * p.kernel_h * p.kernel_w * p.in_c;
        const bool w_min = std::find(values, values + count, int8_t{-128}) != values + count;
        st->q8_gemm = w_min ? kernels_.q8_gemm : kernels_.q8_gemm_w127;
        Q8ChannelRequant cols = st->q8_channel;
        cols.multiplier = TransposeConvShuffleColumns(p, st->q8_channel.multiplier.data());
        cols.shift = TransposeConvShuffleColumns(p, st->q8_channel.shift.data());
        const std::vector<int32_t> bias_cols =
            bias != nullptr ? TransposeConvShuffleColumns(p, bias) : std::vector<int32_t>();
        const int64_t n = p.kernel_w * p.out_c;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const std::vector<int8_t> rows = TransposeConvShuffleFilter(p, values, ky);
          PackedWeightsCache local;
          std::shared_ptr<const void> pack =
              local.GetQ8(st->q8_gemm, n, p.in_c, rows.data(),
                          bias != nullptr ? bias_cols.data() : nullptr, cols);
          packed_bytes_ += static_cast<int64_t>(
              Q8GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(p.in_c), st->q8_gemm));
          st->q8_phase_packed.push_back(pack.get());
          packed_storage_.push_back(std::move(pack));
        }
        st->shuffle = true;
        break;
      }
      const bool gemm =
          st->sparse == nullptr &&
          (dense ? Q8GemmUsable(kernel)
                 : (node.op == OpType::kConv2D || node.op == OpType::kTransposeConv) &&
                       Q8Conv2DGemmSupported(st->conv, kernel));
      if (gemm) {
        const int64_t k = dense ? st->dense.in_features
                                : int64_t{st->conv.kernel_h} * st->conv.kernel_w * st->conv.in_c;
        PackedWeightsCache local;
        PackedWeightsCache* cache = packs != nullptr ? packs : &local;
        std::shared_ptr<const void> pack;
        size_t bytes = 0;
        const Q4MTensor* q4 = w.q4;
        if (q4 != nullptr && q4->layout.outer == 1 && q4->layout.channels == channels &&
            q4->layout.inner == k) {
          // Rows are the channels' rows of the q4m view: pack it 4-bit.
          pack = cache->GetQ4(kernel, channels, k, *q4, bias, st->q8_channel, &bytes);
          st->q4_block = static_cast<size_t>(q4->block);
        } else {  // int8 weights, or a q4 weight of a hand-made layout: an int8 pack
          std::vector<int8_t> expanded;
          pack =
              cache->GetQ8(kernel, channels, k, Int8Values(w, &expanded), bias, st->q8_channel, q4);
          bytes = Q8GemmPackedBytes(static_cast<size_t>(channels), static_cast<size_t>(k), kernel);
        }
        packed_bytes_ += static_cast<int64_t>(bytes);
        st->q8_packed = pack.get();
        packed_storage_.push_back(std::move(pack));
      } else if (node.op == OpType::kDepthwiseConv2D && st->sparse == nullptr &&
                 (w.i8 != nullptr || w.q4 != nullptr) &&
                 Q8DepthwiseDwconvSupported(st->conv, kernels_.q8_dwconv)) {
        size_t bytes = 0;
        PackedWeightsCache local;
        std::vector<int8_t> expanded;  // a depthwise pack holds int8 copies anyway
        std::shared_ptr<const void> pack =
            (packs != nullptr ? packs : &local)
                ->GetQ8Depthwise(kernels_.q8_dwconv, st->conv, Int8Values(w, &expanded), bias,
                                 st->q8_channel, &bytes, w.q4);
        packed_bytes_ += static_cast<int64_t>(bytes);
        st->q8_packed = pack.get();
        packed_storage_.push_back(std::move(pack));
      }
      break;
    }
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      st->q8_act = Q8ActivationRange(act, y);
      break;
    case OpType::kMean:
      st->q8_rescale = MakeQ8MeanParams(x, y, st->mean.reduced_count);
      break;
    case OpType::kRelu:
    case OpType::kRelu6:
    case OpType::kReluN1To1:
      st->q8_rescale = MakeQ8RescaleParams(st->unary, x, y);
      st->q8_table = MakeQ8RescaleTable(st->q8_rescale);  // run as a lookup
      break;
    case OpType::kLogistic:
    case OpType::kTanh:
    case OpType::kHardSwish:
      st->q8_table = MakeQ8Table(st->unary, x, y);
      break;
    case OpType::kSoftmax:
      st->q8_softmax = MakeQ8SoftmaxParams(node.attrs.beta, x, y);
      break;
    case OpType::kAdd:
    case OpType::kMul: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      if (node.op == OpType::kAdd) {
        st->q8_add = MakeQ8AddParams(x, b, y, act);
      } else {
        st->q8_mul = MakeQ8MulParams(x, b, y, act);
      }
      break;
    }
    case OpType::kConcatenation:
      for (int t : node.inputs) GS_RETURN_IF_ERROR(same_as_output(t, y));
      st->q8_act = Q8ActivationRange(act, y);
      break;
    case OpType::kReshape:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      break;
    case OpType::kPad:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      // The fill is real `value` (default 0, which quantizes to zy).
      st->q8_pad_value = QuantizeQ8Fill(node.attrs.pad_value, y);
      break;
    case OpType::kSub: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      st->q8_add = MakeQ8SubParams(x, b, y, act);
      break;
    }
    case OpType::kDiv: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      st->q8_div = MakeQ8DivParams(x, b, y, act);
      break;
    }
    case OpType::kPrelu: {
      Q8Quant alpha;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &alpha));
      st->q8_prelu = MakeQ8PreluParams(x, alpha, y);
      const int at = node.inputs[1];
      // Tables where no vector row kernel runs PRELU (the ref ISA): one load
      // per element beats two scalar 64-bit requantizations; the AVX2,
      // AVX-512 and NEON rows beat the table's scalar loads.
      if (kernels_.q8_vbinary.prelu == nullptr && refs[at].kind == TensorRef::Kind::kConst &&
          weights_->at(at).i8 != nullptr) {
        st->q8_prelu_tables = MakeQ8PreluTables(st->binary, st->q8_prelu, weights_->at(at).i8);
        packed_bytes_ += static_cast<int64_t>(st->q8_prelu_tables.size());
      }
      break;
    }
    case OpType::kLeakyRelu:
      st->q8_leaky_relu = MakeQ8LeakyReluParams(node.attrs.alpha, x, y);
      st->q8_table = MakeQ8LeakyReluTable(st->q8_leaky_relu);  // run as a lookup
      break;
    case OpType::kQuantize:
      st->q8_rescale = MakeQ8RequantizeParams(x, y);
      st->q8_table = MakeQ8RescaleTable(st->q8_rescale);  // run as a lookup
      break;
    case OpType::kMaximum:
    case OpType::kMinimum:
      for (int t : node.inputs) GS_RETURN_IF_ERROR(same_as_output(t, y));
      break;
    case OpType::kResizeBilinear:
    case OpType::kResizeNearestNeighbor:
    case OpType::kDepthToSpace:
    case OpType::kSpaceToDepth:
    case OpType::kTranspose:
    case OpType::kSlice:
    case OpType::kGather:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      break;
  }
  return Status::Ok();
}

void Plan::RunQ8(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
                 double* step_ms, bool native_io) {
  for (size_t i = 0; i < q8_inputs_.size(); ++i) {
    const Q8Io& io = q8_inputs_[i];
    if (native_io && io.conv.kind != IoConv::Kind::kFloat) {  // integers as they are
      IoToQ8(io.conv, inputs[i], reinterpret_cast<int8_t*>(arena + io.offset), io.elements);
      continue;
    }
    q8_quantize__opt(static_cast<const float*>(inputs[i]), io.quant,
                     reinterpret_cast<int8_t*>(arena + io.offset), io.elements, pool,
                     kernels_.q8_quantize.fn);
  }
  const int8_t** in = scratch_q8_.data();
  StepTimer timer(step_ms);
  for (const PlanStep& st : steps_) {
    timer.Next();
    if (st.skip) continue;  // a PAD folded into its convolution
    for (const PlanStep::Conversion& c : st.convert) {  // across an island's boundary
      if (c.to_f32) {
        q8_dequantize__opt(reinterpret_cast<const int8_t*>(arena + c.src), c.quant,
                           reinterpret_cast<float*>(arena + c.dst), c.elements, pool);
      } else {
        q8_quantize__opt(reinterpret_cast<const float*>(arena + c.src), c.quant,
                         reinterpret_cast<int8_t*>(arena + c.dst), c.elements, pool,
                         kernels_.q8_quantize.fn);
      }
    }
    if (st.f32) {  // a float island's node: the float path, this step alone
      RunF32(inputs, outputs, arena, pool, nullptr, static_cast<int>(&st - steps_.data()));
      continue;
    }
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = static_cast<const int8_t*>(Resolve(operands_[st.first_operand + i], inputs, arena));
    }
    // Conv/dense operand 2 is the int32 bias.
    const auto* bias =
        st.num_operands > 2
            ? static_cast<const int32_t*>(Resolve(operands_[st.first_operand + 2], inputs, arena))
            : nullptr;
    int8_t* y = reinterpret_cast<int8_t*>(arena + st.output.index);
    switch (st.op) {
      case OpType::kConv2D:
        if (st.sparse != nullptr) {
          q8_conv2d__sparse(st.conv, st.q8_channel, *st.sparse, in[0], bias, y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_conv2d__gemm(st.conv, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y, pool,
                          st.q4_block);
        } else {
          q8_conv2d__ref(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kDepthwiseConv2D:
        if (st.q8_packed != nullptr) {
          q8_depthwise_conv2d__dw(st.conv, st.q8_channel, kernels_.q8_dwconv, st.q8_packed, in[0],
                                  y, pool);
        } else {
          q8_depthwise_conv2d__ref(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kFullyConnected:
        if (st.sparse != nullptr) {
          q8_fully_connected__sparse(st.dense, st.q8_channel, *st.sparse, in[0], bias, y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_fully_connected__gemm(st.dense, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y,
                                   pool, st.q4_block);
        } else {
          q8_fully_connected__ref(st.dense, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kMaxPool2D:
        q8_max_pool2d__opt(st.pool, st.q8_act, in[0], y, pool);
        break;
      case OpType::kAveragePool2D:
        q8_average_pool2d__opt(st.pool, st.q8_act, in[0], y, pool);
        break;
      case OpType::kMean:
        q8_mean__opt(st.mean, st.q8_rescale, in[0], y, pool);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kSoftmax:
        q8_softmax__opt(st.softmax, st.q8_softmax, in[0], y, pool);
        break;
      case OpType::kAdd:
        q8_add__opt(st.binary, st.q8_add, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kMul:
        q8_mul__opt(st.binary, st.q8_mul, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kConcatenation:
        q8_concat__opt(st.concat, st.q8_act, in, y, pool);
        break;
      case OpType::kReshape:
        q8_copy__ref(in[0], y, st.out_elements);
        break;
      case OpType::kPad:
        q8_pad__opt(st.pad, st.q8_pad_value, in[0], y, pool);
        break;
      case OpType::kTransposeConv:
        if (st.shuffle) {
          q8_transpose_conv2d__shuffle(st.conv, st.q8_channel, st.q8_gemm,
                                       st.q8_phase_packed.data(), in[0], y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_transpose_conv2d__gemm(st.conv, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y,
                                    pool, st.q4_block);
        } else {
          q8_transpose_conv2d__opt(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kSub:
        q8_add__opt(st.binary, st.q8_add, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kDiv:
        q8_div__ref(st.binary, st.q8_div, in[0], in[1], y);
        break;
      case OpType::kMaximum:
        q8_maximum__opt(st.binary, in[0], in[1], y, pool);
        break;
      case OpType::kMinimum:
        q8_minimum__opt(st.binary, in[0], in[1], y, pool);
        break;
      case OpType::kPrelu:
        if (!st.q8_prelu_tables.empty()) {
          q8_prelu__table(st.binary, st.q8_prelu_tables, in[0], y, pool);
          break;
        }
        q8_prelu__opt(st.binary, st.q8_prelu, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kLeakyRelu:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kQuantize:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kResizeBilinear:
        q8_resize_bilinear__opt(st.resize, in[0], y, pool, kernels_.q8_resize.bilinear);
        break;
      case OpType::kResizeNearestNeighbor:
        q8_resize_nearest__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
      case OpType::kTranspose:
      case OpType::kSlice:
        q8_strided_copy__ref(st.strided, in[0], y);
        break;
      case OpType::kGather:
        q8_gather__ref(st.gather, in[0], y);
        break;
    }
  }
  timer.Next();
  for (size_t i = 0; i < q8_outputs_.size(); ++i) {
    const Q8Io& io = q8_outputs_[i];
    if (io.f32_offset >= 0) {  // a float island's output: float32, as f32 gears give it
      const auto* v = reinterpret_cast<const float*>(arena + io.f32_offset);
      if (native_io && io.conv.kind != IoConv::Kind::kFloat) {
        F32ToIo(io.io, v, outputs[i], io.elements);
      } else {
        std::memcpy(outputs[i], v, static_cast<size_t>(io.elements) * sizeof(float));
      }
      continue;
    }
    if (native_io && io.conv.kind != IoConv::Kind::kFloat) {
      Q8ToIo(io.conv, reinterpret_cast<const int8_t*>(arena + io.offset), outputs[i], io.elements);
      continue;
    }
    q8_dequantize__opt(reinterpret_cast<const int8_t*>(arena + io.offset), io.quant,
                       static_cast<float*>(outputs[i]), io.elements, pool);
  }
}

void PlanCache::DropGear(int gear) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [gear](const Entry& e) { return e.plan->gear() == gear; }),
                 entries_.end());
}

Status PlanCache::Get(const ModelDesc& model, const std::shared_ptr<const GearWeights>& weights,
                      const std::vector<Shape>& input_shapes, Plan** plan) {
  if (weights == nullptr) return InvalidArgument("PlanCache::Get: null weights");
  const int gear = weights->gear();
  ++tick_;
  for (Entry& e : entries_) {
    if (e.plan->gear() == gear && SameShapes(e.plan->input_shapes(), input_shapes)) {
      e.last_use = tick_;
      *plan = e.plan.get();
      return Status::Ok();
    }
  }
  Entry fresh;
  GS_RETURN_IF_ERROR(
      Plan::Build(model, weights, input_shapes, kernels_, &packs_, &fresh.plan, keep_tensors_));
  ++builds_;
  fresh.last_use = tick_;
  if (entries_.size() >= capacity_) {
    auto lru =
        std::min_element(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    *lru = std::move(fresh);
    *plan = lru->plan.get();
  } else {
    entries_.push_back(std::move(fresh));
    *plan = entries_.back().plan.get();
  }
  return Status::Ok();
}

}  // namespace gearshift
