// Branch-free scalar helpers shared by the per-target loss kernels (abs, sign, max with
// torch's NaN behaviour). Included only by per-target sources: lives in
// fastloss::FASTLOSS_TARGET_NS.
#pragma once

#include "fastloss/math.hpp"

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

}  // namespace loss_helpers
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
