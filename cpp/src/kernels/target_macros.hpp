// FASTLOSS_FOR_EACH_COMPILED_TARGET(X) expands X(namespace, Target enumerator) for every
// target compiled into this build (CMake defines FASTLOSS_HAVE_TARGET_<NAME>). Used by the
// baseline dispatcher only.
#pragma once

#ifdef FASTLOSS_HAVE_TARGET_BASELINE
#define FASTLOSS_X_TARGET_BASELINE(X) X(baseline, kBaseline)
#else
#define FASTLOSS_X_TARGET_BASELINE(X)
#endif
#ifdef FASTLOSS_HAVE_TARGET_NEON
#define FASTLOSS_X_TARGET_NEON(X) X(neon, kNeon)
#else
#define FASTLOSS_X_TARGET_NEON(X)
#endif
#ifdef FASTLOSS_HAVE_TARGET_AVX2
#define FASTLOSS_X_TARGET_AVX2(X) X(avx2, kAvx2)
#else
#define FASTLOSS_X_TARGET_AVX2(X)
#endif
#ifdef FASTLOSS_HAVE_TARGET_AVX512
#define FASTLOSS_X_TARGET_AVX512(X) X(avx512, kAvx512)
#else
#define FASTLOSS_X_TARGET_AVX512(X)
#endif

#define FASTLOSS_FOR_EACH_COMPILED_TARGET(X) \
  FASTLOSS_X_TARGET_BASELINE(X)              \
  FASTLOSS_X_TARGET_NEON(X)                  \
  FASTLOSS_X_TARGET_AVX2(X)                  \
  FASTLOSS_X_TARGET_AVX512(X)
