// The class losses and softmax: softmax, log_softmax, nll_loss, cross_entropy and
// softmax_focal_loss, forward, backward and fused forward+backward.
//
// Every operand is laid over rows of classes (RowShape: the row dimensions are the input's
// shape without its class axis; for (C,) there are none and one row). A class operand is a
// RowView; a per-row operand (targets, per-row losses, grad_output) a ConstView over the row
// dimensions. Rows whose class stride is 1 are read in place; others are gathered a tile of
// rows at a time, never the whole tensor.
//
// Reductions accumulate in float64 over fixed row chunks combined in index order: the
// results are bitwise identical for any thread count. Shapes, dtypes and options are the
// caller's to validate (the bindings and the Python layer do); target values are checked by
// find_invalid_target, which the caller runs before any work.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

// out = softmax(in) (or log_softmax) along the rows. out may be in (same layout).
void softmax(DType dtype, const RowShape& shape, RowView in, MutableRowView out, bool log);

// grad_input = the gradient of softmax (log_softmax) along the rows from grad_output and the
// forward's output, as aten's _softmax_backward_data: output (grad_output - sum(grad_output
// output)), or grad_output - exp(output) sum(grad_output) for log. grad_input may be
// grad_output (same layout).
void softmax_backward(DType dtype, const RowShape& shape, RowView grad_output, RowView output,
                      MutableRowView grad_input, bool log);

enum class ClassLoss : int {
  kNllLoss,       // input holds log-probabilities: loss = -w_t x_t
  kCrossEntropy,  // input holds logits
  kSoftmaxFocal   // -alpha_t (1 - p_t)^gamma log p_t over logits
};

struct ClassLossOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;  // cross_entropy
  double alpha = 1.0;            // softmax_focal_loss: every class's alpha without a (C,) alpha
  double gamma = 2.0;            // softmax_focal_loss
};

struct ClassLossCall {
  ClassLoss loss = ClassLoss::kCrossEntropy;
  DType dtype = DType::kFloat32;
  RowShape shape;  // length: the number of classes
  RowView input;
  // Class-index targets (a per-row operand of int32/int64) or, when prob_target is present,
  // class probabilities (a row operand of the input's dtype; kCrossEntropy only).
  ConstView index_target;
  IndexDType index_dtype = IndexDType::kInt64;
  RowView prob_target;
  // Optional per-class weight and (softmax_focal_loss) alpha: C elements at their strides,
  // of the call's type or (beside half-precision input) stored as float16/bfloat16.
  const void* weight = nullptr;
  int64_t weight_stride = 1;
  LabelDType weight_stored = LabelDType::kFloat;
  const void* alpha = nullptr;
  int64_t alpha_stride = 1;
  LabelDType alpha_stored = LabelDType::kFloat;
  ClassLossOptions options;
  // The mean's denominator (the sum of w[t] over non-ignored class-index targets) when the
  // caller has it from find_invalid_target's scan: the passes then do not scan the targets
  // again.
  bool target_weight_known = false;
  double target_weight_sum = 0.0;

  bool probability_targets() const { return prob_target.present(); }
};

// The first row (in index order) whose class-index target is neither ignore_index nor in
// [0, C), with that target; row = -1 when every target is valid, and then weight_sum is the
// mean's denominator (ClassLossCall::target_weight_sum).
struct InvalidTarget {
  int64_t row = -1;
  int64_t value = 0;
  double weight_sum = 0.0;
};
InvalidTarget find_invalid_target(const ClassLossCall& call);

// Reduction::kNone writes each row's loss to loss_out (a per-row operand) and returns 0;
// kMean and kSum return the reduced loss. The mean divides class-index losses by the sum of
// w[t] over non-ignored rows (NaN when there is none) and probability-target losses by
// the number of rows.
double class_loss_forward(const ClassLossCall& call, Reduction reduction, MutableView loss_out);

// The reduced forward (kMean, kSum) before its division.
ReducedLoss class_loss_forward_parts(const ClassLossCall& call, Reduction reduction);

// grad_input = d loss / d input. For kNone grad_output is a per-row operand; for kMean /
// kSum it is the scalar grad_output_scalar. Ignored rows get a zero gradient.
void class_loss_backward(const ClassLossCall& call, Reduction reduction, ConstView grad_output,
                         double grad_output_scalar, MutableRowView grad_input);

// Forward and backward (grad_output = 1) reading each row once for its log-sum-exp and
// writing its gradient once. grad_input may be the input itself (same layout). For kNone
// the per-row losses go to loss_out and the return value is 0.
double class_loss_forward_backward(const ClassLossCall& call, Reduction reduction, MutableRowView grad_input,
                                   MutableView loss_out);

// The gradient-boosting objective of class-index cross_entropy or softmax_focal_loss, per
// row and class (no reduction): grad = w d loss / d x and hess = w max(d^2 loss / d x^2,
// hess_floor) (the diagonal of the Hessian), w the row's sample_weight (a per-row operand;
// 1 when absent). One pass over the rows; ignored rows get zeros. The floor passes NaN.
// std::invalid_argument for nll_loss or probability targets.
void class_loss_grad_hess(const ClassLossCall& call, ConstView sample_weight, double hess_floor, MutableRowView grad,
                          MutableRowView hess);

}  // namespace fastloss
