// Branch-free scalar math for the per-target kernels (PLACEHOLDER: libm calls, being
// replaced by vectorizable implementations with ULP contracts).
#pragma once

#ifndef FASTLOSS_TARGET_NS
#error "fastloss/math.hpp is for per-target kernel sources (FASTLOSS_TARGET_NS undefined)"
#endif

#define FASTLOSS_INLINE inline __attribute__((always_inline))

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace math {

FASTLOSS_INLINE float exp(float x) { return __builtin_expf(x); }
FASTLOSS_INLINE double exp(double x) { return __builtin_exp(x); }
FASTLOSS_INLINE float log(float x) { return __builtin_logf(x); }
FASTLOSS_INLINE double log(double x) { return __builtin_log(x); }
FASTLOSS_INLINE float log1p(float x) { return __builtin_log1pf(x); }
FASTLOSS_INLINE double log1p(double x) { return __builtin_log1p(x); }
FASTLOSS_INLINE float expm1(float x) { return __builtin_expm1f(x); }
FASTLOSS_INLINE double expm1(double x) { return __builtin_expm1(x); }

template <class T>
FASTLOSS_INLINE T log_sigmoid(T x) {
  const T m = x < T(0) ? x : T(0);
  return m - log1p(exp(-__builtin_fabs(x)));
}
template <class T>
FASTLOSS_INLINE T softplus(T x) {
  const T m = x > T(0) ? x : T(0);
  return m + log1p(exp(-__builtin_fabs(x)));
}
template <class T>
FASTLOSS_INLINE T sigmoid(T x) {
  const T e = exp(-__builtin_fabs(x));
  const T s = T(1) / (T(1) + e);
  return x >= T(0) ? s : e * s;
}

}  // namespace math
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
