// The half-precision family on one target: blocks of float16 or bfloat16 converted to and
// from float32 (kernels/half.hpp's block conversions), for the element engine's operands and
// results stored as half where its block function computes in float32 only (the unary ops;
// the elementwise losses convert inside their kernels). Compiled once per SIMD target
// (FASTLOSS_TARGET_NS).
#include "kernels/families.hpp"
#include "kernels/half.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

template <LabelDType kStored>
void widen_block(const uint16_t* in, float* out, int64_t n) {
  half::widen(kStored, in, out, n);
}

template <LabelDType kStored>
void narrow_block(const float* in, uint16_t* out, int64_t n) {
  half::narrow(kStored, in, out, n);
}

}  // namespace

const kernel_abi::HalfKernelFamily half_kernels = {
    {&widen_block<LabelDType::kFloat16>, &narrow_block<LabelDType::kFloat16>},
    {&widen_block<LabelDType::kBFloat16>, &narrow_block<LabelDType::kBFloat16>}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
