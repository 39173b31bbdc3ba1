// Array versions of the math header's functions, compiled once per SIMD target. They back
// fastloss.sigmoid / log_sigmoid (and their gradients, sigmoid_backward and
// log_sigmoid_backward) and let the C++ tests check every function on every target through
// the same vectorized loops the losses use.
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

// aten's sigmoid_backward(grad_output, output): g (1 - y) y, in torch's order of operations.
template <class T>
FASTLOSS_INLINE T sigmoid_backward(T g, T y) {
  return g * (T(1) - y) * y;
}

// aten's log_sigmoid_backward(grad_output, input): g sigmoid(-x), through the stable sigmoid
// (torch's (x < 0 ? 1 - e / (1 + e) : e / (1 + e)) g with e = exp(-|x|), the same value):
// finite for every finite x, g at x = -inf, 0 at x = +inf, NaN for NaN.
template <class T>
FASTLOSS_INLINE T log_sigmoid_backward(T g, T x) {
  return g * math::sigmoid(-x);
}

// out may be grad_output: each element is read before it is written.
template <class T, T (*F)(T, T)>
void apply_backward(const T* grad_output, const T* value, T* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(grad_output[i], value[i]);
}

#define FASTLOSS_UNARY_ENTRY(name) \
  kernel_abi::UnaryKernel{&apply<float, &math::name>, &apply<double, &math::name>},
#define FASTLOSS_UNARY_BACKWARD_ENTRY(name, operand) \
  kernel_abi::UnaryBackwardKernel{&apply_backward<float, &name<float>>, &apply_backward<double, &name<double>>},

}  // namespace

const kernel_abi::UnaryKernelFamily unary_kernels = {{FASTLOSS_UNARY_OPS(FASTLOSS_UNARY_ENTRY)},
                                                     {FASTLOSS_UNARY_BACKWARD_OPS(FASTLOSS_UNARY_BACKWARD_ENTRY)}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
