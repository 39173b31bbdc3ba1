// Array math (sigmoid, log_sigmoid, exp, ...) with the same SIMD kernels the losses use, and
// the gradients of sigmoid and log_sigmoid.
#pragma once

#include "fastloss/array.hpp"
#include "fastloss/ops.hpp"

namespace fastloss {

// out = op(in) elementwise; in and out are views over `shape` (out may be in).
void unary(UnaryOp op, DType dtype, const Shape& shape, ConstView in, MutableView out);

// out = the op's gradient from grad_output and its operand `value` (sigmoid_backward: the
// output y, g (1 - y) y; log_sigmoid_backward: the input x, g sigmoid(-x)), elementwise over
// `shape` (views may broadcast: 0 strides). out may be grad_output (same layout).
void unary_backward(UnaryBackwardOp op, DType dtype, const Shape& shape, ConstView grad_output, ConstView value,
                    MutableView out);

}  // namespace fastloss
