// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Plan: everything one inference needs for one (gear, input shapes) pair,
// resolved ahead of time: each node's kernel and parameters, where each
// operand lives (caller's input buffer, a constant inside the mapped file, or
// an offset into the activation arena), and the arena size. Running a plan
// only resolves the arena base and the caller's pointers, then calls
// kernels: no allocation, no shape arithmetic.
//
// Convolutions and dense layers run on the GEMM microkernel of the
// Runtime's KernelTable (dispatch.h) when it has one: their constant weights
// and bias are packed once here into plan-owned aligned buffers (the file's
// weights stay untouched). The cost is about one extra copy of those weights
// (packed_bytes()), shared by all the plans of one PlanCache through a
// PackedWeightsCache, so other batch sizes do not pack again; an empty table
// keeps the reference ops.
//
// A compact file's f32 gear keeps its q8r4 convolution, depthwise and dense
// weights undecoded (GearWeights holds a recipe, Q8R4Tensor): they are
// decoded here straight into the GEMM pack (the decoded values exist only
// while it is made), or once into memory shared through the
// PackedWeightsCache for a step that reads the filter itself (depthwise,
// reference ops), so no decoded copy sits beside a pack.
//
// The fp16 gear keeps its convolution and dense weights 16-bit: they are
// packed as half here, straight from the file's storage (GearWeights keeps
// only a recipe, F16Tensor), and run on the Runtime's f16w kernels, which
// widen them as they load them and otherwise compute as the f32 kernels do
// (the same results, bit for bit, at half the weight bytes). A step no
// f16w kernel can run (a depthwise multiplier above 1) reads the weight
// widened into memory the plan owns.
//
// Gears computing in int8 (q8, q4: the same at plan level, only their
// weights differ) keep int8 activations in the arena (one byte per element)
// with the gear's `activations` parameters: graph inputs are quantized into
// the arena on entry and outputs dequantized into the caller's float buffers
// at the end; every multiplier, clamp range and table is computed here
// (src/ops_q8). Their convolutions and dense layers run on the table's q8
// GEMM microkernel, packed once like the f32 weights; an empty table keeps
// the int8 reference ops, which every path matches bit for bit.
//
// In a gear with `sparse`, conv/dense layers whose weights are stored sparse
// (PrepareGearWeights kept them as a SparseMatrix) run on the sparse
// reference kernels instead; layers with dense weights keep the path above.
//
// PlanCache keeps recently used plans, so switching back to a gear or to a
// batch size seen before does not plan again.
//
// Where each part lives (docs/ARCHITECTURE.md, "The plan, inside"): every
// per-op decision is the op's OpDef (op_registry.h, op_defs/*.cc); build.cc
// drives the build, memory_plan.cc places tensors, weight_packing.cc makes
// the packs, execute.cc / execute_q8.cc run the steps.
#ifndef GEARSHIFT_PLAN_PLAN_H_
#define GEARSHIFT_PLAN_PLAN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "dispatch.h"
#include "format/model_desc.h"
#include "gearshift/status.h"
#include "plan/graph_io.h"
#include "plan/memory_plan.h"
#include "plan/op_registry.h"
#include "plan/step_params.h"
#include "plan/weight_packing.h"
#include "prepare/gear_weights.h"
#include "thread_pool.h"

namespace gearshift {

// One node, ready to call: where its operands and output live, the kernel
// it runs (its op's run function for the step's dtype, from the
// OpRegistry) and its own op's parameters (step_params.h).
struct PlanStep {
  OpType op = OpType::kRelu;
  bool skip = false;   // does nothing: a folded PAD, or an alias
  bool alias = false;  // its output shares input 0's bytes (OpDef::alias, PlanMemory)
  int first_operand = 0, num_operands = 0;  // range in Plan::operands_
  TensorRef output;
  int64_t out_elements = 0;
  RunF32Fn run_f32 = nullptr;  // float gears, and an int8 gear's float islands
  RunQ8Fn run_q8 = nullptr;    // int8 gears
  StepParams params;           // the op's own parameters (monostate: none)
  // Integer gears with float islands (FORMAT.md 1.5, "q8+f32"): `f32` runs
  // the step on the float path (float operands, float output); each
  // conversion, made just before the step, copies a tensor across the
  // island's boundary into arena bytes of its own (dequantized for a float
  // step, quantized with the tensor's parameters for an integer one).
  struct Conversion {
    int64_t src = 0, dst = 0;  // arena byte offsets
    int64_t elements = 0;
    Q8Quant quant;
    bool to_f32 = false;
  };
  bool f32 = false;
  std::vector<Conversion> convert;

  // The params of op family T (ConvStep, DenseStep, ...), or null for a
  // step of another family.
  template <class T>
  const T* get() const {
    return std::get_if<T>(&params);
  }
  // The step's GEMM / depthwise pack if it has one (null otherwise): float
  // (fp32 `packed`) and int8 (`q8_packed`) sides, and its sparse weights.
  const float* packed() const;
  const void* q8_packed() const;
  const SparseMatrix* sparse() const;
};

// Whether a step reads its weight (operand 1) through a pack or half bits
// of its own rather than through the operand: float gears (a GEMM or f16w
// pack, f16 depthwise filter bits) and int8 gears (an int8 pack).
bool FloatStepPacksWeight(const StepParams& p);
bool Q8StepPacksWeight(const StepParams& p);

class Plan {
 public:
  // Infers shapes (plan/shape_inference.h) and builds the plan of gear
  // `gear` (index into model.gears) for the given input shapes, preparing
  // the gear's weights itself (reference kernels).
  static Status Build(const ModelDesc& model, int gear, const std::vector<Shape>& input_shapes,
                      std::unique_ptr<Plan>* out);
  // Same over already prepared weights (weights->gear() is the gear),
  // running conv/dense on `kernels` (reference ops where it has none).
  // `packs` (may be null) shares packed weights with other plans. The plan
  // keeps `weights` alive.
  // keep_tensors: every tensor the graph computes gets its own arena bytes
  // and no PAD is folded, so each node's output stays readable after Run
  // (TensorData); costs memory (calibration and debugging only).
  static Status Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                      const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                      PackedWeightsCache* packs, std::unique_ptr<Plan>* out,
                      bool keep_tensors = false);
  // Same with the ops of `registry` (tests: a registry lacking a kernel).
  // A node whose op has no kernel there for the dtype it computes in is
  // refused here, before anything is packed (OpRegistry::CheckGear).
  static Status Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                      const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                      PackedWeightsCache* packs, std::unique_ptr<Plan>* out, bool keep_tensors,
                      const OpRegistry& registry);

  int gear() const { return gear_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }
  const std::vector<Shape>& tensor_shapes() const { return tensor_shapes_; }
  int64_t arena_bytes() const { return arena_bytes_; }
  const std::vector<PlanStep>& steps() const { return steps_; }
  // Steps whose output shares its input's bytes instead of a copy
  // (OpDef::alias; PlanMemory says when that is safe).
  int alias_steps() const;
  const KernelTable& kernels() const { return kernels_; }
  // True for q8/q4 gears: int8 activations and kernels.
  bool int8() const { return int8_; }
  // Whether tensor t holds int8 values: in an int8 gear, every tensor but
  // those its float islands compute (float32).
  bool tensor_int8(int t) const {
    return int8_ && (float_tensor_.empty() || float_tensor_[static_cast<size_t>(t)] == 0);
  }
  // Bytes of packed weights this plan owns (0 on the reference path).
  int64_t packed_bytes() const { return plan_packs_ != nullptr ? plan_packs_->bytes() : 0; }
  bool keeps_tensors() const { return !tensor_refs_.empty(); }
  // A plan built with keep_tensors: where tensor t's values are after a Run
  // with `arena` (int8 gears: int8 values, float gears: float), or null
  // for a constant, or a float gear's graph input (the caller's buffer).
  const void* TensorData(int t, const uint8_t* arena) const;

  // arena: arena_bytes() bytes, 64-byte aligned. inputs/outputs as in
  // Runtime::Run. Not thread-safe (reuses an internal pointer table).
  // step_ms (may be null): steps().size() doubles, each step's wall time
  // (step i runs model.nodes[i]).
  // native_io: int8 gears read/write integer-interface inputs/outputs
  // (graph_io.h) in their interface dtype, not float32 (Runtime::RunIo).
  // Float gears ignore it (the Runtime converts around them).
  void Run(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
           double* step_ms = nullptr, bool native_io = false);

 private:
  Plan() = default;

  const void* Resolve(const TensorRef& ref, const void* const* inputs, uint8_t* arena) const;
  // only_step >= 0: that step alone, no outputs copied (an int8 gear's float
  // island step, from RunQ8).
  void RunF32(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
              double* step_ms, int only_step = -1);
  void RunQ8(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
             double* step_ms, bool native_io);
  // Gives every step that reads a q4 weight itself (not through a pack: a
  // reference kernel, TRANSPOSE_CONV) its int8 values, expanded once per
  // plan into memory the plan owns (counted in packed_bytes()).
  void ExpandQ4Reads(const ModelDesc& model);
  // Float gears: points every operand that is a weight recipe (an
  // underived fp16 or undecoded q8r4 weight) and that its step reads itself
  // (no pack or f16w kernel took it) at WidenedF16 / DecodedQ8R4.
  void MaterializeRecipeReads(const ModelDesc& model, PackedWeightsCache* packs);

  int gear_ = 0;
  bool int8_ = false;
  std::shared_ptr<const GearWeights> weights_;
  KernelTable kernels_;
  std::unique_ptr<PlanPacks> plan_packs_;  // the packs its steps point into
  std::vector<Shape> input_shapes_, output_shapes_, tensor_shapes_;
  int64_t arena_bytes_ = 0;
  std::vector<PlanStep> steps_;
  std::vector<TensorRef> operands_;       // all steps' inputs, flattened
  std::vector<TensorRef> graph_outputs_;  // where each graph output is
  std::vector<TensorRef> tensor_refs_;    // keep_tensors: where every tensor is
  std::vector<char> float_tensor_;        // float islands: 1 for a float32 tensor
  std::vector<int64_t> output_bytes_;
  std::vector<const float*> scratch_;      // resolved operands of one step
  std::vector<const int8_t*> scratch_q8_;  // the same, int8 gears
  // int8 gears: graph inputs quantized into the arena, outputs dequantized.
  struct Q8Io {
    int64_t offset = 0;  // arena byte offset (inputs)
    int64_t elements = 0;
    Q8Quant quant;
    IoConv conv;  // an integer interface's conversion (kFloat: none)
    // Outputs a float island computes: float32 at this arena offset (-1: int8).
    int64_t f32_offset = -1;
    IoDesc io;  // its interface, if any (converted as f32 gears do)
  };
  std::vector<Q8Io> q8_inputs_, q8_outputs_;
};

// Least-recently-used cache of plans keyed by (gear, input shapes).
class PlanCache {
 public:
  explicit PlanCache(size_t capacity = 16, KernelTable kernels = KernelTable(),
                     bool keep_tensors = false)
      : capacity_(capacity < 1 ? 1 : capacity),
        kernels_(std::move(kernels)),
        keep_tensors_(keep_tensors) {}

  // Returns the cached plan of (weights->gear(), input_shapes) or builds
  // (and caches) it. The pointer stays valid until a later Get evicts it or
  // DropGear drops it.
  Status Get(const ModelDesc& model, const std::shared_ptr<const GearWeights>& weights,
             const std::vector<Shape>& input_shapes, Plan** plan);
  // Forgets every plan of `gear` (their weights are freed once unused).
  void DropGear(int gear);

  int64_t builds() const { return builds_; }  // plans built so far
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::unique_ptr<Plan> plan;
    uint64_t last_use = 0;
  };
  size_t capacity_;
  KernelTable kernels_;
  bool keep_tensors_;  // Plan::Build's keep_tensors
  PackedWeightsCache packs_;
  std::vector<Entry> entries_;
  uint64_t tick_ = 0;
  int64_t builds_ = 0;
};

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_PLAN_H_
