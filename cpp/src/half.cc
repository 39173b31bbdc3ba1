#include "fastloss/half.hpp"

#include "dispatch_table.hpp"

namespace fastloss {
namespace {

const kernel_abi::HalfConversion& conversion(LabelDType stored) {
  const kernel_abi::HalfKernelFamily& family = dispatch::half_kernels();
  return stored == LabelDType::kFloat16 ? family.float16 : family.bfloat16;
}

}  // namespace

void half_to_float(LabelDType stored, const uint16_t* in, float* out, int64_t n) { conversion(stored).to_float(in, out, n); }

void float_to_half(LabelDType stored, const float* in, uint16_t* out, int64_t n) {
  conversion(stored).from_float(in, out, n);
}

}  // namespace fastloss
