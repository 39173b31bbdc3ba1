// Elementwise losses (BCE, BCE-with-logits, MSE, ...): forward, backward and fused.
//
// Every operand is a strided view over one common shape (broadcast operands carry stride 0),
// float32 or float64 throughout; in float32 calls any operand and result may be stored as
// float16 or bfloat16 instead (its view's `stored`), and the target as integer or bool
// labels where target_labels allows. Reductions are deterministic for any thread count and
// accumulate in float64. Shapes and options are the caller's to validate (the bindings and
// the Python layer do); the values a loss rejects are counted by elementwise_invalid_values,
// which the caller runs before any work.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"
#include "fastloss/ops.hpp"

namespace fastloss {

// The scalar options of the elementwise losses; each loss reads its own.
struct ElementwiseOptions {
  double beta = 1.0;          // smooth_l1_loss: the quadratic region's half-width (0: L1)
  double delta = 1.0;         // huber_loss
  bool log_input = true;      // poisson_nll_loss: the input is log(rate)
  bool full = false;          // poisson_nll_loss (Stirling's term), gaussian_nll_loss (0.5 log 2 pi)
  double eps = 1e-8;          // poisson_nll_loss: added to the rate; gaussian_nll_loss: var's floor
  bool var_gradient = false;  // gaussian_nll_loss: the gradient with respect to var, not input
  bool log_target = false;    // kl_div: the target holds log-probabilities
  double margin = 1.0;        // hinge_embedding_loss, margin_ranking_loss
  double alpha = 0.25;        // sigmoid_focal_loss (< 0: no alpha term)
  double gamma = 2.0;         // sigmoid_focal_loss
};

struct ElementwiseCall {
  ElementwiseLoss loss = ElementwiseLoss::mse_loss;
  DType dtype = DType::kFloat32;
  Shape shape;
  ConstView input;
  ConstView target;
  ConstView weight;  // optional
  ConstView aux;     // optional loss-specific operand (pos_weight, var, input2)
  ElementwiseOptions options;
};

// Reduction::kNone writes the per-element loss to `out` and returns 0; kMean, kSum and
// kBatchMean return the reduced loss (`out` unused).
double elementwise_forward(const ElementwiseCall& call, Reduction reduction, MutableView out);

// The reduced forward (kMean, kSum, kBatchMean) before its division.
ReducedLoss elementwise_forward_parts(const ElementwiseCall& call, Reduction reduction);

// Writes d loss / d input to grad_input. For kNone grad_output is an operand over the shape;
// otherwise it is the scalar grad_output_scalar.
void elementwise_backward(const ElementwiseCall& call, Reduction reduction, ConstView grad_output,
                          double grad_output_scalar, MutableView grad_input);

// Forward and backward (grad_output = 1) in one pass over memory. grad_input may be the
// input itself. For kNone the per-element loss goes to loss_out and the return value is 0.
double elementwise_forward_backward(const ElementwiseCall& call, Reduction reduction, MutableView grad_input,
                                    MutableView loss_out);

// The loss as a gradient-boosting objective: per element (no reduction), grad = w dloss/dx and
// hess = w max(d^2loss/dx^2, hess_floor), w the weight (1 when absent), in one pass. The
// floor passes NaN. std::invalid_argument unless has_hessian(call.loss).
void elementwise_grad_hess(const ElementwiseCall& call, double hess_floor, MutableView grad, MutableView hess);

// Whether the loss has the second derivative elementwise_grad_hess needs.
bool has_hessian(ElementwiseLoss loss);

// How many elements of each operand hold values the loss rejects (value_check in ops.hpp):
// BCE's input and target outside [0, 1] (NaN included), gaussian_nll_loss's negative var.
struct InvalidValues {
  int64_t input = 0;
  int64_t target = 0;
  int64_t aux = 0;
};
InvalidValues elementwise_invalid_values(const ElementwiseCall& call);

// Whether reduction="mean" with a weight divides by sum(weight) (MSE, L1) or by numel.
bool mean_divides_by_weight_sum(ElementwiseLoss loss);

// The operands' names in the loss's torch signature (input, target, aux; aux "" if none).
struct OperandNames {
  const char* input;
  const char* target;
  const char* aux;
};
OperandNames operand_names(ElementwiseLoss loss);

ValueCheck value_check(ElementwiseLoss loss);

// The dtypes the loss's target may have besides the input's.
TargetLabels target_labels(ElementwiseLoss loss);

}  // namespace fastloss
