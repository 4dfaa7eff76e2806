// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The per-gear derivations of docs/FORMAT.md: q8r4 / q8r8 -> f32, f32/f16 -> the
// f16 gear's values, q4m -> int8. Each is exact integer or single-rounding
// float arithmetic, so every build and ISA derives the same bits (the f16
// rounding is written with integer operations, not F16C, for that reason).
#include "prepare/gear_weights.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "format/sparse_codec.h"

namespace gearshift {

void GearWeights::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

uint8_t* GearWeights::Allocate(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  buffers_.emplace_back(static_cast<uint8_t*>(p));
  owned_bytes_ += static_cast<int64_t>(rounded);
  return static_cast<uint8_t*>(p);
}

Q4MTensor* GearWeights::NewQ4M() {
  q4m_.push_back(std::unique_ptr<Q4MTensor>(new Q4MTensor()));
  owned_bytes_ += static_cast<int64_t>(sizeof(Q4MTensor));
  return q4m_.back().get();
}

F16Tensor* GearWeights::NewF16() {
  f16_.push_back(std::unique_ptr<F16Tensor>(new F16Tensor()));
  owned_bytes_ += static_cast<int64_t>(sizeof(F16Tensor));
  return f16_.back().get();
}

Q8R4Tensor* GearWeights::NewQ8R4() {
  q8r4_.push_back(std::unique_ptr<Q8R4Tensor>(new Q8R4Tensor()));
  owned_bytes_ += static_cast<int64_t>(sizeof(Q8R4Tensor));
  return q8r4_.back().get();
}

const SparseMatrix* GearWeights::Adopt(std::unique_ptr<SparseMatrix> m) {
  owned_bytes_ += m->bytes();
  sparse_.emplace_back(std::move(m));
  return sparse_.back().get();
}

void DensifySparse(const StorageDesc& sd, int8_t* out) {
  ForEachSparseSlot(sd, [&](int64_t, int64_t index, int8_t v) {
    if (v != 0) out[index] = v;  // a 2:4 slot may hold a zero
  });
}

namespace {

// Residual i of a q8r4 (signed nibbles, low first) or q8r8 (signed bytes)
// payload, in units of the int8 step: r / 16 or r / 256, exact in float.
inline float ResidualAt(const uint8_t* residuals, int64_t i, int bits) {
  if (bits == 8) return static_cast<float>(static_cast<int8_t>(residuals[i])) * 0.00390625f;
  const uint8_t byte = residuals[i / 2];
  const int nibble = (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
  return static_cast<float>(nibble >= 8 ? nibble - 16 : nibble) * 0.0625f;
}

}  // namespace

void DecodeResidualSparse(const StorageDesc& base, const uint8_t* residuals, int bits, float* out) {
  const SparseRows rows = SparseRowsOf(base.shape, base.quant.axis);
  const float* scale = base.quant.scale.data();
  ForEachSparseSlot(base, [&](int64_t j, int64_t index, int8_t q) {
    out[index] =
        scale[rows.ChannelOf(index)] * (static_cast<float>(q) + ResidualAt(residuals, j, bits));
  });
}

// ---- f16 ---------------------------------------------------------------------

uint16_t F32ToF16Bits(float x) {
  uint32_t f;
  std::memcpy(&f, &x, 4);
  const auto sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  const uint32_t a = f & 0x7FFFFFFFu;
  if (a >= 0x7F800000u) {
    if (a == 0x7F800000u) return sign | 0x7C00u;                          // infinity stays infinite
    return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));  // quiet NaN
  }
  if (a >= 0x477FE000u) return sign | 0x7BFFu;  // |x| >= 65504: saturate
  if (a >= 0x38800000u) {                       // a normal half: rebias 127 -> 15
    uint32_t h = (a - 0x38000000u) >> 13;
    const uint32_t rem = a & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carries into the exponent
    return static_cast<uint16_t>(sign | h);
  }
  if (a <= 0x33000000u) return sign;  // |x| <= 2^-25 rounds (ties to even) to zero
  // A subnormal half: units of 2^-24.
  const uint32_t e = a >> 23;  // 102..112
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float F16BitsToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  uint32_t m = h & 0x3FFu;
  uint32_t f;
  if (e == 0x1F) {
    f = sign | 0x7F800000u | (m << 13);
  } else if (e != 0) {
    f = sign | ((e + 112) << 23) | (m << 13);
  } else if (m == 0) {
    f = sign;
  } else {  // subnormal: normalise
    uint32_t shift = 0;
    while ((m & 0x400u) == 0) {
      m <<= 1;
      ++shift;
    }
    f = sign | ((113 - shift) << 23) | ((m & 0x3FFu) << 13);
  }
  float x;
  std::memcpy(&x, &f, 4);
  return x;
}

// ---- q8r4, q8r8 and q4m ------------------------------------------------------------------

ChannelLayout LayoutOf(const Shape& shape, int axis) {
  ChannelLayout l;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t n = shape[d];
    if (axis < 0 || static_cast<int>(d) < axis) {
      l.outer *= n;
    } else if (static_cast<int>(d) == axis) {
      l.channels = n;
    } else {
      l.inner *= n;
    }
  }
  return l;
}

void DecodeResidual(const int8_t* q, const uint8_t* residuals, int bits,
                    const ChannelLayout& layout, const float* scale, float* out) {
  int64_t i = 0;
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      const float s = scale[c];
      for (int64_t k = 0; k < layout.inner; ++k, ++i) {
        // q + r/16 (r/256) is exact in float; the product is the one rounding.
        out[i] = s * (static_cast<float>(q[i]) + ResidualAt(residuals, i, bits));
      }
    }
  }
}

namespace {

// rdiv(q, m) = sign(q) * ((2|q| + m) div 2m): round half away from zero.
int RoundDiv(int q, int m) {
  const int a = q < 0 ? -q : q;
  const int r = (2 * a + m) / (2 * m);
  return q < 0 ? -r : r;
}

int V(int q, int m) {
  int r = RoundDiv(q, m);
  r = r < -8 ? -8 : (r > 7 ? 7 : r);
  return m * r;
}

}  // namespace

void DeriveQ4MParts(const int8_t* q, const ChannelLayout& layout, int block, uint8_t* r_out,
                    uint8_t* m_out) {
  const int64_t row = layout.outer * layout.inner;  // K values per channel
  const int64_t blocks = (row + block - 1) / block;
  const int64_t n = row * layout.channels;
  std::memset(r_out, 0, static_cast<size_t>((n + 1) / 2));
  // Index in q of value k of channel c's row.
  auto at = [&](int64_t c, int64_t k) {
    return (k / layout.inner * layout.channels + c) * layout.inner + k % layout.inner;
  };
  for (int64_t c = 0; c < layout.channels; ++c) {
    for (int64_t b0 = 0; b0 < row; b0 += block) {
      const int64_t b1 = b0 + block < row ? b0 + block : row;
      int best_m = 1;
      int64_t best_err = std::numeric_limits<int64_t>::max();
      for (int m = 1; m <= 15; ++m) {
        int64_t err = 0;
        for (int64_t k = b0; k < b1; ++k) {
          const int v = q[at(c, k)];
          const int64_t d = v - V(v, m);
          err += d * d;
        }
        if (err < best_err) {  // strict: the smallest m wins a tie
          best_err = err;
          best_m = m;
        }
      }
      m_out[c * blocks + b0 / block] = static_cast<uint8_t>(best_m);
      for (int64_t k = b0; k < b1; ++k) {
        const int64_t i = at(c, k);
        const int r = V(q[i], best_m) / best_m;  // exact: V is a multiple of m
        r_out[i >> 1] |= static_cast<uint8_t>((r & 0xF) << ((i & 1) * 4));
      }
    }
  }
}

void DeriveQ4M(const int8_t* q, const ChannelLayout& layout, int block, int8_t* out) {
  const int64_t n = layout.outer * layout.channels * layout.inner;
  const int64_t blocks = (layout.outer * layout.inner + block - 1) / block;
  std::vector<uint8_t> r(static_cast<size_t>((n + 1) / 2));
  std::vector<uint8_t> m(static_cast<size_t>(layout.channels * blocks));
  DeriveQ4MParts(q, layout, block, r.data(), m.data());
  for (int64_t i = 0; i < n; ++i) {
    const int v = (((r[i >> 1] >> ((i & 1) * 4)) & 0xF) ^ 8) - 8;
    const int64_t c = (i / layout.inner) % layout.channels;
    const int64_t k = i / (layout.inner * layout.channels) * layout.inner + i % layout.inner;
    out[i] = static_cast<int8_t>(m[c * blocks + k / block] * v);
  }
}

namespace {

// The int8 values of a q4m entry's base: in place, or a sparse base densified
// into `dense`.
const int8_t* BaseValues(const StorageDesc& base, int64_t elements, std::vector<int8_t>* dense) {
  if (!IsSparseEncoding(base.encoding)) return reinterpret_cast<const int8_t*>(base.data);
  dense->assign(static_cast<size_t>(elements), 0);
  DensifySparse(base, dense->data());
  return dense->data();
}

}  // namespace

void Q4MTensor::Derive(uint8_t* r, uint8_t* m) const {
  std::vector<int8_t> dense;
  DeriveQ4MParts(BaseValues(*base, elements, &dense), layout, block, r, m);
}

void Q4MTensor::Expand(int8_t* out) const {
  std::vector<int8_t> dense;
  DeriveQ4M(BaseValues(*base, elements, &dense), layout, block, out);
}

const uint16_t* F16Tensor::InPlace() const {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (entry->dtype == StorageDType::kF16 && reinterpret_cast<uintptr_t>(entry->data) % 2 == 0) {
    return reinterpret_cast<const uint16_t*>(entry->data);
  }
#endif
  return nullptr;
}

void F16Tensor::Derive(uint16_t* out) const {
  const size_t n = static_cast<size_t>(elements);
  if (entry->dtype == StorageDType::kF16) {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = entry->data + 2 * i;  // little-endian, any host
      out[i] = static_cast<uint16_t>(p[0] | (p[1] << 8));
    }
    return;
  }
  if (base == nullptr) {  // f32 dense
    const float* src = reinterpret_cast<const float*>(entry->data);
    for (size_t i = 0; i < n; ++i) out[i] = F32ToF16Bits(src[i]);
    return;
  }
  // q8r4 / q8r8: decoded into a temporary, then rounded once.
  std::vector<float> f(n);
  Q8R4Tensor q8r4;
  q8r4.elements = elements;
  q8r4.entry = entry;
  q8r4.base = base;
  q8r4.Decode(f.data());
  for (size_t i = 0; i < n; ++i) out[i] = F32ToF16Bits(f[i]);
}

void Q8R4Tensor::Decode(float* out) const {
  if (IsSparseEncoding(base->encoding)) {
    std::fill(out, out + elements, 0.0f);  // a pruned weight is an exact zero
    DecodeResidualSparse(*base, entry->data, ResidualBits(entry->encoding), out);
  } else {
    DecodeResidual(reinterpret_cast<const int8_t*>(base->data), entry->data,
                   ResidualBits(entry->encoding), LayoutOf(entry->shape, base->quant.axis),
                   base->quant.scale.data(), out);
  }
}

void F16Tensor::Widen(float* out) const {
  std::vector<uint16_t> bits;
  const uint16_t* h = InPlace();
  if (h == nullptr) {
    bits.resize(static_cast<size_t>(elements));
    Derive(bits.data());
    h = bits.data();
  }
  for (int64_t i = 0; i < elements; ++i) out[i] = F16BitsToF32(h[i]);
}

// ---- PrepareGearWeights ----------------------------------------------------------

namespace {

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

class Preparer {
 public:
  Preparer(const ModelDesc& model, int gear, GearWeights* w)
      : model_(model), g_(model.gears[gear]), w_(w) {}

  Status Run() {
    // Tensors whose every read is the weights (input 1) of CONV_2D or
    // FULLY_CONNECTED: the only ones a sparse gear keeps compressed;
    // filter_uses adds DEPTHWISE_CONV_2D: the weights the f16 gear and the
    // f32 gear (q8r4) leave for the plan to derive.
    const size_t nt = model_.tensors.size();
    std::vector<int> uses(nt, 0), weight_uses(nt, 0), filter_uses(nt, 0);
    for (const NodeDesc& nd : model_.nodes) {
      for (size_t j = 0; j < nd.inputs.size(); ++j) {
        const int t = nd.inputs[j];
        if (t < 0 || static_cast<size_t>(t) >= nt) continue;
        ++uses[t];
        weight_uses[t] += j == 1 && (nd.op == OpType::kConv2D || nd.op == OpType::kFullyConnected);
        filter_uses[t] +=
            j == 1 && (nd.op == OpType::kConv2D || nd.op == OpType::kDepthwiseConv2D ||
                       nd.op == OpType::kFullyConnected);
      }
    }
    // A constant graph output is read as it is: never a recipe.
    for (int o : model_.outputs) {
      if (o >= 0 && static_cast<size_t>(o) < nt) ++uses[o];
    }
    for (size_t t = 0; t < nt; ++t) {
      const TensorDesc& td = model_.tensors[t];
      if (!td.is_const) continue;
      const int s = t < g_.constant_storage.size() ? g_.constant_storage[t] : -1;
      if (s < 0 || static_cast<size_t>(s) >= model_.storage.size()) {
        return FormatError("gear '" + g_.name + "': no storage for constant '" + td.name + "'");
      }
      ConstView* v = &w_->mutable_at(static_cast<int>(t));
      // A float island's weight (f32 storage in an integer gear) runs dense.
      const bool island =
          !g_.float_nodes.empty() && (model_.storage[s].dtype == StorageDType::kF32 ||
                                      model_.storage[s].dtype == StorageDType::kF16);
      if (g_.sparse && !island && uses[t] > 0 && uses[t] == weight_uses[t] && SparseStored(s)) {
        GS_RETURN_IF_ERROR(SparseConst(td, s, v));
      } else if (g_.arith == Compute::kF16 && uses[t] > 0 && uses[t] == filter_uses[t]) {
        GS_RETURN_IF_ERROR(F16Const(td, s, v));
      } else if (g_.arith == Compute::kF32 && uses[t] > 0 && uses[t] == filter_uses[t] &&
                 IsResidualEncoding(model_.storage[s].encoding)) {
        GS_RETURN_IF_ERROR(Q8R4Const(td, s, v));
      } else {
        GS_RETURN_IF_ERROR(Const(td, s, v));
      }
    }
    return Status::Ok();
  }

 private:
  // Where derived values go: an owned buffer, or a temporary for a sparse weight.
  using FloatSink = std::function<float*(size_t)>;
  using I8Sink = std::function<int8_t*(size_t)>;

  Status Bad(const TensorDesc& td, int s, const std::string& why) const {
    return FormatError("gear '" + g_.name + "': storage " + std::to_string(s) + " of constant '" +
                       td.name + "' " + why);
  }

  float* OwnedFloats(size_t n) { return reinterpret_cast<float*>(w_->Allocate(n * sizeof(float))); }
  int8_t* OwnedI8(size_t n) { return reinterpret_cast<int8_t*>(w_->Allocate(n)); }

  // Whether entry s holds sparse values itself or through its q8r4/q4m base.
  bool SparseStored(int s) const {
    const StorageDesc& sd = model_.storage[s];
    if (IsSparseEncoding(sd.encoding)) return true;
    if (!IsResidualEncoding(sd.encoding) && sd.encoding != Encoding::kQ4M) return false;
    return sd.base >= 0 && static_cast<size_t>(sd.base) < model_.storage.size() &&
           IsSparseEncoding(model_.storage[sd.base].encoding);
  }

  // A sparse i8 entry, checked (ModelDescs built by hand skip the reader).
  Status CheckSparse(const TensorDesc& td, int s) const {
    const StorageDesc& sd = model_.storage[s];
    if (sd.dtype != StorageDType::kI8 || sd.quant.axis < 0 ||
        static_cast<size_t>(sd.quant.axis) >= sd.shape.size() ||
        static_cast<int64_t>(sd.quant.scale.size()) != sd.shape[sd.quant.axis]) {
      return Bad(td, s, "is sparse but not i8 with per-channel quant of its shape");
    }
    const Status st = CheckSparsePayload(sd);
    if (!st.ok()) return Bad(td, s, "is a damaged sparse entry: " + st.message());
    return Status::Ok();
  }

  // A q8r4/q4m entry's base, checked: i8 dense or sparse, per-channel quant.
  Status Base(const TensorDesc& td, int s, const StorageDesc** out) const {
    const StorageDesc& sd = model_.storage[s];
    if (sd.base < 0 || static_cast<size_t>(sd.base) >= model_.storage.size()) {
      return Bad(td, s, "has no valid base entry");
    }
    const StorageDesc& b = model_.storage[sd.base];
    const bool sparse = IsSparseEncoding(b.encoding);
    if (b.dtype != StorageDType::kI8 || !(b.encoding == Encoding::kDense || sparse) ||
        (!sparse && b.data == nullptr) || b.shape != sd.shape || b.quant.axis < 0 ||
        static_cast<size_t>(b.quant.axis) >= b.shape.size() ||
        static_cast<int64_t>(b.quant.scale.size()) != b.shape[b.quant.axis]) {
      return Bad(td, s,
                 "has a base that is not i8 (dense or sparse) with per-channel quant of its "
                 "shape");
    }
    if (sparse) GS_RETURN_IF_ERROR(CheckSparse(td, sd.base));
    *out = &b;
    return Status::Ok();
  }

  // The base of residual (q8r4 / q8r8) entry s (Base), with the entry's
  // length checked against it: one nibble (rounded up to bytes) or one byte
  // per base slot.
  Status Q8R4Base(const TensorDesc& td, int s, const StorageDesc** base) const {
    GS_RETURN_IF_ERROR(Base(td, s, base));
    const StorageDesc& sd = model_.storage[s];
    const StorageDesc* b = *base;
    const int64_t slots = IsSparseEncoding(b->encoding) ? SlotCount(b->encoding, b->shape, b->nnz)
                                                        : Elements(sd.shape);
    const int64_t need = ResidualBits(sd.encoding) == 8 ? slots : slots / 2 + slots % 2;
    if (sd.length != static_cast<uint64_t>(need)) {
      return Bad(td, s, "has a residual of the wrong length for its base");
    }
    return Status::Ok();
  }

  // f32 values of an f32 entry: in place for dense, decoded (into `sink`)
  // for q8r4 / q8r8 over a dense or a sparse base.
  Status F32Into(const TensorDesc& td, int s, const FloatSink& sink, const float** out,
                 bool* derived) {
    const StorageDesc& sd = model_.storage[s];
    *derived = false;
    if (sd.dtype == StorageDType::kF32 && sd.encoding == Encoding::kDense && sd.data) {
      *out = reinterpret_cast<const float*>(sd.data);
      return Status::Ok();
    }
    if (sd.dtype != StorageDType::kF32 || !IsResidualEncoding(sd.encoding) || !sd.data) {
      return Bad(td, s, "is not f32 (dense, q8r4 or q8r8)");
    }
    Q8R4Tensor q;  // the recipe's decoder, used at once
    GS_RETURN_IF_ERROR(Q8R4Base(td, s, &q.base));
    q.elements = Elements(sd.shape);
    q.entry = &sd;
    float* dst = sink(static_cast<size_t>(q.elements));
    q.Decode(dst);
    *out = dst;
    *derived = true;
    return Status::Ok();
  }

  // The f16 gear's values of an f16 or f32 entry, always into `sink`.
  Status F16Into(const TensorDesc& td, int s, const FloatSink& sink, const float** out) {
    const StorageDesc& sd = model_.storage[s];
    const int64_t n = Elements(sd.shape);
    if (sd.dtype == StorageDType::kF16 && sd.encoding == Encoding::kDense && sd.data) {
      float* dst = sink(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* p = sd.data + 2 * i;  // little-endian, any host
        dst[i] = F16BitsToF32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      }
      *out = dst;
      return Status::Ok();
    }
    if (sd.dtype != StorageDType::kF16 && sd.dtype != StorageDType::kF32) {
      return Bad(td, s, "is neither f16 nor f32");
    }
    const float* src = nullptr;
    bool derived = false;
    GS_RETURN_IF_ERROR(F32Into(td, s, sink, &src, &derived));
    // A q8r4 decode already sits in the sink's buffer: round it in place.
    float* dst = derived ? const_cast<float*>(src) : sink(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) dst[i] = RoundToF16(src[i]);
    *out = dst;
    return Status::Ok();
  }

  // int8 values of an i8 entry (dense in place; sparse densified, q4m
  // derived into `sink`), and the quant that goes with them.
  Status I8Into(const TensorDesc& td, int s, const I8Sink& sink, const int8_t** out,
                const QuantDesc** quant) {
    const StorageDesc& sd = model_.storage[s];
    const int64_t n = Elements(sd.shape);
    *quant = &sd.quant;
    if (sd.dtype == StorageDType::kI8 && sd.encoding == Encoding::kDense && sd.data) {
      *out = reinterpret_cast<const int8_t*>(sd.data);
      return Status::Ok();
    }
    if (sd.dtype == StorageDType::kI8 && IsSparseEncoding(sd.encoding)) {
      GS_RETURN_IF_ERROR(CheckSparse(td, s));
      int8_t* dst = sink(static_cast<size_t>(n));
      std::memset(dst, 0, static_cast<size_t>(n));
      DensifySparse(sd, dst);
      *out = dst;
      return Status::Ok();
    }
    if (g_.arith == Compute::kQ4 && sd.dtype == StorageDType::kI8 &&
        sd.encoding == Encoding::kQ4M) {
      const StorageDesc* b = nullptr;
      GS_RETURN_IF_ERROR(Base(td, s, &b));
      if (sd.block < 1) return Bad(td, s, "has a q4m block length below 1");
      const int8_t* q = reinterpret_cast<const int8_t*>(b->data);
      std::vector<int8_t> dense;  // a sparse base, densified for the view
      if (IsSparseEncoding(b->encoding)) {
        dense.assign(static_cast<size_t>(n), 0);
        DensifySparse(*b, dense.data());
        q = dense.data();
      }
      int8_t* dst = sink(static_cast<size_t>(n));
      DeriveQ4M(q, LayoutOf(sd.shape, b->quant.axis), sd.block, dst);
      *out = dst;
      // The int4 view keeps the base's scales (the reader copies them too).
      *quant = &b->quant;
      return Status::Ok();
    }
    return Bad(td, s,
               std::string("is not storage a ") + g_.compute + " gear takes (i8/i32 dense" +
                   ", i8 sparse" + (g_.arith == Compute::kQ4 ? ", i8 q4m" : "") + ")");
  }

  Status Const(const TensorDesc& td, int s, ConstView* v) {
    const StorageDesc& sd = model_.storage[s];
    const FloatSink owned_f = [this](size_t n) { return OwnedFloats(n); };
    switch (g_.arith) {
      case Compute::kF32: {
        auto it = f32_cache_.find(s);
        if (it == f32_cache_.end()) {
          const float* p = nullptr;
          bool derived = false;
          GS_RETURN_IF_ERROR(F32Into(td, s, owned_f, &p, &derived));
          it = f32_cache_.emplace(s, p).first;
        }
        v->f32 = it->second;
        return Status::Ok();
      }
      case Compute::kF16: {
        auto it = f16_cache_.find(s);
        if (it == f16_cache_.end()) {
          const float* p = nullptr;
          GS_RETURN_IF_ERROR(F16Into(td, s, owned_f, &p));
          it = f16_cache_.emplace(s, p).first;
        }
        v->f32 = it->second;
        return Status::Ok();
      }
      case Compute::kQ8:
      case Compute::kQ4:
        break;
    }
    // 1.5: a float island's constant in an integer gear (the reader checked
    // that only float nodes read it): f32 values, as the f32 gear takes them
    // (an f16 payload widened exactly, never rounded again).
    if (!g_.float_nodes.empty() &&
        (sd.dtype == StorageDType::kF32 || sd.dtype == StorageDType::kF16)) {
      auto it = f32_cache_.find(s);
      if (it == f32_cache_.end()) {
        const float* p = nullptr;
        bool derived = false;
        if (sd.dtype == StorageDType::kF16) {
          GS_RETURN_IF_ERROR(F16Into(td, s, owned_f, &p));
        } else {
          GS_RETURN_IF_ERROR(F32Into(td, s, owned_f, &p, &derived));
        }
        it = f32_cache_.emplace(s, p).first;
      }
      v->f32 = it->second;
      return Status::Ok();
    }
    if (!sd.quant.present || sd.quant.scale.empty()) {
      return Bad(td, s, "has no quantization parameters");
    }
    v->quant = &sd.quant;
    if (sd.dtype == StorageDType::kI32 && sd.encoding == Encoding::kDense && sd.data) {
      v->i32 = reinterpret_cast<const int32_t*>(sd.data);
      return Status::Ok();
    }
    if (g_.arith == Compute::kQ4 && sd.dtype == StorageDType::kI8 &&
        sd.encoding == Encoding::kQ4M) {
      return Q4Const(td, s, v);
    }
    auto it = i8_cache_.find(s);
    if (it == i8_cache_.end()) {
      const int8_t* p = nullptr;
      const QuantDesc* q = nullptr;
      GS_RETURN_IF_ERROR(I8Into(td, s, [this](size_t n) { return OwnedI8(n); }, &p, &q));
      it = i8_cache_.emplace(s, std::make_pair(p, q)).first;
    }
    v->i8 = it->second.first;
    v->quant = it->second.second;
    return Status::Ok();
  }

  // An f16 gear's conv/dense weight: its recipe (F16Tensor), checked as
  // F16Into would check it, derived by the plan.
  Status F16Const(const TensorDesc& td, int s, ConstView* v) {
    auto it = f16r_cache_.find(s);
    if (it == f16r_cache_.end()) {
      const StorageDesc& sd = model_.storage[s];
      const StorageDesc* base = nullptr;
      if (sd.dtype == StorageDType::kF16 && sd.encoding == Encoding::kDense && sd.data) {
        // the half bits themselves
      } else if (sd.dtype == StorageDType::kF32 && sd.encoding == Encoding::kDense && sd.data) {
        // rounded at pack time
      } else if (sd.dtype == StorageDType::kF32 && IsResidualEncoding(sd.encoding) && sd.data) {
        GS_RETURN_IF_ERROR(Q8R4Base(td, s, &base));
      } else {
        return Bad(td, s, "is neither f16 (dense) nor f32 (dense, q8r4 or q8r8)");
      }
      F16Tensor* t = w_->NewF16();
      t->elements = Elements(sd.shape);
      t->entry = &sd;
      t->base = base;
      it = f16r_cache_.emplace(s, t).first;
    }
    v->f16 = it->second;
    return Status::Ok();
  }

  // An f32 gear's q8r4 / q8r8 conv/depthwise/dense weight: its recipe
  // (Q8R4Tensor), checked as F32Into would check it, decoded by the plan.
  Status Q8R4Const(const TensorDesc& td, int s, ConstView* v) {
    auto it = q8r4_cache_.find(s);
    if (it == q8r4_cache_.end()) {
      const StorageDesc& sd = model_.storage[s];
      if (sd.dtype != StorageDType::kF32 || sd.data == nullptr) {
        return Bad(td, s, "is not f32 (dense, q8r4 or q8r8)");
      }
      const StorageDesc* base = nullptr;
      GS_RETURN_IF_ERROR(Q8R4Base(td, s, &base));
      Q8R4Tensor* t = w_->NewQ8R4();
      t->elements = Elements(sd.shape);
      t->entry = &sd;
      t->base = base;
      it = q8r4_cache_.emplace(s, t).first;
    }
    v->q8r4 = it->second;
    return Status::Ok();
  }

  // A q4 gear's q4m weight: its recipe (Q4MTensor), derived by the plan.
  Status Q4Const(const TensorDesc& td, int s, ConstView* v) {
    const StorageDesc& sd = model_.storage[s];
    auto it = q4_cache_.find(s);
    if (it == q4_cache_.end()) {
      const StorageDesc* b = nullptr;
      GS_RETURN_IF_ERROR(Base(td, s, &b));
      if (sd.block < 1) return Bad(td, s, "has a q4m block length below 1");
      Q4MTensor* t = w_->NewQ4M();
      t->layout = LayoutOf(sd.shape, b->quant.axis);
      t->block = sd.block;
      t->elements = Elements(sd.shape);
      t->blocks = (t->layout.outer * t->layout.inner + sd.block - 1) / sd.block;
      t->base = b;
      // The int4 view keeps the base's scales (the reader copies them too).
      it = q4_cache_.emplace(s, std::make_pair(t, &b->quant)).first;
    }
    v->q4 = it->second.first;
    v->quant = it->second.second;
    return Status::Ok();
  }

  // A sparse gear's CONV_2D/FULLY_CONNECTED weight: the gear's values
  // (derived into a temporary) compressed per output channel.
  Status SparseConst(const TensorDesc& td, int s, ConstView* v) {
    const StorageDesc& sd = model_.storage[s];
    auto it = sparse_cache_.find(s);
    if (it != sparse_cache_.end()) {
      v->sparse = it->second.first;
      v->quant = it->second.second;
      return Status::Ok();
    }
    const int64_t n = Elements(sd.shape);
    const int64_t rows = sd.shape.empty() ? 1 : sd.shape[0];
    const int64_t cols = rows > 0 ? n / rows : 0;
    if (sd.shape.size() < 2 || cols > std::numeric_limits<int32_t>::max()) {
      return Bad(td, s, "cannot be a sparse weight (rank below 2 or rows too long)");
    }
    auto m = std::unique_ptr<SparseMatrix>(new SparseMatrix());
    const QuantDesc* quant = nullptr;
    switch (g_.arith) {
      case Compute::kF32:
      case Compute::kF16: {
        std::vector<float> tmp;
        const FloatSink sink = [&tmp](size_t k) {
          tmp.resize(k);
          return tmp.data();
        };
        const float* p = nullptr;
        bool derived = false;
        if (g_.arith == Compute::kF32) {
          GS_RETURN_IF_ERROR(F32Into(td, s, sink, &p, &derived));
        } else {
          GS_RETURN_IF_ERROR(F16Into(td, s, sink, &p));
        }
        BuildSparseMatrix(p, rows, cols, m.get());
        break;
      }
      case Compute::kQ8:
      case Compute::kQ4: {
        std::vector<int8_t> tmp;
        const int8_t* p = nullptr;
        GS_RETURN_IF_ERROR(I8Into(
            td, s,
            [&tmp](size_t k) {
              tmp.resize(k);
              return tmp.data();
            },
            &p, &quant));
        BuildSparseMatrix(p, rows, cols, m.get());
        break;
      }
    }
    const SparseMatrix* owned = w_->Adopt(std::move(m));
    sparse_cache_.emplace(s, std::make_pair(owned, quant));
    v->sparse = owned;
    v->quant = quant;
    return Status::Ok();
  }

  const ModelDesc& model_;
  const GearDesc& g_;
  GearWeights* w_;
  // Derived buffers by storage index: a payload shared by several tensors
  // of the gear is derived once.
  std::unordered_map<int, const float*> f32_cache_, f16_cache_;
  std::unordered_map<int, std::pair<const int8_t*, const QuantDesc*>> i8_cache_;
  std::unordered_map<int, std::pair<const SparseMatrix*, const QuantDesc*>> sparse_cache_;
  std::unordered_map<int, std::pair<const Q4MTensor*, const QuantDesc*>> q4_cache_;
  std::unordered_map<int, const F16Tensor*> f16r_cache_;
  std::unordered_map<int, const Q8R4Tensor*> q8r4_cache_;
};

}  // namespace

Status PrepareGearWeights(const ModelDesc& model, int gear,
                          std::shared_ptr<const GearWeights>* out) {
  if (out == nullptr) return InvalidArgument("PrepareGearWeights: out is null");
  if (gear < 0 || static_cast<size_t>(gear) >= model.gears.size()) {
    return InvalidArgument("gear index " + std::to_string(gear) + " out of range");
  }
  try {
    const GearDesc& g = model.gears[gear];
    auto w = std::make_shared<GearWeights>(gear, g.arith, model.tensors.size());
    Preparer preparer(model, gear, w.get());
    GS_RETURN_IF_ERROR(preparer.Run());
    *out = std::move(w);
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kInternal,
                  "gear '" + model.gears[gear].name + "': out of memory preparing its weights");
  }
}

}  // namespace gearshift
