// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Checks of sparse payloads read each byte once and allocate nothing; every
// length and offset is computed with overflow checks first (SparseLength
// saturates), so a check never reads outside the `length` bytes the reader
// has bounded against its section.
#include "format/sparse_codec.h"

#include <limits>
#include <string>

namespace gearshift {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

uint64_t AddSat(uint64_t a, uint64_t b) { return a > kSaturated - b ? kSaturated : a + b; }
uint64_t MulSat(uint64_t a, uint64_t b) {
  return a != 0 && b > kSaturated / a ? kSaturated : a * b;
}

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint32_t LoadU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

SparseRows SparseRowsOf(const Shape& shape, int axis) {
  SparseRows r;
  const int64_t n = Elements(shape);
  if (axis >= 0 && static_cast<size_t>(axis) < shape.size()) {
    r.channels = shape[axis];
    r.inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) r.inner *= shape[d];
  } else {
    r.inner = n;
  }
  r.row = r.channels > 0 ? n / r.channels : 0;
  return r;
}

int64_t MaxNnz(Encoding e, const Shape& shape) {
  const int64_t n = Elements(shape);
  return e == Encoding::kTwoFour ? n / 2 : n;
}

bool TwoFourApplies(const Shape& shape, int axis) {
  return axis == 0 && !shape.empty() && shape.back() % 4 == 0;
}

int64_t SlotCount(Encoding e, const Shape& shape, int64_t nnz) {
  if (e == Encoding::kTwoFour) return Elements(shape) / 2;
  if (e == Encoding::kBitmap || e == Encoding::kCsr) return nnz;
  return Elements(shape);
}

uint64_t SparseLength(Encoding e, const Shape& shape, int axis, int64_t nnz) {
  const auto n = static_cast<uint64_t>(Elements(shape));
  const auto z = static_cast<uint64_t>(nnz < 0 ? 0 : nnz);
  const SparseRows rows = SparseRowsOf(shape, axis);
  switch (e) {
    case Encoding::kBitmap:
      return AddSat(n / 8 + (n % 8 != 0), z);
    case Encoding::kCsr: {
      const uint64_t ptr = MulSat(4, AddSat(static_cast<uint64_t>(rows.channels), 1));
      const uint64_t idx = MulSat(z, static_cast<uint64_t>(CsrIndexBytes(rows.row)));
      return AddSat(AddSat(ptr, idx), z);
    }
    case Encoding::kTwoFour:
      return n / 2 + (n / 4 + 1) / 2;
    default:
      return n;
  }
}

uint64_t SparseValuesOffset(const StorageDesc& sd) {
  const auto n = static_cast<uint64_t>(Elements(sd.shape));
  switch (sd.encoding) {
    case Encoding::kBitmap:
      return n / 8 + (n % 8 != 0);
    case Encoding::kCsr: {
      const SparseRows rows = SparseRowsOf(sd.shape, sd.quant.axis);
      return 4 * static_cast<uint64_t>(rows.channels + 1) +
             static_cast<uint64_t>(sd.nnz) * static_cast<uint64_t>(CsrIndexBytes(rows.row));
    }
    default:
      return 0;  // 2:4 and dense: values first
  }
}

Status CheckSparsePayload(const StorageDesc& sd) {
  const char* name = EncodingName(sd.encoding);
  if (!IsSparseEncoding(sd.encoding)) {
    return FormatError(std::string(name) + " is not a sparse encoding");
  }
  if (sd.quant.axis < 0 || static_cast<size_t>(sd.quant.axis) >= sd.shape.size()) {
    return FormatError(std::string(name) + ": needs per-channel quant (the rows are channels)");
  }
  if (sd.encoding == Encoding::kTwoFour && !TwoFourApplies(sd.shape, sd.quant.axis)) {
    return FormatError(
        "2:4 needs channel axis 0 and a last dimension that is a multiple of 4, found axis " +
        std::to_string(sd.quant.axis));
  }
  if (sd.nnz < 0 || sd.nnz > MaxNnz(sd.encoding, sd.shape)) {
    return FormatError(std::string(name) + ": nnz " + std::to_string(sd.nnz) + " out of range");
  }
  const uint64_t want = SparseLength(sd.encoding, sd.shape, sd.quant.axis, sd.nnz);
  if (sd.length != want || (want != 0 && sd.data == nullptr)) {
    return FormatError(std::string(name) + " payload of nnz " + std::to_string(sd.nnz) +
                       ": expected " + std::to_string(want) + " bytes, found " +
                       std::to_string(sd.length));
  }
  const uint8_t* p = sd.data;
  const int64_t n = Elements(sd.shape);
  const uint64_t voff = SparseValuesOffset(sd);
  const auto* values = reinterpret_cast<const int8_t*>(p + voff);
  if (sd.encoding == Encoding::kTwoFour) {
    const int64_t groups = n / 4;
    const uint8_t* pos = p + n / 2;
    if (groups % 2 == 1 && (pos[groups / 2] >> 4) != 0) {
      return FormatError("2:4: the unused high nibble of the last position byte must be 0");
    }
    for (int64_t g = 0; g < groups; ++g) {
      const int nib = (pos[g / 2] >> (4 * (g % 2))) & 0x0F;
      if ((nib & 3) >= (nib >> 2)) {
        return FormatError("2:4: group " + std::to_string(g) + "'s positions " +
                           std::to_string(nib & 3) + ", " + std::to_string(nib >> 2) +
                           " are not increasing");
      }
    }
    int64_t found = 0;
    for (int64_t j = 0; j < n / 2; ++j) found += values[j] != 0;
    if (found != sd.nnz) {
      return FormatError("2:4: " + std::to_string(found) + " non-zero stored values, nnz says " +
                         std::to_string(sd.nnz));
    }
    return Status::Ok();
  }
  if (sd.encoding == Encoding::kBitmap) {
    const int64_t bytes = n / 8 + (n % 8 != 0);
    if (n % 8 != 0 && (p[bytes - 1] >> (n % 8)) != 0) {
      return FormatError("bitmap: the unused high bits of the last byte must be 0");
    }
    int64_t set = 0;
    for (int64_t i = 0; i < bytes; ++i) {
      for (uint8_t b = p[i]; b != 0; b &= static_cast<uint8_t>(b - 1)) ++set;
    }
    if (set != sd.nnz) {
      return FormatError("bitmap: " + std::to_string(set) + " presence bits set, nnz says " +
                         std::to_string(sd.nnz));
    }
  } else {
    const SparseRows rows = SparseRowsOf(sd.shape, sd.quant.axis);
    const int64_t c = rows.channels, k = rows.row;
    const int64_t isz = CsrIndexBytes(k);
    if (LoadU32(p) != 0) {
      return FormatError("csr: ptr[0] must be 0, found " + std::to_string(LoadU32(p)));
    }
    // Offsets first (as the Python reader), so the index loop below stays
    // inside the nnz indices.
    for (int64_t r = 0; r < c; ++r) {
      const int64_t begin = LoadU32(p + 4 * r), end = LoadU32(p + 4 * (r + 1));
      if (end < begin) {
        return FormatError("csr: row offsets decrease at row " + std::to_string(r) + ": " +
                           std::to_string(begin) + " -> " + std::to_string(end));
      }
    }
    if (LoadU32(p + 4 * c) != static_cast<uint64_t>(sd.nnz)) {
      return FormatError("csr: ptr[" + std::to_string(c) + "] must equal nnz " +
                         std::to_string(sd.nnz) + ", found " + std::to_string(LoadU32(p + 4 * c)));
    }
    const uint8_t* idx = p + 4 * (c + 1);
    for (int64_t r = 0; r < c; ++r) {
      const int64_t begin = LoadU32(p + 4 * r), end = LoadU32(p + 4 * (r + 1));
      int64_t prev = -1;
      for (int64_t j = begin; j < end; ++j) {
        const uint8_t* e = idx + j * isz;
        int64_t col = int64_t{e[0]} | int64_t{e[1]} << 8;
        if (isz == 4) col |= int64_t{e[2]} << 16 | int64_t{e[3]} << 24;
        if (col >= k) {
          return FormatError("csr: column index " + std::to_string(col) + " not below K = " +
                             std::to_string(k));
        }
        if (col <= prev) {
          return FormatError("csr: column indices of row " + std::to_string(r) +
                             " are not strictly increasing");
        }
        prev = col;
      }
    }
  }
  for (int64_t j = 0; j < sd.nnz; ++j) {
    if (values[j] == 0) {
      return FormatError(std::string(name) + ": a stored value is 0 (zeros are not stored)");
    }
  }
  return Status::Ok();
}

}  // namespace gearshift
