// The half-precision family on one target: blocks of float16 or bfloat16 converted to and
// from float32 (kernels/half.hpp), for the element engine's operands and results stored as
// half. Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/families.hpp"
#include "kernels/half.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

template <float (*F)(uint16_t)>
void widen(const uint16_t* in, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

template <uint16_t (*F)(float)>
void narrow(const float* in, uint16_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

}  // namespace

const kernel_abi::HalfKernelFamily half_kernels = {
    {&widen<&half::float16_to_float>, &narrow<&half::float_to_float16>},
    {&widen<&half::bfloat16_to_float>, &narrow<&half::float_to_bfloat16>}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
