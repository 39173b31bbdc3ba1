// Row-wise losses over the last axis: cosine_embedding_loss, multi_margin_loss,
// triplet_margin_loss, multilabel_soft_margin_loss and multilabel_margin_loss, forward,
// backward and fused forward+backward.
//
// Every float operand is a RowView over the call's RowShape (rows of `length` elements over
// any number of row dimensions); per-row operands (labels, classes, per-row losses,
// grad_output) are ConstViews over the row dimensions. Rows whose element stride is 1 are
// read in place; others are gathered a chunk of rows at a time into per-thread buffers,
// never the whole array. Reductions accumulate in float64 over fixed row chunks combined in
// index order: results are bitwise identical for any thread count. Shapes, dtypes and
// options are the caller's to validate (the bindings and the Python layer do);
// multi_margin's and multilabel_margin's classes are checked by find_invalid_class, which the
// caller runs first.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

enum class RowLoss : int {
  kCosineEmbedding,      // inputs x1, x2; target: per-row labels
  kMultiMargin,          // input (rows of C); target: per-row classes; optional (C,) class weight
  kTripletMargin,        // inputs anchor, positive, negative
  kMultilabelSoftMargin,  // input (rows of C); target_rows: 0/1 labels; optional weight_rows
  kMultilabelMargin       // input (rows of C); class_rows: each row's classes, ended by -1
};

// The differentiable inputs of each loss: inputs[0 .. row_loss_inputs).
inline int row_loss_inputs(RowLoss loss) {
  switch (loss) {
    case RowLoss::kCosineEmbedding: return 2;
    case RowLoss::kTripletMargin: return 3;
    case RowLoss::kMultiMargin:
    case RowLoss::kMultilabelSoftMargin:
    case RowLoss::kMultilabelMargin: break;
  }
  return 1;
}

struct RowLossOptions {
  double margin = 0.0;  // cosine_embedding, multi_margin, triplet
  int margin_p = 1;     // multi_margin: the hinge's power, 1 or 2
  double norm_p = 2.0;  // triplet: the distance's p, finite > 0 or +inf
  double eps = 1e-6;    // triplet: added to every difference
  bool swap = false;    // triplet
};

struct RowLossCall {
  RowLoss loss = RowLoss::kCosineEmbedding;
  DType dtype = DType::kFloat32;
  RowShape shape;
  RowView inputs[3];
  RowView target_rows;    // multilabel_soft_margin: the labels, a row operand
  RowView weight_rows;    // multilabel_soft_margin: optional weight, a row operand
  ConstView target;       // cosine: labels (stored as the view says); multi_margin: classes
  RowView class_rows;     // multilabel_margin: the class lists, a row operand of target_dtype
  IndexDType target_dtype = IndexDType::kInt64;  // multi_margin, multilabel_margin
  const void* class_weight = nullptr;            // multi_margin: optional (C,) weight
  int64_t class_weight_stride = 1;
  LabelDType class_weight_stored = LabelDType::kFloat;  // T, or half beside a half input
  RowLossOptions options;
};

// The first row (in index order) whose multi_margin class is outside [0, length), with
// that class; row = -1 when every class is valid (or the loss has no classes). For
// multilabel_margin, the first element (in index order over the rows and their classes)
// that is neither -1 nor in [0, length): torch checks every element, those after a row's
// terminating -1 included.
struct InvalidClass {
  int64_t row = -1;
  int64_t value = 0;
};
InvalidClass find_invalid_class(const RowLossCall& call);

// Reduction::kNone writes each row's loss to loss_out and returns 0; kMean (over rows,
// NaN for none) and kSum return the reduced loss.
double row_loss_forward(const RowLossCall& call, Reduction reduction, MutableView loss_out);

// The reduced forward (kMean, kSum) before its division.
ReducedLoss row_loss_forward_parts(const RowLossCall& call, Reduction reduction);

// grads[k] = d loss / d inputs[k] for k < row_loss_inputs(call.loss). For kNone
// grad_output is a per-row operand of the inputs' dtype; for kMean / kSum it is the scalar
// grad_output_scalar. grads[0] may be inputs[0] itself (same layout).
void row_loss_backward(const RowLossCall& call, Reduction reduction, ConstView grad_output,
                       double grad_output_scalar, const MutableRowView* grads);

// Forward and backward (grad_output = 1) in one pass over the rows.
double row_loss_forward_backward(const RowLossCall& call, Reduction reduction, const MutableRowView* grads,
                                 MutableView loss_out);

}  // namespace fastloss
