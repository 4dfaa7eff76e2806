// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Internal seam of the Runtime: builds a Runtime over an already opened
// GearFile. Runtime::Open is GearFile::Open followed by this; tests use it to
// run models described in code without writing a file.
#ifndef GEARSHIFT_RUNTIME_IMPL_H_
#define GEARSHIFT_RUNTIME_IMPL_H_

#include <memory>

#include "format/model_desc.h"
#include "gearshift/gearshift.h"

namespace gearshift {

Status CreateRuntime(std::unique_ptr<GearFile> file, const RuntimeOptions& options,
                     std::unique_ptr<Runtime>* out);

}  // namespace gearshift

#endif  // GEARSHIFT_RUNTIME_IMPL_H_
