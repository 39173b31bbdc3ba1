// Half-precision storage: blocks of float16 (IEEE binary16) or bfloat16 converted to and from
// float32 by the running SIMD target's kernels, as the element engine converts the operands
// and results it reads and writes as half for the unary ops (the elementwise losses' kernels
// convert their half blocks themselves, tile by tile, through the same per-target code). Widening is exact (a NaN comes back quiet, same
// sign and payload); narrowing rounds to nearest even, overflows to ±inf and keeps a NaN's
// sign and leading payload bits, quieted (kernels/half.hpp states the contract).
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

// `stored` is LabelDType::kFloat16 or kBFloat16.
void half_to_float(LabelDType stored, const uint16_t* in, float* out, int64_t n);
void float_to_half(LabelDType stored, const float* in, uint16_t* out, int64_t n);

}  // namespace fastloss
