// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ModelDesc: the validated, in-memory form of a .gear manifest. The reader
// (gear_reader.cc) builds it and guarantees every invariant listed here; the
// planner and executor (src/plan, src/ops) rely on them and never re-parse
// JSON or touch raw file offsets. See docs/FORMAT.md.
#ifndef GEARSHIFT_FORMAT_MODEL_DESC_H_
#define GEARSHIFT_FORMAT_MODEL_DESC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gearshift/gearshift.h"

namespace gearshift {

// Op types of format 1.0, then those added in 1.3 (docs/FORMAT.md "Nodes").
enum class OpType {
  kConv2D,
  kDepthwiseConv2D,
  kFullyConnected,
  kMaxPool2D,
  kAveragePool2D,
  kMean,
  kRelu,
  kRelu6,
  kReluN1To1,
  kLogistic,
  kTanh,
  kHardSwish,
  kSoftmax,
  kAdd,
  kMul,
  kConcatenation,
  kReshape,
  kPad,
  // 1.3
  kTransposeConv,
  kSub,
  kDiv,
  kMaximum,
  kMinimum,
  kLeakyRelu,
  kPrelu,
  kResizeBilinear,
  kResizeNearestNeighbor,
  kDepthToSpace,
  kSpaceToDepth,
  kTranspose,
  kSlice,
  kGather,
  kQuantize,
};

enum class Padding { kSame, kValid };
enum class Activation { kNone, kRelu, kRelu6, kReluN1To1 };

// Storage element types and encodings (docs/FORMAT.md "Storage").
enum class StorageDType { kF32, kF16, kI8, kI32 };
enum class Encoding {
  kDense,  // row-major values
  kQ8R4,   // f32 = scale[c] * (q8 + r4 / 16), q8 from `base`, r4 the payload
  kQ4M,    // i8 = the int4 view of `base` (block multipliers), no payload
  // 1.2: sparse i8 (format/sparse_codec.h), zeros not stored, `nnz` values.
  kBitmap,   // presence bits over the [C, K] rows, then the non-zeros
  kCsr,      // u32 row offsets, u16/u32 column indices, then the non-zeros
  kTwoFour,  // two slots per group of four along the last dim, 2-bit positions
  kQ8R8,     // 1.7: f32 = scale[c] * (q8 + r8 / 256), q8 from `base`, r8 the payload
};

// The residual encodings: an f32 entry as its i8 base plus a residual per
// stored base value, `bits` wide (q8r4: 4, q8r8: 8).
inline bool IsResidualEncoding(Encoding e) { return e == Encoding::kQ8R4 || e == Encoding::kQ8R8; }
inline int ResidualBits(Encoding e) { return e == Encoding::kQ8R8 ? 8 : 4; }

// The encoding's name as FORMAT.md spells it (error messages of the reader).
inline const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kDense:
      return "dense";
    case Encoding::kQ8R4:
      return "q8r4";
    case Encoding::kQ4M:
      return "q4m";
    case Encoding::kBitmap:
      return "bitmap";
    case Encoding::kCsr:
      return "csr";
    case Encoding::kTwoFour:
      return "2:4";
    case Encoding::kQ8R8:
      return "q8r8";
  }
  return "?";
}

// A storage entry's `quant`: real = scale * (value - zero_point).
struct QuantDesc {
  bool present = false;
  int axis = -1;                    // -1: one (scale, zero_point) for the tensor
  std::vector<float> scale;         // 1 or shape[axis] values, finite, > 0
  std::vector<int32_t> zero_point;  // same length (zeros when absent in the file)
};

// Arithmetic of a gear (docs/FORMAT.md "Compute tokens").
enum class Compute { kF32, kF16, kQ8, kQ4 };

// int8 parameters of one activation tensor in a q8/q4 gear.
struct ActQuant {
  float scale = 0.0f;
  int32_t zero_point = 0;
};

// Union of the attributes of all ops; fields not used by an op keep defaults.
struct NodeAttrs {
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int filter_h = 1, filter_w = 1;  // pools only
  int depth_multiplier = 1;
  Padding padding = Padding::kValid;
  Activation activation = Activation::kNone;
  float beta = 1.0f;                   // SOFTMAX
  int axis = 0;                        // CONCATENATION (non-negative)
  std::vector<int> axes;               // MEAN
  bool keep_dims = false;              // MEAN
  std::vector<int64_t> shape;          // RESHAPE (excluding dim 0), may hold one -1
  std::vector<std::pair<int64_t, int64_t>> paddings;  // PAD
  // 1.3
  double pad_value = 0.0;  // PAD's optional `value` (as written; f32 gears round it)
  int size_h = 1, size_w = 1;            // TRANSPOSE_CONV output_size, RESIZE_* size
  bool align_corners = false;            // RESIZE_*
  bool half_pixel_centers = false;       // RESIZE_*
  float alpha = 0.0f;                    // LEAKY_RELU
  int block_size = 1;                    // DEPTH_TO_SPACE, SPACE_TO_DEPTH
  std::vector<int> perm;                 // TRANSPOSE (perm[0] == 0)
  std::vector<int64_t> begin, end, strides;  // SLICE: axes 1..rank-1
  std::vector<int64_t> indices;          // GATHER (along `axis`, 1 <= axis < rank)
};

struct NodeDesc {
  std::string name;
  OpType op;
  std::vector<int> inputs;   // tensor indices; -1 = absent optional input
  std::vector<int> outputs;  // tensor indices
  NodeAttrs attrs;
};

// 1.4: how a graph input/output crosses the interface (its `io`): the
// source model's integer dtype and quantization. kF32 (absent) elsewhere.
struct IoDesc {
  DType dtype = DType::kF32;
  float scale = 0.0f;      // finite float32 > 0 for kI8 / kU8
  int32_t zero_point = 0;  // [-128, 127] for kI8, [0, 255] for kU8
};

struct TensorDesc {
  std::string name;
  Shape shape;  // dim 0 may be -1 for non-constant tensors
  DType dtype = DType::kF32;
  bool is_const = false;
  IoDesc io;  // only graph inputs/outputs may carry one (the reader checks)
};

struct StorageDesc {
  int section = 0;        // index into the section table
  uint64_t offset = 0;    // within the section
  uint64_t length = 0;
  StorageDType dtype = StorageDType::kF32;
  Shape shape;
  Encoding encoding = Encoding::kDense;
  int base = -1;   // kQ8R4 / kQ4M: the i8 (dense or sparse) entry the values derive from
  int block = 0;   // kQ4M: block length along a channel's row
  int64_t nnz = 0;  // sparse encodings: stored non-zeros (payload checked by the reader)
  QuantDesc quant;  // present for kI8 and kI32
  // Resolved by the reader: points into the mapped file, 64-byte aligned,
  // `length` bytes valid for the lifetime of the GearFile.
  const uint8_t* data = nullptr;
};

struct GearDesc {
  std::string name;     // "fp32", ...
  std::string compute;  // "f32", "f16", "q8", "q4", "q8+f32", "q4+f32" (as written)
  Compute arith = Compute::kF32;
  // For each tensor index: storage index, or -1 for non-constant tensors.
  // Size == tensors.size(); every constant tensor has a valid entry.
  std::vector<int> constant_storage;
  // q8/q4 only: for each tensor index, its int8 parameters (size ==
  // tensors.size(); constants' entries unused). Empty for f32/f16.
  std::vector<ActQuant> activations;
  // 1.2: run conv/dense layers whose weights are stored sparse on sparse
  // kernels (PrepareGearWeights keeps them compressed); default false.
  bool sparse = false;
  // 1.5, compute "q8+f32" / "q4+f32": per node index, 1 for a node computed
  // in float32 (a float island), 0 for an integer node. Empty otherwise.
  std::vector<char> float_nodes;
};

struct ModelDesc {
  int version_major = 0, version_minor = 0;
  std::string producer;
  std::vector<TensorDesc> tensors;
  std::vector<int> inputs, outputs;
  std::vector<NodeDesc> nodes;  // topologically ordered
  std::vector<StorageDesc> storage;
  std::vector<GearDesc> gears;  // highest precision first, at least one
};

// A validated, mapped .gear file. Owns the mapping (RAII); storage `data`
// pointers stay valid as long as the GearFile lives.
class GearFile {
 public:
  struct Options {
    bool verify_checksums = true;
    bool use_mmap = true;
  };
  // Opens `path` and validates everything in docs/FORMAT.md section 3 (1-3).
  static Status Open(const std::string& path, const Options& options,
                     std::unique_ptr<GearFile>* out);
  // Same over an in-memory buffer (copied), for tests and fuzzing.
  static Status FromBuffer(const uint8_t* data, size_t size, const Options& options,
                           std::unique_ptr<GearFile>* out);
  virtual ~GearFile() = default;
  virtual const ModelDesc& model() const = 0;
  virtual uint64_t file_size() const = 0;
};

}  // namespace gearshift

#endif  // GEARSHIFT_FORMAT_MODEL_DESC_H_
