// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Public C++ API of the gearshift runtime: open a .gear file, pick a gear,
// run it. Usable without Python (the tools in runtime_cpp/tools use only this
// header). No call throws; errors come back as Status.
//
// Thread safety: a Runtime may be shared between threads. Run and Prepare
// calls from several threads are serialised (one activation arena); SetGear
// may be called at any time from any thread, also while a Run executes in
// another: that run completes in the gear it started with, and the next one
// uses the new gear. output_shapes() refers to the latest Prepare or Run of
// any thread.
//
// Typical use:
//   std::unique_ptr<gearshift::Runtime> rt;
//   GS_RETURN_IF_ERROR(gearshift::Runtime::Open("m.gear", {}, &rt));
//   GS_RETURN_IF_ERROR(rt->Prepare({{1, 8, 8, 1}}));   // input shapes
//   const float* in[] = {x};  float* out[] = {y};
//   GS_RETURN_IF_ERROR(rt->Run(in, out));
#ifndef GEARSHIFT_GEARSHIFT_H_
#define GEARSHIFT_GEARSHIFT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gearshift/status.h"

namespace gearshift {

// Version of this runtime library and of the .gear format it reads.
constexpr const char* kVersion = "0.3.0";
constexpr int kFormatMajor = 1;
constexpr int kFormatMinor = 7;

using Shape = std::vector<int64_t>;

// Element types of graph inputs/outputs at the interface. Every graph tensor
// holds real values (f32); since format 1.4 a graph input or output may say
// that the source model exchanged it as int8 or uint8 integers (its `io`).
enum class DType { kF32 = 0, kI8 = 1, kU8 = 2 };

struct TensorInfo {
  std::string name;
  Shape shape;  // -1 in dimension 0 = batch, fixed by Prepare()
  // The interface dtype: what RunIo reads/writes for this tensor. For kI8 and
  // kU8, real = scale * (q - zero_point) (zero_point in the dtype's range).
  DType dtype = DType::kF32;
  float scale = 0.0f;      // kI8 / kU8 only
  int32_t zero_point = 0;  // kI8 / kU8 only
};

// One node's wall time in a profiled Run (Runtime::SetProfiling).
struct NodeTime {
  std::string name;  // the node's name in the file
  std::string op;    // its op, as docs/FORMAT.md names it ("CONV_2D")
  double ms = 0.0;
};

struct RuntimeOptions {
  std::string gear;              // empty: the file's first (most precise) gear
  int threads = 1;               // worker threads for kernels, >= 1
  bool verify_checksums = true;  // CRC of data sections (the manifest's always)
  bool use_mmap = true;          // false: read the file into memory instead
  // Kernel ISA: empty = the best this CPU offers (or $GEARSHIFT_ISA when
  // set); "ref" = reference kernels only; else one of
  // RuntimeInfo::isa_compiled the CPU supports ("avx2", "neon"). Anything
  // else makes Open fail with InvalidArgument listing the available ones.
  std::string isa;
  // When each gear's weights are prepared (derived from the file's storage
  // and packed for the kernels): "lazy" at the first switch to the gear (or
  // its first run), "all" at Open (plans too once the input shapes are
  // known), so that later switches cost no preparation.
  std::string prepare = "lazy";
  // Upper bound on the bytes prepared weights may take (prepared_bytes());
  // 0 = unlimited. Over it, the least recently used gears other than the
  // current one are dropped and prepared again at their next use; a gear
  // that does not fit alone makes SetGear/Prepare/Run fail.
  int64_t memory_budget_bytes = 0;
  // Keep every tensor the graph computes readable after Run (ReadTensor):
  // no activation memory is reused and no PAD is folded into its
  // convolution, so the arena grows to the sum of all activations. For
  // calibration and debugging, not for deployment.
  bool keep_tensors = false;
};

class Runtime {
 public:
  // Opens, maps and fully validates the file (docs/FORMAT.md section 3).
  static Status Open(const std::string& path, const RuntimeOptions& options,
                     std::unique_ptr<Runtime>* out);
  virtual ~Runtime() = default;

  // Graph inputs/outputs as declared in the file (batch may be -1).
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;

  // Gear names, highest precision first, and the current one.
  virtual const std::vector<std::string>& gears() const = 0;
  virtual const std::string& gear() const = 0;
  // Switches gear without reloading; takes effect at the next Prepare/Run.
  // The first switch to a gear prepares its weights (RuntimeOptions::prepare);
  // later switches only swap a pointer. Safe during a Run in another thread.
  virtual Status SetGear(const std::string& name) = 0;

  // Fixes the input shapes (one per graph input, batch included), infers
  // every shape, and builds (or reuses a cached) execution plan for the
  // current gear. Cheap when nothing changed.
  virtual Status Prepare(const std::vector<Shape>& input_shapes) = 0;
  // Concrete output shapes after the last successful Prepare().
  virtual const std::vector<Shape>& output_shapes() const = 0;

  // Runs the prepared plan. inputs[i] points to a C-contiguous float32
  // buffer of input i's prepared shape (real values, also for an input whose
  // TensorInfo::dtype is an integer: see RunIo); outputs[i] to a float32
  // buffer of output_shapes()[i]. Buffers are only read/written during the call.
  // Calls from several threads run one at a time.
  virtual Status Run(const void* const* inputs, void* const* outputs) = 0;
  // As Run, but every buffer is in its interface dtype (TensorInfo::dtype):
  // int8/uint8 where the source model exchanged integers, float32 elsewhere.
  // An int8/int4 gear then consumes and produces the integers directly (a
  // copy, or a zero-point shift for uint8, where the interface parameters
  // equal the gear's); float gears dequantize such inputs and quantize such
  // outputs with the interface parameters. Equals Run for float interfaces.
  virtual Status RunIo(const void* const* inputs, void* const* outputs) {
    return Run(inputs, outputs);
  }

  // Bytes of the activation arena of the current plan (0 before Prepare).
  virtual int64_t arena_bytes() const = 0;
  // With RuntimeOptions::keep_tensors, after a Run: the values of tensor
  // `name` (a graph input of an int8 gear or any node output) as float32,
  // an int8 gear's dequantized with the gear's activation parameters, and
  // their shape. Fails without keep_tensors, before a Run of the current
  // plan, for constants, for a float gear's graph inputs (the caller's
  // own buffers) and for unknown names.
  virtual Status ReadTensor(const std::string& name, std::vector<float>* values, Shape* shape) = 0;
  // The same for a float gear without a copy: *data points into the
  // activation arena and stays valid only until the next Run, Prepare or
  // SetGear of this Runtime.
  virtual Status TensorView(const std::string& name, const float** data, Shape* shape) = 0;
  // Wall time of the last Run, in milliseconds.
  virtual double last_latency_ms() const = 0;
  // Per-node profiling, off by default. When on, every Run also reads the
  // clock once per node (tens of nanoseconds each) and last_profile() gives
  // the last run's node times in execution order; the rest of
  // last_latency_ms() is graph input quantization and output copies.
  virtual void SetProfiling(bool on) = 0;
  virtual std::vector<NodeTime> last_profile() const = 0;
  // Bytes allocated for prepared weights of the gears held now: values
  // derived from the file (q8r4 and q8r8, f16, int4 views) plus kernel-packed copies.
  // Weights used in place from the file count nothing.
  virtual int64_t prepared_bytes() const = 0;
  virtual int threads() const = 0;
  // The kernel ISA this Runtime selected at Open ("ref", "avx2", "neon").
  virtual const std::string& isa() const = 0;
};

// Human-readable facts about this build: version, formats read, ISA paths.
struct RuntimeInfo {
  std::string version;
  int format_major = kFormatMajor;
  int format_minor = kFormatMinor;
  std::vector<std::string> isa_compiled;  // e.g. {"ref", "avx2"}
  std::vector<std::string> isa_detected;  // what the CPU offers
  // Kernel family -> variant a default Runtime selects here (GEARSHIFT_ISA
  // and GEARSHIFT_DISABLE applied), e.g. {"q8_gemm": "q8_gemm_4x8c2__avx2"}.
  std::map<std::string, std::string> isa_selected;
};
RuntimeInfo GetRuntimeInfo();

}  // namespace gearshift

#endif  // GEARSHIFT_GEARSHIFT_H_
