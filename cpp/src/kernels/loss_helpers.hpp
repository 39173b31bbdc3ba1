// Branch-free scalar helpers shared by the per-target loss kernels (abs, sign, clamp with
// torch's NaN behaviour) and the default parts of a loss Op. Included only by per-target
// sources: lives in fastloss::FASTLOSS_TARGET_NS.
#pragma once

#include "kernels/math.hpp"
#include "kernels/abi.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace loss_helpers {

template <class T>
FASTLOSS_INLINE T abs_of(T x) {
  return x < T(0) ? -x : x;
}

// torch.sign: -1, 0 or +1 (0 for NaN: both comparisons are false).
template <class T>
FASTLOSS_INLINE T sign_of(T x) {
  return static_cast<T>(x > T(0)) - static_cast<T>(x < T(0));
}

// clamp_min(x, lo) as torch writes it: NaN in x propagates.
template <class T>
FASTLOSS_INLINE T clamp_min(T x, T lo) {
  return x < lo ? lo : x;
}

// `value`, or d itself where d is NaN: a constant second derivative that still carries NaN.
template <class T>
FASTLOSS_INLINE T nan_or(T d, T value) {
  return d == d ? value : d;
}

// sigmoid(x) sigmoid(-x) = e / (1 + e)^2 with e = exp(-|x|): the logistic curvature, the
// second derivative of softplus. Never overflows; underflows to 0 only where the true value
// is below the smallest subnormal, and NaN only for a NaN x.
template <class T>
FASTLOSS_INLINE T logistic_curvature(T x) {
  const T e = math::exp(-abs_of(x));
  const T inv = T(1) / (T(1) + e);
  return (e * inv) * inv;
}

// The defaults of a loss Op (see elementwise_driver.hpp) without an aux operand, value
// checks, scalar options, variants or Hessian; an Op derives from it and overrides what it uses.
struct PlainLoss {
  static constexpr bool kHasHessian = false;
  static constexpr bool kUsesAux = false;
  template <class T>
  static constexpr bool valid_input(T) {
    return true;
  }
  template <class T>
  static constexpr bool valid_target(T) {
    return true;
  }
  template <class T>
  static constexpr bool valid_aux(T) {
    return true;
  }
  static constexpr int kVariants = 1;
  static int variant(const kernel_abi::Params&) { return 0; }
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params&) {}
  };
};

}  // namespace loss_helpers
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
