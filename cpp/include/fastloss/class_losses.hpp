// The softmax / cross-entropy family: softmax, log_softmax, nll_loss, cross_entropy and
// softmax_focal_loss, forward, backward and fused forward+backward.
//
// Every operand is laid over "rows of classes": the row dimensions are the input's shape
// without its class axis (for (N, C, d1..dk) they are (N, d1..dk); for (C,) there are none
// and one row). A class operand has strides (in elements) over the row dimensions plus a
// class stride; a row operand (targets, per-row losses, grad_output) has strides over the
// row dimensions only. Rows whose class stride is 1 are read in place; others are gathered
// a tile of rows at a time, never the whole tensor.
//
// Reductions accumulate in float64 over fixed row chunks combined in index order: the
// results are bitwise identical for any thread count. Shapes, dtypes and option ranges are
// the caller's to validate (the bindings do); targets are checked by find_invalid_target,
// which the caller runs before any work.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

// A class operand: `rows` over the row dimensions, `class_stride` along the class axis.
struct ClassView {
  ConstView rows;
  int64_t class_stride = 1;
};

struct MutableClassView {
  MutableView rows;
  int64_t class_stride = 1;
  bool present() const { return rows.present(); }
};

// The row dimensions and the number of classes.
struct ClassShape {
  Shape rows;
  int64_t classes = 0;
};

// out = softmax(in) (or log_softmax) along the class axis. out may be in (same layout).
void softmax(DType dtype, const ClassShape& shape, ClassView in, MutableClassView out, bool log);

enum class ClassLoss : int {
  kNllLoss,       // input holds log-probabilities: loss = -w_t x_t
  kCrossEntropy,  // input holds logits
  kSoftmaxFocal   // -alpha_t (1 - p_t)^gamma log p_t over logits
};

enum class IndexDType : int { kInt32 = 0, kInt64 = 1 };

struct ClassLossCall {
  ClassLoss loss = ClassLoss::kCrossEntropy;
  DType dtype = DType::kFloat32;
  ClassShape shape;
  ClassView input;
  // Class-index targets (a row operand of int32/int64) or, when prob_target is present,
  // class probabilities (a class operand of the input's dtype; kCrossEntropy only).
  ConstView index_target;
  IndexDType index_dtype = IndexDType::kInt64;
  ClassView prob_target;
  // Optional per-class weight (C elements, stride weight_stride).
  const void* weight = nullptr;
  int64_t weight_stride = 1;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  // kSoftmaxFocal: alpha_t = alpha[t] when alpha is set, else alpha_scalar.
  const void* alpha = nullptr;
  int64_t alpha_stride = 1;
  double alpha_scalar = 1.0;
  double gamma = 2.0;

  bool probability_targets() const { return prob_target.rows.present(); }
};

// The first row (in index order) whose class-index target is neither ignore_index nor in
// [0, C), with that target; row = -1 when every target is valid.
struct InvalidTarget {
  int64_t row = -1;
  int64_t value = 0;
};
InvalidTarget find_invalid_target(const ClassLossCall& call);

// Reduction::kNone writes each row's loss to loss_out (a row operand) and returns 0; kMean
// and kSum return the reduced loss. The mean divides class-index losses by the sum of
// w[t] over non-ignored rows (NaN when there is none) and probability-target losses by
// the number of rows.
double class_loss_forward(const ClassLossCall& call, Reduction reduction, MutableView loss_out);

// grad_input = d loss / d input. For kNone grad_output is a row operand; for kMean / kSum
// it is the scalar grad_output_scalar. Ignored rows get a zero gradient.
void class_loss_backward(const ClassLossCall& call, Reduction reduction, ConstView grad_output,
                         double grad_output_scalar, MutableClassView grad_input);

// Forward and backward (grad_output = 1) reading each row once for its log-sum-exp and
// writing its gradient once. grad_input may be the input itself (same layout). For kNone
// the per-row losses go to loss_out and the return value is 0.
double class_loss_forward_backward(const ClassLossCall& call, Reduction reduction,
                                   MutableClassView grad_input, MutableView loss_out);

}  // namespace fastloss
