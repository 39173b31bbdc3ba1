// Array versions of the math header's functions, compiled once per SIMD target. They back
// fastloss.sigmoid / log_sigmoid and let the C++ tests check every function on every
// target through the same vectorized loops the losses use.
#include "kernels/families.hpp"
#include "kernels/math.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

template <class T, T (*F)(T)>
void apply(const T* in, T* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

#define FASTLOSS_UNARY_ENTRY(name) \
  kernel_abi::UnaryKernel{&apply<float, &math::name>, &apply<double, &math::name>},

}  // namespace

const kernel_abi::UnaryKernelFamily unary_kernels = {{FASTLOSS_UNARY_OPS(FASTLOSS_UNARY_ENTRY)}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
