// Elementwise losses (BCE, BCE-with-logits, MSE, ...): forward, backward and fused.
//
// Every operand is a strided view over one common shape (broadcast operands carry stride 0),
// float32 or float64 throughout. Reductions are deterministic for any thread count and
// accumulate in float64. Shapes and values are the caller's to validate (the Python layer
// does); this layer trusts them.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"
#include "fastloss/ops.hpp"

namespace fastloss {

struct ElementwiseCall {
  ElementwiseLoss loss = ElementwiseLoss::mse_loss;
  DType dtype = DType::kFloat32;
  Shape shape;
  ConstView input;
  ConstView target;
  ConstView weight;  // optional
  ConstView aux;     // optional loss-specific operand (pos_weight, ...)
  double params[4] = {0.0, 0.0, 0.0, 0.0};  // loss-specific scalar options
};

// Reduction::kNone writes the per-element loss to `out` and returns 0; kMean / kSum return
// the reduced loss (`out` unused).
double elementwise_forward(const ElementwiseCall& call, Reduction reduction, MutableView out);

// Writes d loss / d input to grad_input. For kNone grad_output is an operand over the shape;
// for kMean / kSum it is the scalar grad_output_scalar.
void elementwise_backward(const ElementwiseCall& call, Reduction reduction,
                          ConstView grad_output, double grad_output_scalar,
                          MutableView grad_input);

// Forward and backward (grad_output = 1) in one pass over memory. grad_input may be the
// input itself. For kNone the per-element loss goes to loss_out and the return value is 0.
double elementwise_forward_backward(const ElementwiseCall& call, Reduction reduction,
                                    MutableView grad_input, MutableView loss_out);

// Number of elements whose values the loss rejects (BCE: input or target outside [0, 1]).
int64_t elementwise_invalid_count(const ElementwiseCall& call);

// Whether reduction="mean" with a weight divides by sum(weight) (MSE, L1) or by numel.
bool mean_divides_by_weight_sum(ElementwiseLoss loss);

}  // namespace fastloss
