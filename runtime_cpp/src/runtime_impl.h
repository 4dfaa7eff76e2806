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

// The checks the runtime adds, at open, to the reader's (GearFile::Open:
// FORMAT.md section 3, steps 1-3) before it builds anything. CreateRuntime
// runs them; so does gearshift._core.validate_gear, which is how the Python
// reader (gear_format.read_gear, `gearshift inspect`) accepts exactly the
// files Runtime::Open accepts, with the same message, and has no rules of
// its own.
Status ValidateOpenable(const GearFile& file);

}  // namespace gearshift

#endif  // GEARSHIFT_RUNTIME_IMPL_H_
