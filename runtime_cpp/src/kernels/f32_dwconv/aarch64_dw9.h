// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Shared by the AArch64 assembly of the 3x3 depthwise steps (f32_dwconv/neon.cc,
// f16_dwconv/neon_fp16.cc): the 9 tap pointers of a window into x0-x8 and their
// weights' into x9-x17, from the kernels' `input` and `weights` arrays (asm
// operands %[in] and %[wt]), so each LD1 can post-increment its own register.
// Assembly text only: each kernel keeps its own arithmetic and registers.
#ifndef GEARSHIFT_KERNELS_F32_DWCONV_AARCH64_DW9_H_
#define GEARSHIFT_KERNELS_F32_DWCONV_AARCH64_DW9_H_

// clang-format off
#define GS_DW9_LOAD_POINTERS \
  "ldp x0, x1, [%[in]]\n" \
  "ldp x2, x3, [%[in], #16]\n" \
  "ldp x4, x5, [%[in], #32]\n" \
  "ldp x6, x7, [%[in], #48]\n" \
  "ldr x8, [%[in], #64]\n" \
  "ldp x9, x10, [%[wt]]\n" \
  "ldp x11, x12, [%[wt], #16]\n" \
  "ldp x13, x14, [%[wt], #32]\n" \
  "ldp x15, x16, [%[wt], #48]\n" \
  "ldr x17, [%[wt], #64]\n"
// The general registers GS_DW9_LOAD_POINTERS takes, for the clobber list.
#define GS_DW9_POINTER_CLOBBERS \
  "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", \
  "x15", "x16", "x17"
// clang-format on

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_AARCH64_DW9_H_
