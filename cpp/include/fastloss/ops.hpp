// The lists of operations fastloss implements, as X-macros shared by the core, the
// per-target kernels and the bindings.
#pragma once

// Elementwise losses: X(name, mean_divides_by_weight_sum, aux_name).
// mean_divides_by_weight_sum is torch's rule for reduction="mean" with a weight: MSE and L1
// divide by sum(weight), the others by numel. aux_name names the loss-specific operand
// (empty when the loss has none).
#define FASTLOSS_ELEMENTWISE_LOSSES(X)                        \
  X(binary_cross_entropy, false, "")                          \
  X(binary_cross_entropy_with_logits, false, "pos_weight")    \
  X(mse_loss, true, "")                                       \
  X(l1_loss, true, "")                                        \
  X(smooth_l1_loss, false, "")                                \
  X(huber_loss, false, "")                                    \
  X(poisson_nll_loss, false, "")                              \
  X(gaussian_nll_loss, false, "var")                          \
  X(kl_div, false, "")                                        \
  X(soft_margin_loss, false, "")                              \
  X(hinge_embedding_loss, false, "")                          \
  X(margin_ranking_loss, false, "input2")                     \
  X(sigmoid_focal_loss, false, "")

// Unary math ops exposed as array functions: X(name).
#define FASTLOSS_UNARY_OPS(X) \
  X(exp)                      \
  X(log)                      \
  X(log1p)                    \
  X(expm1)                    \
  X(sigmoid)                  \
  X(log_sigmoid)              \
  X(softplus)

namespace fastloss {

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

}  // namespace fastloss
