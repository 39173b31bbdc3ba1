// Array math (sigmoid, log_sigmoid, exp, ...) with the same SIMD kernels the losses use.
#pragma once

#include "fastloss/array.hpp"
#include "fastloss/ops.hpp"

namespace fastloss {

// out = op(in) elementwise; in and out are views over `shape` (out may be in).
void unary(UnaryOp op, DType dtype, const Shape& shape, ConstView in, MutableView out);

}  // namespace fastloss
