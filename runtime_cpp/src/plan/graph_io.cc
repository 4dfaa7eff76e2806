// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Integer graph inputs/outputs (graph_io.h). Plain loops: the copy and the
// flip vectorise as they are, and the requantizing paths only run for
// parameter pairings no converter writes today.
#include "plan/graph_io.h"

#include <cstring>

#include "ops_q8/q8_common.h"

namespace gearshift {
namespace {

// The interface's parameters in the int8 domain (uint8 q is int8 q ^ 0x80
// with zero point z - 128, exactly).
ActQuant Int8Domain(const IoDesc& io) {
  ActQuant q;
  q.scale = io.scale;
  q.zero_point = io.dtype == DType::kU8 ? io.zero_point - 128 : io.zero_point;
  return q;
}

void Flip(const uint8_t* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(src[i] ^ 0x80u);
}

}  // namespace

IoConv MakeIoConv(const IoDesc& io, ActQuant gear) {
  IoConv c;
  c.gear = gear;
  if (io.dtype == DType::kF32) return c;
  c.u8 = io.dtype == DType::kU8;
  c.io = Int8Domain(io);
  if (c.io.scale == gear.scale && c.io.zero_point == gear.zero_point) {
    c.kind = c.u8 ? IoConv::Kind::kFlip : IoConv::Kind::kCopy;
  } else {
    c.kind = IoConv::Kind::kRequant;
  }
  return c;
}

void IoToQ8(const IoConv& c, const void* src, int8_t* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  switch (c.kind) {
    case IoConv::Kind::kFloat:
      return;  // the caller quantizes float inputs
    case IoConv::Kind::kCopy:
      std::memcpy(dst, s, static_cast<size_t>(n));
      return;
    case IoConv::Kind::kFlip:
      Flip(s, reinterpret_cast<uint8_t*>(dst), n);
      return;
    case IoConv::Kind::kRequant:
      for (int64_t i = 0; i < n; ++i) {
        const auto q = static_cast<int8_t>(c.u8 ? (s[i] ^ 0x80u) : s[i]);
        dst[i] = QuantizeQ8(DequantizeQ8(q, c.io), c.gear);
      }
      return;
  }
}

void Q8ToIo(const IoConv& c, const int8_t* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  switch (c.kind) {
    case IoConv::Kind::kFloat:
      return;
    case IoConv::Kind::kCopy:
      std::memcpy(d, src, static_cast<size_t>(n));
      return;
    case IoConv::Kind::kFlip:
      Flip(reinterpret_cast<const uint8_t*>(src), d, n);
      return;
    case IoConv::Kind::kRequant:
      for (int64_t i = 0; i < n; ++i) {
        const auto q = static_cast<uint8_t>(QuantizeQ8(DequantizeQ8(src[i], c.gear), c.io));
        d[i] = c.u8 ? static_cast<uint8_t>(q ^ 0x80u) : q;
      }
      return;
  }
}

void IoToF32(const IoDesc& io, const void* src, float* dst, int64_t n) {
  const ActQuant q = Int8Domain(io);
  const auto* s = static_cast<const uint8_t*>(src);
  const uint8_t flip = io.dtype == DType::kU8 ? 0x80u : 0u;
  for (int64_t i = 0; i < n; ++i) dst[i] = DequantizeQ8(static_cast<int8_t>(s[i] ^ flip), q);
}

void F32ToIo(const IoDesc& io, const float* src, void* dst, int64_t n) {
  const ActQuant q = Int8Domain(io);
  auto* d = static_cast<uint8_t*>(dst);
  const uint8_t flip = io.dtype == DType::kU8 ? 0x80u : 0u;
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(QuantizeQ8(src[i], q)) ^ flip;
}

}  // namespace gearshift
