// The lists of operations fastloss implements, as X-macros shared by the core, the
// per-target kernels and the bindings.
#pragma once

// Elementwise losses: X(name, mean_divides_by_weight_sum, input, target, aux, value_check,
// target_labels).
// - mean_divides_by_weight_sum: torch's rule for reduction="mean" with a weight: MSE and L1
//   divide by sum(weight), the others by numel.
// - input, target, aux: the operands' names in torch's signature, for messages; aux is the
//   loss-specific operand ("" when the loss has none).
// - value_check: which operands' values the loss rejects (ValueCheck below).
// - target_labels: the target dtypes besides the input's that torch 2.13 takes (TargetLabels
//   below): integers where its formula promotes them, bool unless it negates or subtracts
//   the target (l1, gaussian_nll, margin_ranking), neither where it requires a float target
//   (BCE, BCE-with-logits, kl_div, torchvision's focal loss). log_cosh (fastloss's) follows l1.
#define FASTLOSS_ELEMENTWISE_LOSSES(X)                                                       \
  X(binary_cross_entropy, false, "input", "target", "", kInputAndTarget, kFloat)             \
  X(binary_cross_entropy_with_logits, false, "input", "target", "pos_weight", kNone, kFloat) \
  X(mse_loss, true, "input", "target", "", kNone, kIntegerOrBool)                            \
  X(l1_loss, true, "input", "target", "", kNone, kInteger)                                   \
  X(smooth_l1_loss, false, "input", "target", "", kNone, kIntegerOrBool)                     \
  X(huber_loss, false, "input", "target", "", kNone, kIntegerOrBool)                         \
  X(poisson_nll_loss, false, "input", "target", "", kNone, kIntegerOrBool)                   \
  X(gaussian_nll_loss, false, "input", "target", "var", kAux, kInteger)                      \
  X(kl_div, false, "input", "target", "", kNone, kFloat)                                     \
  X(soft_margin_loss, false, "input", "target", "", kNone, kIntegerOrBool)                   \
  X(hinge_embedding_loss, false, "input", "target", "", kNone, kIntegerOrBool)               \
  X(margin_ranking_loss, false, "input1", "target", "input2", kNone, kInteger)               \
  X(sigmoid_focal_loss, false, "inputs", "targets", "", kNone, kFloat)                       \
  X(log_cosh_loss, false, "input", "target", "", kNone, kInteger)

// Unary math ops exposed as array functions: X(name). exp_nonpositive (x <= 0) and log_unit
// (x in [0, 1]) are the restricted-domain forms some kernels use, there for the tests.
#define FASTLOSS_UNARY_OPS(X) \
  X(exp)                      \
  X(log)                      \
  X(log1p)                    \
  X(expm1)                    \
  X(sigmoid)                  \
  X(log_sigmoid)              \
  X(softplus)                 \
  X(exp_nonpositive)          \
  X(log_unit)

// Gradients of unary ops, elementwise from grad_output and one operand:
// X(name, operand), operand the name of the second argument in torch's signature (aten's
// sigmoid_backward(grad_output, output), log_sigmoid_backward(grad_output, self)).
#define FASTLOSS_UNARY_BACKWARD_OPS(X) \
  X(sigmoid_backward, "output")         \
  X(log_sigmoid_backward, "input")

namespace fastloss {

// The operands whose values an elementwise loss checks before any work (BCE: input and
// target in [0, 1]; gaussian_nll_loss: var >= 0).
enum class ValueCheck : int { kNone, kInputAndTarget, kAux };

// The dtypes an elementwise loss's target may have: the input's only, or integer labels
// too, or integer and bool labels (LabelDType).
enum class TargetLabels : int { kFloat, kInteger, kIntegerOrBool };

enum class ElementwiseLoss : int {
#define FASTLOSS_ENUM_ENTRY(name, ...) name,
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_ENUM_ENTRY)
#undef FASTLOSS_ENUM_ENTRY
  kCount
};

enum class UnaryOp : int {
#define FASTLOSS_ENUM_ENTRY(name) name,
  FASTLOSS_UNARY_OPS(FASTLOSS_ENUM_ENTRY)
#undef FASTLOSS_ENUM_ENTRY
  kCount
};

enum class UnaryBackwardOp : int {
#define FASTLOSS_ENUM_ENTRY(name, operand) name,
  FASTLOSS_UNARY_BACKWARD_OPS(FASTLOSS_ENUM_ENTRY)
#undef FASTLOSS_ENUM_ENTRY
  kCount
};

}  // namespace fastloss
