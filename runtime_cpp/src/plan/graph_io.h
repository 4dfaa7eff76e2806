// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Graph inputs and outputs at an integer interface (format 1.4 `io`): a
// model converted from a fully-int8 .tflite exchanges int8 or uint8 arrays.
// An int8/int4 gear whose parameters for the tensor equal the interface's
// takes them as they are (a copy; uint8 is int8 with its top bit flipped and
// the zero point shifted by 128, so a flip), with no float round trip; any
// other pairing goes through the real value, as LiteRT's QUANTIZE /
// DEQUANTIZE would. Float gears dequantize inputs and quantize outputs with
// the interface parameters (Runtime::RunIo).
#ifndef GEARSHIFT_PLAN_GRAPH_IO_H_
#define GEARSHIFT_PLAN_GRAPH_IO_H_

#include <cstdint>

#include "format/model_desc.h"

namespace gearshift {

// How one graph input/output of an int8 gear crosses an integer interface.
struct IoConv {
  enum class Kind {
    kFloat,    // float32 interface: the gear quantizes / dequantizes
    kCopy,     // int8, same (scale, zero point) as the gear
    kFlip,     // uint8, same scale, zero point 128 above the gear's: q ^ 0x80
    kRequant,  // other parameters: through the real value
  };
  Kind kind = Kind::kFloat;
  bool u8 = false;
  ActQuant io;    // the interface's parameters, zero point in the int8 domain
  ActQuant gear;  // the gear's parameters for the tensor
};

// The conversion between interface `io` and a gear tensor with `gear` params.
IoConv MakeIoConv(const IoDesc& io, ActQuant gear);

// Interface integers -> the gear's int8 values (kCopy, kFlip, kRequant).
void IoToQ8(const IoConv& c, const void* src, int8_t* dst, int64_t n);
// The gear's int8 values -> interface integers.
void Q8ToIo(const IoConv& c, const int8_t* src, void* dst, int64_t n);
// Float gears: interface integers -> real values, and back (round half away
// from zero, clamped to the dtype's range).
void IoToF32(const IoDesc& io, const void* src, float* dst, int64_t n);
void F32ToIo(const IoDesc& io, const float* src, void* dst, int64_t n);

// Bytes per element of an interface dtype.
inline int64_t IoElementBytes(DType d) { return d == DType::kF32 ? 4 : 1; }

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_GRAPH_IO_H_
