// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// GearWeights: every constant tensor of one gear in the form its kernels
// read, derived once from the file's storage (docs/FORMAT.md "Storage",
// "Compute tokens"). Dense payloads that are already in that form are used in
// place (pointers into the mapped file); everything else (q8r4 -> f32, f16
// rounding, the q4m int4 view) is materialised into buffers this object
// owns. Plans hold a shared_ptr, so a gear's weights live while any plan
// uses them, and a Runtime can drop a gear's weights (memory budget) without
// pulling them from under a run in flight.
#ifndef GEARSHIFT_PREPARE_GEAR_WEIGHTS_H_
#define GEARSHIFT_PREPARE_GEAR_WEIGHTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "format/model_desc.h"
#include "gearshift/status.h"
#include "ops/sparse_matrix.h"

namespace gearshift {

// Channel layout of a per-channel tensor: `outer` x `channels` x `inner`
// in C order, with the channel axis in the middle.
struct ChannelLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

// A q4 gear's int4 weight (the q4m view, FORMAT.md), not materialised: the
// recipe to derive it from its int8 base in the file, so that the gear holds
// no int8 copy. Element i is m[c * blocks + b] * r[i], c its channel, b the
// block of its position k in the channel's row (b = k / block), r[i] in
// [-8, 7] and the block multiplier m in 1..15 (DeriveQ4MParts). The plan
// derives the parts into its 4-bit GEMM packs, or the int8 values where an
// op reads them.
struct Q4MTensor {
  ChannelLayout layout;
  int block = 1;
  int64_t elements = 0;
  int64_t blocks = 0;                 // per channel: ceil(outer * inner / block)
  const StorageDesc* base = nullptr;  // i8, dense (mapped) or sparse, checked
  // r: (elements + 1) / 2 bytes of nibbles (C order, low first); m:
  // layout.channels * blocks multipliers. May throw std::bad_alloc.
  void Derive(uint8_t* r, uint8_t* m) const;
  // The int8 values (elements bytes): DeriveQ4M's. May throw std::bad_alloc.
  void Expand(int8_t* out) const;
};

// An f16 gear's convolution or dense weight, not materialised: its values
// are the entry's half bits (f16 storage) or its f32 values (dense or q8r4)
// rounded to half, derived only where a plan packs them, so the gear keeps
// no f32 copy (docs/QUANTIZATION.md "fp16").
struct F16Tensor {
  int64_t elements = 0;
  const StorageDesc* entry = nullptr;  // f16 dense, or f32 dense / q8r4 (checked)
  const StorageDesc* base = nullptr;   // q8r4: its i8 base (dense or sparse), else null
  // The entry's half bits in place (dense f16, 2-byte aligned, little-endian
  // host), else null: then Derive them.
  const uint16_t* InPlace() const;
  // `elements` half bits. May throw std::bad_alloc.
  void Derive(uint16_t* out) const;
  // The values the f16 gear computes with (exact widening of Derive's bits).
  void Widen(float* out) const;
};

// An f32 gear's convolution, depthwise or dense weight stored with a
// residual (q8r4 or q8r8: "q8r4" names the family in the code) that no
// other op reads, not materialised: the plan decodes it (DecodeResidual, the
// f32 gear's values bit for bit) straight into its GEMM pack, or once into
// memory it owns for a step that reads the filter itself (depthwise,
// reference ops), so the gear keeps no decoded copy beside the pack.
struct Q8R4Tensor {
  int64_t elements = 0;
  const StorageDesc* entry = nullptr;  // f32 q8r4 or q8r8 (the residuals), checked
  const StorageDesc* base = nullptr;   // its i8 base (dense or sparse), checked
  // `elements` floats: exact zeros where a sparse base stores nothing.
  void Decode(float* out) const;
};

// One constant tensor as the kernels of a gear see it. Exactly one of the
// pointers is set for a constant; all are null for non-constant tensors.
struct ConstView {
  const float* f32 = nullptr;    // f32 and f16 gears (f16: values rounded to half)
  // f16 gears: a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weight that
  // no other op reads, left underived (then f32 is null); the plan packs it
  // as half for the f16w kernels, or widens it where a step needs floats.
  const F16Tensor* f16 = nullptr;
  // f32 gears: a q8r4 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weight
  // that no other op reads, left undecoded (then f32 is null); the plan
  // packs it or decodes it where a step reads floats.
  const Q8R4Tensor* q8r4 = nullptr;
  const int8_t* i8 = nullptr;    // q8/q4 gears: weights and other constants
  const int32_t* i32 = nullptr;  // q8/q4 gears: biases
  // q8/q4: the storage's quantization parameters (per channel for weights
  // and biases, per tensor for other constants). Points into the ModelDesc.
  const QuantDesc* quant = nullptr;
  // `sparse` gears: a CONV_2D/FULLY_CONNECTED weight stored sparse in the
  // file, kept compressed (then f32 and i8 are null).
  const SparseMatrix* sparse = nullptr;
  // q4 gears: a q4m weight, left underived (then i8 is null); the plan packs
  // it 4-bit for the GEMM kernels or expands it where an op reads int8.
  const Q4MTensor* q4 = nullptr;
};

class GearWeights {
 public:
  int gear() const { return gear_; }
  Compute compute() const { return compute_; }
  // Indexed by tensor index; size == model.tensors.size().
  const std::vector<ConstView>& consts() const { return consts_; }
  const ConstView& at(int tensor) const { return consts_[static_cast<size_t>(tensor)]; }
  // Bytes this object allocated (0 when every constant is used in place).
  int64_t owned_bytes() const { return owned_bytes_; }

  // For PrepareGearWeights and tests that assemble weights by hand.
  GearWeights(int gear, Compute compute, size_t num_tensors)
      : gear_(gear), compute_(compute), consts_(num_tensors) {}
  ConstView& mutable_at(int tensor) { return consts_[static_cast<size_t>(tensor)]; }
  // A zero-initialised, 64-byte aligned buffer owned by this object.
  uint8_t* Allocate(size_t bytes);
  // Takes ownership of a sparse weight (counted in owned_bytes()).
  const SparseMatrix* Adopt(std::unique_ptr<SparseMatrix> m);
  // A new Q4MTensor owned by this object.
  Q4MTensor* NewQ4M();
  // A new F16Tensor owned by this object.
  F16Tensor* NewF16();
  // A new Q8R4Tensor owned by this object.
  Q8R4Tensor* NewQ8R4();

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };
  int gear_;
  Compute compute_;
  std::vector<ConstView> consts_;
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> buffers_;
  std::vector<std::unique_ptr<const SparseMatrix>> sparse_;
  std::vector<std::unique_ptr<Q4MTensor>> q4m_;
  std::vector<std::unique_ptr<F16Tensor>> f16_;
  std::vector<std::unique_ptr<Q8R4Tensor>> q8r4_;
  int64_t owned_bytes_ = 0;
};

// Derives gear `gear`'s constants from `model`'s storage. The ModelDesc (and
// the GearFile owning its mapping) must outlive the result. Per compute:
//   f32: f32 dense in place; q8r4 conv/depthwise/dense weights read by
//        nothing else become Q8R4Tensor recipes (ConstView::q8r4), decoded
//        only by the plan (into its packs, or its own copy where a step
//        reads floats); other q8r4 constants decoded into an owned buffer
//        (over a sparse base: exact zeros at the slots the base does not
//        store).
//   f16: conv/depthwise/dense weights read by nothing else become F16Tensor
//        recipes (ConstView::f16), derived to half only when a plan packs
//        them; other constants: f16 storage widened exactly, f32 storage
//        (dense or q8r4) rounded to half and back (RoundToF16), both into
//        owned f32 buffers.
//   q8:  i8 and i32 dense in place, with their quant; sparse i8 densified.
//   q4:  as q8, but q4m entries become Q4MTensor recipes (ConstView::q4):
//        the int4 view is derived when a plan packs it, never held as int8
//        by the gear; with the base's quant.
// In a gear with `sparse`, a CONV_2D/FULLY_CONNECTED weight whose storage
// (or its q8r4/q4m base) is sparse, and that no other op reads, becomes a
// SparseMatrix of the values above instead (ConstView::sparse).
// Returns kFormatError for storage a gear's compute cannot take, kInternal
// on out-of-memory; never throws.
Status PrepareGearWeights(const ModelDesc& model, int gear,
                          std::shared_ptr<const GearWeights>* out);

// ---- the derivations, exposed for tests ----------------------------------

// IEEE binary32 -> binary16 bits: round to nearest even; finite values
// beyond +-65504 saturate to +-65504 (docs/QUANTIZATION.md); infinities stay
// infinite and NaN stays NaN (quiet). Bit for bit numpy's
// converters/quant_ref.py quantize_f16, without needing F16C.
uint16_t F32ToF16Bits(float x);
// binary16 bits -> binary32, exact (subnormals, infinities, NaN included).
float F16BitsToF32(uint16_t h);
// The f16 gear's value of an f32 constant.
inline float RoundToF16(float x) { return F16BitsToF32(F32ToF16Bits(x)); }

// Layout of `shape` around `axis` (axis < 0: one channel).
ChannelLayout LayoutOf(const Shape& shape, int axis);

// q8r4 / q8r8 (FORMAT.md), `bits` 4 / 8: out[i] = scale[c] * ((float)q[i] +
// (float)r[i] * 2^-bits), r[i] the signed nibble i of `residuals` (low
// nibble first) or its signed byte i.
void DecodeResidual(const int8_t* q, const uint8_t* residuals, int bits,
                    const ChannelLayout& layout, const float* scale, float* out);

// q4m (FORMAT.md): each channel's row of K = outer * inner values (C order
// with the channel axis removed) is cut into blocks of `block`; a block's
// values become m * clamp(rdiv(q, m), -8, 7) with the m in 1..15 of least
// squared error (the smallest on a tie). Integer arithmetic only.
void DeriveQ4M(const int8_t* q, const ChannelLayout& layout, int block, int8_t* out);
// The same view in parts: r_out gets ceil(n / 2) bytes of nibbles (C order,
// low nibble first), m_out channels * ceil(outer * inner / block) multipliers
// (channel-major), value i being m * r as Q4MTensor describes.
void DeriveQ4MParts(const int8_t* q, const ChannelLayout& layout, int block, uint8_t* r_out,
                    uint8_t* m_out);

// q8r4 / q8r8 over a sparse base: out (n floats, zeroed by the caller) gets
// scale[c] * ((float)q + (float)r * 2^-bits) at every slot the base stores,
// r the slot's residual in `residuals`. `base` must be a checked sparse entry.
void DecodeResidualSparse(const StorageDesc& base, const uint8_t* residuals, int bits, float* out);
// The dense int8 values of a checked sparse entry into out (n bytes, zeroed).
void DensifySparse(const StorageDesc& sd, int8_t* out);

}  // namespace gearshift

#endif  // GEARSHIFT_PREPARE_GEAR_WEIGHTS_H_
