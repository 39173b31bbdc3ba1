// Binary classification losses: binary_cross_entropy and binary_cross_entropy_with_logits.
// Compiled once per SIMD target (FASTLOSS_TARGET_NS); formulas follow PyTorch 2.13's CPU
// kernels so results agree to float rounding.
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::clamp_min;

// loss = (y - 1) * max(log1p(-x), -100) - y * max(log(x), -100)  (torch's log clamp).
// The gradient is torch's (x - y) / max((1 - x) x, eps): not the derivative of the clamped
// loss, kept for parity. torch's eps is the float 1e-12f, also for float64 inputs.
// The inputs are in [0, 1] (elementwise_invalid_values rejects the others before any pass),
// so the logs are log_unit and log1p_neg_unit, without log's special values; every loss is
// what log and log1p give bitwise. A block whose targets are all 0 or 1 (variant 1, picked by
// data_variant) takes one log per element instead of two.
struct BinaryCrossEntropy : loss_helpers::PlainLoss {
  static constexpr int kVariants = 2;
  template <class T>
  static int data_variant(int, const T* y, int64_t n) {
    T soft = T(0);
#pragma omp simd reduction(+ : soft)
    for (int64_t i = 0; i < n; ++i) soft += ((y[i] == T(0)) | (y[i] == T(1))) ? T(0) : T(1);
    return soft == T(0) ? 1 : 0;
  }
  // Probabilities in [0, 1]; written so that NaN is invalid (every comparison with NaN is false).
  template <class T>
  static FASTLOSS_INLINE bool valid_input(T x) {
    return x >= T(0) && x <= T(1);
  }
  template <class T>
  static FASTLOSS_INLINE bool valid_target(T y) {
    return y >= T(0) && y <= T(1);
  }
  template <int kVariant, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    T loss;
    if constexpr (kVariant == 1) {
      // y is 0 or 1, and the loss is the one term it keeps: -max(log(x), -100) (y = 1) or
      // -max(log1p(-x), -100) (y = 0), from one log. Subtracted from (0 - y) 0, -0 (y = 1)
      // or +0 (y = 0), it is variant 0's product sum bitwise, signed zeros included. (A
      // select of the two zeros let GCC move it past the float64 sum, doubling its work.)
      const bool one = y == T(1);
      const T log_kept = math::log_unit(one ? x : T(1) - x);
      const T kept = clamp_min(one ? log_kept : math::log1p_neg_unit(x, log_kept), T(-100));
      loss = (T(0) - y) * T(0) - kept;
    } else {
      const T log_x = clamp_min(math::log_unit(x), T(-100));
      const T log_1mx = clamp_min(math::log1p_neg_unit(x, math::log_unit(T(1) - x)), T(-100));
      loss = (y - T(1)) * log_1mx - y * log_x;
    }
    const T grad = (x - y) / clamp_min((T(1) - x) * x, static_cast<T>(1e-12f));
    return {loss, grad};
  }
};

// loss = (1 - y) x - l * log_sigmoid(x), l = (pos_weight - 1) y + 1 (l = 1 without
// pos_weight). log_sigmoid is the stable min(x, 0) - log1p(exp(-|x|)), so the loss is
// finite for every finite logit. Hessian: (pos_weight y + 1 - y) sigmoid(x) sigmoid(-x).
struct BinaryCrossEntropyWithLogits : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  static constexpr bool kUsesAux = true;  // aux = pos_weight, optional
  static constexpr bool kAuxOptional = true;
  template <bool kPosWeight, class T>
  static FASTLOSS_INLINE T hess(T x, T y, T pos_weight, const Consts<T>&) {
    const T curvature = loss_helpers::logistic_curvature(x);
    if constexpr (kPosWeight) return (pos_weight * y + T(1) - y) * curvature;
    (void)y;
    (void)pos_weight;
    return curvature;
  }
  template <bool kPosWeight, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T pos_weight, const Consts<T>&) {
    const T ls = math::log_sigmoid(x);
    const T s = math::sigmoid(x);
    if constexpr (kPosWeight) {
      const T l = math::mul_add(pos_weight - T(1), y, T(1));
      const T py = pos_weight * y;
      return {math::mul_add(T(1) - y, x, -(l * ls)), math::mul_add(py + T(1) - y, s, -py)};
    } else {
      (void)pos_weight;
      return {math::mul_add(T(1) - y, x, -ls), s - y};
    }
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(binary_cross_entropy, BinaryCrossEntropy)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(binary_cross_entropy_with_logits, BinaryCrossEntropyWithLogits)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
