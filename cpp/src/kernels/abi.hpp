// The interface between the baseline dispatcher and the per-target kernel objects.
//
// Plain data and function-pointer types only: this header is included both by
// per-target kernel sources (compiled with AVX2/AVX-512 flags) and by baseline code, so it
// must not define any function that either side could emit.
#pragma once

#include <cstdint>

#include "fastloss/elementwise.hpp"

namespace fastloss {
namespace kernel_abi {

// What one call over a contiguous block computes.
enum class Mode : int {
  kLoss,         // out[i] = w_i * loss_i
  kLossSum,      // sums of w_i * loss_i (and of w_i)
  kGrad,         // out[i] = scale * go_i * w_i * dloss_i/dx_i
  kLossSumGrad,  // kLossSum and kGrad in one pass
  kGradHess,     // out[i] = w_i * dloss_i/dx_i, second_out[i] = w_i * max(d2loss_i/dx_i^2, hess_floor)
  kLossGrad,     // kGrad without go_i, and second_out[i] = w_i * loss_i: reduction "none"'s fused pass
  kWeightSum,         // sum of w_i only
  kInvalidCount,      // numbers of x_i (as loss) and y_i (as weight) the loss rejects
  kInvalidAuxCount    // number of a_i the loss rejects (as loss)
};

// Operand slots of an elementwise loss. Absent slots are null.
enum Slot : int { kInput = 0, kTarget, kWeight, kAux, kGradOutput, kNumSlots };

// stored[s], out_stored and second_out_stored say how each block is stored: kFloat (the
// call's float type) or, in float32 calls only, kFloat16 or kBFloat16 (uint16_t elements,
// converted to and from float32 inside the kernel: elementwise_driver.hpp's half tiles).
struct Block {
  const void* in[kNumSlots];  // each contiguous with n elements, or null
  void* out;                  // contiguous with n elements (modes that write)
  void* second_out;           // kGradHess's and kLossGrad's second output, like out
  int64_t n;
  LabelDType stored[kNumSlots];
  LabelDType out_stored;
  LabelDType second_out_stored;
};

// The gradient scale (grad_output / mean denominator), the loss's options and kGradHess's
// lower bound of the Hessian.
struct Params {
  double scale;
  ElementwiseOptions options;
  double hess_floor;
};

struct Sums {
  double loss;
  double weight;
};

using BlockKernelFn = Sums (*)(Mode, const Block&, const Params&);

// One elementwise loss on one target: float32 and float64 entry points; has_hessian says
// whether they run kGradHess.
struct ElementwiseKernel {
  BlockKernelFn f32;
  BlockKernelFn f64;
  bool has_hessian;
};

// The elementwise family's object on one target: each loss's kernel, in
// FASTLOSS_ELEMENTWISE_LOSSES order.
struct ElementwiseKernelFamily {
  const ElementwiseKernel* losses[static_cast<int>(ElementwiseLoss::kCount)];
};

using UnaryF32Fn = void (*)(const float* in, float* out, int64_t n);
using UnaryF64Fn = void (*)(const double* in, double* out, int64_t n);

struct UnaryKernel {
  UnaryF32Fn f32;
  UnaryF64Fn f64;
};

// out[i] = d op / d x at element i, from grad_output[i] and the op's operand value[i] (its
// output or its input); out may be grad_output.
using UnaryBackwardF32Fn = void (*)(const float* grad_output, const float* value, float* out, int64_t n);
using UnaryBackwardF64Fn = void (*)(const double* grad_output, const double* value, double* out, int64_t n);

struct UnaryBackwardKernel {
  UnaryBackwardF32Fn f32;
  UnaryBackwardF64Fn f64;
};

// The unary family's object on one target: the ops in FASTLOSS_UNARY_OPS order, their
// gradients in FASTLOSS_UNARY_BACKWARD_OPS order.
struct UnaryKernelFamily {
  UnaryKernel ops[static_cast<int>(UnaryOp::kCount)];
  UnaryBackwardKernel backward[static_cast<int>(UnaryBackwardOp::kCount)];
};

// A half-precision storage type (float16 or bfloat16) converted a block at a time:
// to_float widens n elements exactly, from_float rounds n floats to nearest even
// (kernels/half.hpp states the contract, NaN and overflow included).
struct HalfConversion {
  void (*to_float)(const uint16_t* in, float* out, int64_t n);
  void (*from_float)(const float* in, uint16_t* out, int64_t n);
};

// The half-precision family's object on one target.
struct HalfKernelFamily {
  HalfConversion float16;
  HalfConversion bfloat16;
};

}  // namespace kernel_abi
}  // namespace fastloss
