// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// SparseMatrix: the form a `sparse` gear's conv/dense weights take for the
// sparse kernels (ops/sparse_conv.h, ops_q8/q8_sparse.h), built once by
// PrepareGearWeights from whichever sparse encoding the file uses.
#ifndef GEARSHIFT_OPS_SPARSE_MATRIX_H_
#define GEARSHIFT_OPS_SPARSE_MATRIX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gearshift {

// A conv/dense weight of a `sparse` gear, compressed per output channel:
// row o (output channel, the weight's dimension 0) holds its non-zero
// values at columns col[row_ptr[o]] .. col[row_ptr[o+1] - 1], increasing,
// where a column indexes the rest of the weight in C order (FULLY_CONNECTED:
// the input feature; CONV_2D: (ky * KW + kx) * C + c). Built once from
// whichever sparse encoding the file uses; exactly one of i8 / f32 holds
// the values.
struct SparseMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr;  // rows + 1 entries
  std::vector<int32_t> col;
  std::vector<int8_t> i8;        // q8/q4 gears
  std::vector<int32_t> row_sum;  // q8/q4: sum of each row's values (folds the input zero point)
  std::vector<float> f32;        // f32/f16 gears (f16: values rounded to half)
  int64_t nnz() const { return static_cast<int64_t>(col.size()); }
  int64_t bytes() const;
};

// The non-zeros of `values` ([rows, cols] row-major) as a SparseMatrix.
// cols must fit int32. May throw std::bad_alloc.
void BuildSparseMatrix(const int8_t* values, int64_t rows, int64_t cols, SparseMatrix* out);
void BuildSparseMatrix(const float* values, int64_t rows, int64_t cols, SparseMatrix* out);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_SPARSE_MATRIX_H_
