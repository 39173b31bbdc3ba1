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
struct BinaryCrossEntropy : loss_helpers::PlainLoss {
  // Probabilities in [0, 1]; written so that NaN is invalid (every comparison with NaN is false).
  template <class T>
  static FASTLOSS_INLINE bool valid_input(T x) {
    return x >= T(0) && x <= T(1);
  }
  template <class T>
  static FASTLOSS_INLINE bool valid_target(T y) {
    return y >= T(0) && y <= T(1);
  }
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T log_x = clamp_min(math::log(x), T(-100));
    const T log_1mx = clamp_min(math::log1p(-x), T(-100));
    const T loss = (y - T(1)) * log_1mx - y * log_x;
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
