// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
#include "prepare/gear_weights.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

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

Status PrepareGearWeights(const ModelDesc& model, int gear,
                          std::shared_ptr<const GearWeights>* out) {
  if (gear < 0 || static_cast<size_t>(gear) >= model.gears.size()) {
    return InvalidArgument("gear index " + std::to_string(gear) + " out of range");
  }
  const GearDesc& g = model.gears[gear];
  if (g.arith != Compute::kF32) {
    return Status(StatusCode::kUnsupported, "gear '" + g.name + "': compute '" + g.compute +
                                                "' is not supported by this build yet");
  }
  auto w = std::make_shared<GearWeights>(gear, g.arith, model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    const TensorDesc& td = model.tensors[t];
    if (!td.is_const) continue;
    const int s = t < g.constant_storage.size() ? g.constant_storage[t] : -1;
    if (s < 0 || static_cast<size_t>(s) >= model.storage.size()) {
      return FormatError("gear '" + g.name + "': no storage for constant '" + td.name + "'");
    }
    const StorageDesc& sd = model.storage[s];
    if (sd.dtype != StorageDType::kF32 || sd.encoding != Encoding::kDense ||
        sd.data == nullptr) {
      return FormatError("gear '" + g.name + "': storage " + std::to_string(s) +
                         " of constant '" + td.name + "' is not dense f32");
    }
    w->mutable_at(static_cast<int>(t)).f32 = reinterpret_cast<const float*>(sd.data);
  }
  *out = std::move(w);
  return Status::Ok();
}

}  // namespace gearshift
