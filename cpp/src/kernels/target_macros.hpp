// FASTLOSS_FOR_EACH_COMPILED_TARGET(X, arg) expands X(namespace, Target enumerator, arg) for
// every target compiled into this build (CMake defines FASTLOSS_HAVE_TARGET_<NAME>). Used by
// the baseline dispatcher only.
#pragma once

#ifdef FASTLOSS_HAVE_TARGET_BASELINE
#define FASTLOSS_X_TARGET_BASELINE(X, arg) X(baseline, kBaseline, arg)
#else
#define FASTLOSS_X_TARGET_BASELINE(X, arg)
#endif
#ifdef FASTLOSS_HAVE_TARGET_NEON
#define FASTLOSS_X_TARGET_NEON(X, arg) X(neon, kNeon, arg)
#else
#define FASTLOSS_X_TARGET_NEON(X, arg)
#endif
#ifdef FASTLOSS_HAVE_TARGET_AVX2
#define FASTLOSS_X_TARGET_AVX2(X, arg) X(avx2, kAvx2, arg)
#else
#define FASTLOSS_X_TARGET_AVX2(X, arg)
#endif
#ifdef FASTLOSS_HAVE_TARGET_AVX512
#define FASTLOSS_X_TARGET_AVX512(X, arg) X(avx512, kAvx512, arg)
#else
#define FASTLOSS_X_TARGET_AVX512(X, arg)
#endif

#define FASTLOSS_FOR_EACH_COMPILED_TARGET(X, arg) \
  FASTLOSS_X_TARGET_BASELINE(X, arg)              \
  FASTLOSS_X_TARGET_NEON(X, arg)                  \
  FASTLOSS_X_TARGET_AVX2(X, arg)                  \
  FASTLOSS_X_TARGET_AVX512(X, arg)
