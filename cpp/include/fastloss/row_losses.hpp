// Row-wise losses: cosine_embedding_loss, multi_margin_loss and triplet_margin_loss,
// forward, backward and fused forward+backward.
//
// Every float operand is a matrix of `rows` rows of `dim` elements with element strides
// between rows and along a row; per-row operands (targets, per-row losses, grad_output)
// are vectors with one element stride. Rows whose element stride is 1 are read in place;
// others are gathered a chunk of rows at a time into per-thread buffers, never the whole
// array. Reductions accumulate in float64 over fixed row chunks combined in index order:
// results are bitwise identical for any thread count. Shapes, dtypes and option ranges
// are the caller's to validate (the bindings do); multi_margin's classes are checked by
// find_invalid_class, which the caller runs before any work.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

struct RowMatrix {
  const void* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
};

struct MutableRowMatrix {
  void* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
  bool present() const { return data != nullptr; }
};

struct RowVector {
  const void* data = nullptr;
  int64_t stride = 1;
  bool present() const { return data != nullptr; }
};

struct MutableRowVector {
  void* data = nullptr;
  int64_t stride = 1;
  bool present() const { return data != nullptr; }
};

enum class RowLoss : int {
  kCosineEmbedding,  // inputs x1, x2; target: labels of the inputs' dtype
  kMultiMargin,      // input (rows, C); target: int64 classes; optional (C,) weight
  kTripletMargin     // inputs anchor, positive, negative
};

inline int row_loss_inputs(RowLoss loss) {
  return loss == RowLoss::kMultiMargin ? 1 : loss == RowLoss::kCosineEmbedding ? 2 : 3;
}

struct RowLossCall {
  RowLoss loss = RowLoss::kCosineEmbedding;
  DType dtype = DType::kFloat32;
  int64_t rows = 0;
  int64_t dim = 0;
  RowMatrix inputs[3];
  RowVector target;
  RowVector weight;      // multi_margin: C elements of the inputs' dtype, or absent
  double margin = 0.0;
  int margin_p = 1;      // multi_margin: 1 or 2
  double norm_p = 2.0;   // triplet: finite > 0 or +inf
  double eps = 1e-6;     // triplet: added to every difference
  bool swap = false;     // triplet
};

// The first row (in index order) whose multi_margin class is outside [0, dim), with that
// class; row = -1 when every class is valid (or the loss has no classes).
struct InvalidClass {
  int64_t row = -1;
  int64_t value = 0;
};
InvalidClass find_invalid_class(const RowLossCall& call);

// Reduction::kNone writes each row's loss to loss_out and returns 0; kMean (over rows,
// NaN for none) and kSum return the reduced loss.
double row_loss_forward(const RowLossCall& call, Reduction reduction, MutableRowVector loss_out);

// grads[k] = d loss / d inputs[k] for k < row_loss_inputs(call.loss). For kNone
// grad_output is a per-row vector of the inputs' dtype; for kMean / kSum it is the scalar
// grad_output_scalar. grads[0] may be inputs[0] itself (same layout).
void row_loss_backward(const RowLossCall& call, Reduction reduction, RowVector grad_output,
                       double grad_output_scalar, const MutableRowMatrix* grads);

// Forward and backward (grad_output = 1) in one pass over the rows.
double row_loss_forward_backward(const RowLossCall& call, Reduction reduction,
                                 const MutableRowMatrix* grads, MutableRowVector loss_out);

}  // namespace fastloss
