// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
#include "ops/sparse_matrix.h"

#include <cstddef>

namespace gearshift {

int64_t SparseMatrix::bytes() const {
  return static_cast<int64_t>(row_ptr.size() * sizeof(int64_t) + col.size() * sizeof(int32_t) +
                              i8.size() + row_sum.size() * sizeof(int32_t) +
                              f32.size() * sizeof(float));
}

namespace {

template <typename T>
void BuildSparse(const T* values, int64_t rows, int64_t cols, SparseMatrix* m,
                 std::vector<T>* out_values) {
  int64_t nnz = 0;
  for (int64_t i = 0; i < rows * cols; ++i) nnz += values[i] != T(0);
  m->rows = rows;
  m->cols = cols;
  m->row_ptr.assign(static_cast<size_t>(rows) + 1, 0);
  m->col.clear();
  m->col.reserve(static_cast<size_t>(nnz));
  out_values->clear();
  out_values->reserve(static_cast<size_t>(nnz));
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = values + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      if (row[c] == T(0)) continue;  // +-0.0 and 0 contribute nothing
      m->col.push_back(static_cast<int32_t>(c));
      out_values->push_back(row[c]);
    }
    m->row_ptr[static_cast<size_t>(r) + 1] = static_cast<int64_t>(m->col.size());
  }
}

}  // namespace

void BuildSparseMatrix(const int8_t* values, int64_t rows, int64_t cols, SparseMatrix* out) {
  BuildSparse(values, rows, cols, out, &out->i8);
  out->f32.clear();
  out->row_sum.assign(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t sum = 0;  // modulo 2^32, like the kernels' accumulators
    for (int64_t j = out->row_ptr[r]; j < out->row_ptr[r + 1]; ++j) {
      sum = static_cast<int32_t>(static_cast<uint32_t>(sum) +
                                 static_cast<uint32_t>(int32_t{out->i8[j]}));
    }
    out->row_sum[static_cast<size_t>(r)] = sum;
  }
}

void BuildSparseMatrix(const float* values, int64_t rows, int64_t cols, SparseMatrix* out) {
  BuildSparse(values, rows, cols, out, &out->f32);
  out->i8.clear();
  out->row_sum.clear();
}

}  // namespace gearshift
