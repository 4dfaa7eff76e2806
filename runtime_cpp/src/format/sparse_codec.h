// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The sparse int8 encodings of format 1.2 (docs/FORMAT.md "Storage":
// `bitmap`, `csr`, `2:4`), shared by the reader (which checks every payload
// once at load, without allocating anything the size of the dense tensor:
// a hostile csr entry can describe a huge tensor in a few bytes) and by
// PrepareGearWeights (which walks the stored values). The Python twin is
// python/gearshift/sparse_codec.py; messages follow its wording.
//
// A sparse tensor is seen as C rows (channels, shape[quant.axis]) of K
// values, the channel axis moved to the front. A "slot" is one stored value
// (2:4 stores two per group of four, zeros included); slots are what a q8r4
// residual over a sparse base covers, in payload order.
#ifndef GEARSHIFT_FORMAT_SPARSE_CODEC_H_
#define GEARSHIFT_FORMAT_SPARSE_CODEC_H_

#include <cstdint>

#include "format/model_desc.h"
#include "gearshift/status.h"

namespace gearshift {

inline bool IsSparseEncoding(Encoding e) {
  return e == Encoding::kBitmap || e == Encoding::kCsr || e == Encoding::kTwoFour;
}

// Row view of a per-channel tensor: `channels` rows of `row` values; a
// row-major [C, K] position (c, k) is tensor element
// (k / inner * channels + c) * inner + k % inner in C order.
struct SparseRows {
  int64_t channels = 1, row = 1, inner = 1;
  int64_t TensorIndex(int64_t c, int64_t k) const {
    return (k / inner * channels + c) * inner + k % inner;
  }
  int64_t ChannelOf(int64_t index) const { return index / inner % channels; }
};
// `shape`'s element count must fit int64 (the reader checks) and `axis` be
// a valid axis of it.
SparseRows SparseRowsOf(const Shape& shape, int axis);

// The exact payload length FORMAT.md gives a sparse entry of `nnz` stored
// non-zeros; UINT64_MAX where it would overflow (no real payload is that long).
uint64_t SparseLength(Encoding e, const Shape& shape, int axis, int64_t nnz);
// Stored slots of an i8 entry: nnz for bitmap/csr, n/2 for 2:4, n for dense.
int64_t SlotCount(Encoding e, const Shape& shape, int64_t nnz);
// Where the stored values start in the payload (they run to its end).
uint64_t SparseValuesOffset(const StorageDesc& sd);
// The most `nnz` an entry may claim: n, or n/2 for 2:4.
int64_t MaxNnz(Encoding e, const Shape& shape);
// Whether 2:4 can encode a tensor of `shape` quantized along `axis`:
// channel axis 0 and a last dimension that is a multiple of 4.
bool TwoFourApplies(const Shape& shape, int axis);

// Every rule FORMAT.md implies for the contents of a sparse entry whose
// length is already checked (SparseLength) and whose data points at it:
// bitmap: unused high bits 0, popcount == nnz; csr: ptr[0] == 0,
// non-decreasing, ptr[C] == nnz, indices < K and strictly increasing within
// a row; 2:4: unused high nibble 0, positions increasing, non-zero stored
// values == nnz; bitmap/csr: no stored zero. kFormatError naming the rule
// ("csr: ..."), without the entry's name (callers add it).
Status CheckSparsePayload(const StorageDesc& sd);

// Calls fn(slot, tensor_index, value) for every stored slot of a checked
// sparse entry, in payload order (slot 0, 1, ...); tensor_index is the flat
// C-order index into the tensor.
template <typename Fn>
void ForEachSparseSlot(const StorageDesc& sd, Fn fn);

// ---- implementation ----------------------------------------------------------

inline int64_t CsrIndexBytes(int64_t k) { return k <= 65536 ? 2 : 4; }

template <typename Fn>
void ForEachSparseSlot(const StorageDesc& sd, Fn fn) {
  const SparseRows rows = SparseRowsOf(sd.shape, sd.quant.axis);
  const int64_t n = rows.channels * rows.row;
  const uint8_t* p = sd.data;
  const auto* values = reinterpret_cast<const int8_t*>(p + SparseValuesOffset(sd));
  if (sd.encoding == Encoding::kTwoFour) {
    // Axis 0: the [C, K] order is the tensor's C order.
    const int64_t groups = n / 4;
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t nib = static_cast<uint8_t>((p[n / 2 + g / 2] >> (4 * (g % 2))) & 0x0F);
      fn(2 * g, g * 4 + (nib & 3), values[2 * g]);
      fn(2 * g + 1, g * 4 + (nib >> 2), values[2 * g + 1]);
    }
  } else if (sd.encoding == Encoding::kBitmap) {
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
      if ((p[i / 8] >> (i % 8)) & 1) {
        fn(j, rows.TensorIndex(i / rows.row, i % rows.row), values[j]);
        ++j;
      }
    }
  } else if (sd.encoding == Encoding::kCsr) {
    const int64_t isz = CsrIndexBytes(rows.row);
    const uint8_t* idx = p + 4 * (rows.channels + 1);
    int64_t j = 0;
    for (int64_t c = 0; c < rows.channels; ++c) {
      const uint8_t* q = p + 4 * (c + 1);
      const int64_t end = static_cast<int64_t>(uint32_t{q[0]} | uint32_t{q[1]} << 8 |
                                               uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24);
      for (; j < end; ++j) {
        const uint8_t* e = idx + j * isz;
        int64_t k = int64_t{e[0]} | int64_t{e[1]} << 8;
        if (isz == 4) k |= int64_t{e[2]} << 16 | int64_t{e[3]} << 24;
        fn(j, rows.TensorIndex(c, k), values[j]);
      }
    }
  }
}

}  // namespace gearshift

#endif  // GEARSHIFT_FORMAT_SPARSE_CODEC_H_
