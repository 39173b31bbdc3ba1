// Branch-free scalar math for the per-target kernels.
//
// Every function is written so that GCC inlines it into `#pragma omp simd` loops and
// vectorizes it on each target (SSE2, AVX2+FMA, AVX-512): no libm calls, no branches (only
// selects), no table lookups, no float->int64 conversions (AVX2 has none); 2^k is built
// from integer bits after rounding with the 1.5 * 2^(mantissa bits) "magic" add. Kernel
// files are compiled with -fno-trapping-math -fno-math-errno (never -ffast-math), so NaN and
// inf keep their meaning and the special values below are exact.
//
// Accuracy: max error in ULP against a correctly rounded reference. "Contract" is what
// tests/cpp/test_math.cc enforces on every compiled target (same table there); "measured"
// is the worst seen by that test (about 1.1 million arguments per function and dtype,
// including 8192 consecutive representable numbers around every critical point), max over
// the baseline, avx2 and avx512 targets (GCC 12; avx2 and avx512 fuse the multiply-adds
// written as mul_add, nothing else). The sweep can miss the worst case: every float through
// the avx2 and avx512 exp gave 1.059 ULP (at x = -0x1.78e2fcp+2; baseline 1.025) where the
// sweep saw 0.999, so contracts keep a margin over it.
//
//   function      contract f32/f64   measured f32/f64
//   exp              1.5  / 1.5        1.059 / 0.960   (float: exhaustive)
//   log               1   / 1          0.826 / 0.792
//   log1p             2   / 2          1.431 / 1.436
//   expm1            2.5  / 2.5        1.712 / 1.886
//   sigmoid          2.5  / 2.5        2.008 / 2.052
//   log_sigmoid      2.5  / 2.5        1.636 / 1.606
//   softplus          2   / 2          1.647 / 1.594
//
// exp_nonpositive and log_unit, cheaper forms for a restricted domain, are exp and log
// bitwise on it (RestrictedDomainFormsAreTheGeneralFunctionsBitwise), so their contracts.
//
// Valid range and special values are listed with each function below. For a subnormal
// result the ULP is the smallest subnormal.
//
// Included only by per-target kernel sources: everything here lives in
// fastloss::FASTLOSS_TARGET_NS::math and is compiled separately for every target.
#pragma once

#include <cstdint>

#ifndef FASTLOSS_TARGET_NS
#error "kernels/math.hpp is for per-target kernel sources (FASTLOSS_TARGET_NS undefined)"
#endif

#include "fastloss/portability.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace math {

// a * b + c, rounded once where the target has fused multiply-add (avx2, avx512, neon) and
// twice elsewhere. Kernels are compiled with -ffp-contract=off, so this is the only place a
// multiply and an add fuse: the compiler cannot contract one loop of a kernel (a vector body)
// and not another (a remainder, the fused pass), and every path rounds alike, bit for bit.
template <class T>
FASTLOSS_INLINE T mul_add(T a, T b, T c) {
#ifdef FASTLOSS_HAVE_FMA
  if constexpr (sizeof(T) == 4)
    return FASTLOSS_FMAF(a, b, c);
  else
    return FASTLOSS_FMA(a, b, c);
#else
  return a * b + c;
#endif
}

namespace detail {

// __builtin_bit_cast is a value operation (no addressable temporary), which keeps long
// inlined chains such as log1p(exp(x)) vectorizable where memcpy punning does not.
FASTLOSS_INLINE uint32_t bits_of(float x) { return __builtin_bit_cast(uint32_t, x); }
FASTLOSS_INLINE uint64_t bits_of(double x) { return __builtin_bit_cast(uint64_t, x); }
FASTLOSS_INLINE float float_from_bits(uint32_t u) { return __builtin_bit_cast(float, u); }
FASTLOSS_INLINE double double_from_bits(uint64_t u) { return __builtin_bit_cast(double, u); }

// Constants of each precision. Functions, not namespace-scope objects: nothing here may
// need initialisation code that could run on a CPU without the target's instructions.
template <class T>
struct Consts;

template <>
struct Consts<float> {
  using Bits = uint32_t;
  static constexpr int kMantissaBits = 23;
  static constexpr Bits kExponentBias = 127;
  static constexpr float kRoundShift = 0x1.8p23f;  // x + shift - shift rounds to an integer
  static constexpr float kLog2e = 1.44269504088896341f;
  // Cody-Waite split of ln 2: k * kLn2Hi is exact for |k| < 2^15.
  static constexpr float kLn2Hi = 0x1.63p-1f;
  static constexpr float kLn2Lo = -2.12194440e-4f;
  static constexpr float kExpMin = -105.0f;  // exp(x) rounds to +0 below this
  static constexpr float kExpMax = 89.0f;    // and to +inf above
  static constexpr float kMinNormal = 0x1p-126f;
  static constexpr float kSubnormalScale = 0x1p23f;
  static constexpr int kSubnormalExponent = 23;
  static constexpr float kExpm1Lo = -30.0f;  // expm1(x) rounds to -1 below this
  static constexpr float kExpm1Hi = 20.0f;   // and equals exp(x) above
};

template <>
struct Consts<double> {
  using Bits = uint64_t;
  static constexpr int kMantissaBits = 52;
  static constexpr Bits kExponentBias = 1023;
  static constexpr double kRoundShift = 0x1.8p52;
  static constexpr double kLog2e = 1.44269504088896338700e+00;
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 32 trailing zero bits
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kExpMin = -746.0;
  static constexpr double kExpMax = 710.0;
  static constexpr double kMinNormal = 0x1p-1022;
  static constexpr double kSubnormalScale = 0x1p52;
  static constexpr int kSubnormalExponent = 52;
  static constexpr double kExpm1Lo = -60.0;
  static constexpr double kExpm1Hi = 40.0;
};

template <class T>
FASTLOSS_INLINE T from_bits(typename Consts<T>::Bits u) {
  if constexpr (sizeof(T) == 4)
    return float_from_bits(u);
  else
    return double_from_bits(u);
}

template <class T>
FASTLOSS_INLINE T infinity() {
  return static_cast<T>(FASTLOSS_INFINITY);
}

template <class T>
FASTLOSS_INLINE T quiet_nan() {
  return static_cast<T>(__builtin_nan(""));
}

// round(v) for |v| < 2^(mantissa bits - 1), without a rounding instruction.
template <class T>
FASTLOSS_INLINE T round_to_integer(T v) {
  using C = Consts<T>;
  return (v + C::kRoundShift) - C::kRoundShift;
}

// 2^k for an integer-valued k whose biased exponent is a normal number.
template <class T>
FASTLOSS_INLINE T exp2_integer(T k) {
  using C = Consts<T>;
  using Bits = typename C::Bits;
  // After the magic add, k sits in the low mantissa bits (two's complement for k < 0).
  const Bits k_bits = bits_of(k + C::kRoundShift) - bits_of(C::kRoundShift);
  return from_bits<T>(static_cast<Bits>(k_bits + C::kExponentBias) << C::kMantissaBits);
}

// x = k ln2 + r with |r| <= ln2 / 2 (k integer-valued, r exact up to the split's rounding).
template <class T>
struct Reduced {
  T k;
  T r;
};

template <class T>
FASTLOSS_INLINE Reduced<T> reduce_ln2(T x) {
  using C = Consts<T>;
  const T k = round_to_integer(x * C::kLog2e);
  const T r = mul_add(-k, C::kLn2Lo, mul_add(-k, C::kLn2Hi, x));
  return {k, r};
}

// c0 + x (c1 + x (c2 + ...)) in Horner form, one mul_add per coefficient.
template <class T>
FASTLOSS_INLINE T horner(T, T c) {
  return c;
}
template <class T, class... Rest>
FASTLOSS_INLINE T horner(T x, T c0, Rest... rest) {
  return mul_add(horner<T>(x, rest...), x, c0);
}

// expm1(r) for |r| <= ln2/2 as r + r^2 q(r), q the Taylor series of (expm1(r) - r) / r^2
// through r^7 (float) or r^13 (double): below half an ULP of truncation error.
FASTLOSS_INLINE float expm1_reduced(float r) {
  const float q = horner(r, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040);
  return mul_add(r * r, q, r);
}
FASTLOSS_INLINE double expm1_reduced(double r) {
  const double q = horner(r, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
                          1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0);
  return mul_add(r * r, q, r);
}

// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as fdlibm: s = f / (2 + f),
// log(1 + f) = f - (hfsq - s (hfsq + R(s^2))), hfsq = f^2 / 2, R a minimax polynomial
// (its first four terms suffice for float).
template <class T>
struct Log1pParts {
  T hfsq;    // f^2 / 2
  T s;       // f / (2 + f)
  T hfsq_r;  // hfsq + R
};

FASTLOSS_INLINE Log1pParts<float> log1p_reduced(float f) {
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float hfsq = 0.5f * f * f;
  return {hfsq, s,
          mul_add(z, horner(z, 6.666666666666735130e-01f, 3.999999999940941908e-01f, 2.857142874366239149e-01f,
                            2.222219843214978396e-01f),
                  hfsq)};
}
FASTLOSS_INLINE Log1pParts<double> log1p_reduced(double f) {
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double hfsq = 0.5 * f * f;
  return {hfsq, s,
          mul_add(z, horner(z, 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
                            2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
                            1.479819860511658591e-01),
                  hfsq)};
}

// log(1 + f) + k ln2 for a reduced f and an integer-valued k, the small terms added before
// the large ones: k ln2_hi - ((hfsq - (s (hfsq + R) + k ln2_lo)) - f).
template <class T>
FASTLOSS_INLINE T log1p_reduced_plus(T f, T k) {
  using C = Consts<T>;
  const Log1pParts<T> p = log1p_reduced(f);
  return mul_add(k, C::kLn2Hi, -((p.hfsq - mul_add(p.s, p.hfsq_r, k * C::kLn2Lo)) - f));
}

// exp(x) = 2^k p: k (integer-valued), p = 1 + expm1(r) after the ln2 reduction, and k +
// kRoundShift, whose low mantissa bits are k as an integer.
template <class T>
struct ExpParts {
  T shifted, k, p;
};

template <class T>
FASTLOSS_INLINE ExpParts<T> exp_parts(T x) {
  using C = Consts<T>;
  const T shifted = mul_add(x, C::kLog2e, C::kRoundShift);
  const T k = shifted - C::kRoundShift;
  const T r = mul_add(-k, C::kLn2Lo, mul_add(-k, C::kLn2Hi, x));
  return {shifted, k, T(1) + expm1_reduced(r)};
}

// 2^e for an int32 e whose biased exponent is a normal number, from the bits.
FASTLOSS_INLINE float power_of_two(int32_t e) {
  using C = Consts<float>;
  return float_from_bits(static_cast<uint32_t>(e + static_cast<int32_t>(C::kExponentBias)) << C::kMantissaBits);
}

template <class T>
FASTLOSS_INLINE T exp_impl(T x) {
  using C = Consts<T>;
  const ExpParts<T> e = exp_parts(x);
  // 2^k = 2^k1 * 2^k2 with both halves normal, the larger applied first: the product
  // overflows to inf or rounds once into the subnormal range exactly as exp itself should.
  T result;
  if constexpr (sizeof(T) == 4) {
    // Integer halves from the shifted bits (a third fewer instructions than the float route;
    // double keeps it, as AVX2 has no 64-bit arithmetic shift).
    const int32_t k_int = static_cast<int32_t>(bits_of(e.shifted) - bits_of(C::kRoundShift));
    const int32_t k_low = k_int >> 1;  // floor(k / 2)
    const int32_t k_high = k_int - k_low;
    result = e.p * power_of_two(k_high) * power_of_two(k_low);
  } else {
    const T k_high = round_to_integer(e.k * T(0.5));
    result = e.p * exp2_integer(k_high) * exp2_integer(e.k - k_high);
  }
  // Outside [kExpMin, kExpMax] the halves are not normal numbers and the result is +0 or
  // +inf, chosen last so that the range checks stay off the arithmetic's path (NaN fails both).
  result = x < C::kExpMin ? T(0) : result;
  return x > C::kExpMax ? infinity<T>() : result;
}

// exp for x <= 0 with 2^k applied in one multiply, while 2^k is a normal number (k >= -126
// float, -1022 double; a subnormal result there rounds once, as in exp's two halves), +0 below.
template <class T>
FASTLOSS_INLINE T exp_nonpositive_impl(T x) {
  using C = Consts<T>;
  const ExpParts<T> e = exp_parts(x);
  T power;
  if constexpr (sizeof(T) == 4)
    power = power_of_two(static_cast<int32_t>(bits_of(e.shifted) - bits_of(C::kRoundShift)));
  else
    power = exp2_integer(e.k);
  const T smallest_normal_exponent = T(1) - static_cast<T>(C::kExponentBias);
  return e.k < smallest_normal_exponent ? T(0) : e.p * power;  // NaN fails the comparison
}

// log(x) for x > 0 finite, subnormals included: log without its special values. At x = 0 it
// gives a finite value below log(smallest subnormal) (about -104 float, -745 double).
template <class T>
FASTLOSS_INLINE T log_positive(T x) {
  using C = Consts<T>;
  using Bits = typename C::Bits;
  // Subnormal inputs are scaled into the normal range first.
  const bool tiny = x < C::kMinNormal;
  const T xs = tiny ? x * C::kSubnormalScale : x;
  const T exponent_bias = tiny ? T(C::kSubnormalExponent) : T(0);
  // x = 2^e * m with m in [sqrt(1/2), sqrt(2)): offsetting the bits by (1 - sqrt(1/2))
  // moves the exponent boundary to sqrt(1/2).
  const Bits one = bits_of(T(1));
  const Bits sqrt_half = sizeof(T) == 4 ? Bits(0x3f3504f3u) : Bits(0x3fe6a09e667f3bcdull);
  const Bits u = bits_of(xs) + (one - sqrt_half);
  const Bits exponent_bits = (u >> C::kMantissaBits);
  const Bits mantissa_mask = (Bits(1) << C::kMantissaBits) - 1;
  const T m = from_bits<T>((u & mantissa_mask) + sqrt_half);
  // The exponent as a float: its bits are small non-negative integers, converted with the
  // magic add so no int->float conversion of 64-bit lanes is needed.
  const T e_biased = from_bits<T>(exponent_bits | bits_of(C::kRoundShift)) - C::kRoundShift;
  const T e = e_biased - T(C::kExponentBias) - exponent_bias;
  return log1p_reduced_plus(m - T(1), e);
}

template <class T>
FASTLOSS_INLINE T log_impl(T x) {
  const T result = log_positive(x);
  // Special values: log(+inf) = +inf and NaN stays NaN (first select), log(0) = -inf,
  // log(x < 0) = NaN. Single-comparison selects only: GCC does not vectorize a select on
  // a combined (&&) condition mixed with these.
  const T finite = x < infinity<T>() ? result : x;
  return x > T(0) ? finite : (x == T(0) ? -infinity<T>() : quiet_nan<T>());
}

// log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x rounded and log_u = log(u): the
// second term restores what rounding u lost, so small x keep full relative accuracy.
template <class T>
FASTLOSS_INLINE T log1p_from_rounded(T x, T u, T log_u) {
  return log_u + (x - (u - T(1))) / u;
}

template <class T>
FASTLOSS_INLINE T log1p_impl(T x) {
  const T u = T(1) + x;
  const T result = log1p_from_rounded(x, u, log_impl(u));
  T fixed = x == T(-1) ? -infinity<T>() : result;
  fixed = x == infinity<T>() ? x : fixed;
  return x == T(0) ? x : fixed;  // keeps the sign of zero
}

// log1p(e) for e in [0, 1] (NaN propagates), the tail of log_sigmoid and softplus. 1 + e
// lies in [1, 2], so no exponent needs extracting: e <= sqrt(2) - 1 is already a reduced
// argument, and above it log1p(e) = ln2 + log1p((e - 1) / 2), where (e - 1) / 2 is exact.
// One division and no special cases, against log1p's log, two divisions and selects.
template <class T>
FASTLOSS_INLINE T log1p_unit(T e) {
  const bool upper = e > static_cast<T>(0.41421356237309504880);
  // f = (e - 1) / 2 above, e below, as one multiply-add of selected constants: a select of
  // the two values would let GCC divide twice, once for each.
  const T f = mul_add(e, upper ? T(0.5) : T(1), upper ? T(-0.5) : T(0));
  return log1p_reduced_plus(f, upper ? T(1) : T(0));
}

template <class T>
FASTLOSS_INLINE T expm1_impl(T x) {
  using C = Consts<T>;
  // expm1(x) = 2^k (expm1(r) + 1) - 1 = 2^k expm1(r) + (2^k - 1); exact r for k = 0, so
  // small x keep full relative accuracy. Above kExpm1Hi, expm1(x) rounds to exp(x).
  T xc = x < C::kExpm1Lo ? C::kExpm1Lo : x;
  xc = xc > C::kExpm1Hi ? C::kExpm1Hi : xc;
  const Reduced<T> red = reduce_ln2(xc);
  const T em = expm1_reduced(red.r);
  const T scale = exp2_integer(red.k);
  const T result = scale * em + (scale - T(1));
  const T large = exp_impl(x);
  T fixed = x > C::kExpm1Hi ? large : result;
  return x == T(0) ? x : fixed;  // keeps the sign of zero
}

template <class T>
FASTLOSS_INLINE T abs_of(T x) {
  return x < T(0) ? -x : x;
}

}  // namespace detail

// exp(x). Algorithm: Cody-Waite reduction x = k ln2 + r (|r| <= ln2/2, ln2 split in two),
// 1 + r + r^2 q(r) with q Taylor in Horner form (degree 5 float, 11 double), times 2^k
// built in two normal halves from integer bits, so subnormal results round once.
// Error: 1.5 ULP (measured 1.059 float over every float, 0.960 double). Valid: all x.
//   exp(±0) = 1, exp(subnormal) = 1, exp(-inf) = +0, exp(+inf) = +inf, exp(NaN) = NaN;
//   +inf exactly where the correctly rounded result overflows: x > 0x1.62e42ep+6 = 88.72283
//   (double: x > 0x1.62e42fefa39efp+9 = 709.78271); subnormal results below -87.336544
//   (-708.39642); +0 below about -103.97208 (-745.13322).
FASTLOSS_INLINE float exp(float x) { return detail::exp_impl(x); }
FASTLOSS_INLINE double exp(double x) { return detail::exp_impl(x); }

// exp(x) for x <= 0 (softmax's max-shifted logits), one multiply cheaper than exp: exp
// bitwise down to x = -87.68 (float) / -708.7 (double), where 2^k stops being a normal number,
// and +0 below, where exp's results are subnormal (below 2^-126.5 / 2^-1022.5). Valid: x <= 0.
//   exp_nonpositive(±0) = 1, exp_nonpositive(-inf) = +0, NaN -> NaN.
FASTLOSS_INLINE float exp_nonpositive(float x) { return detail::exp_nonpositive_impl(x); }
FASTLOSS_INLINE double exp_nonpositive(double x) { return detail::exp_nonpositive_impl(x); }

// log(x). Algorithm: x = 2^e m with m in [sqrt(1/2), sqrt(2)) split off the bits (subnormal
// x prescaled by 2^23 / 2^52), log(m) = log1p(f) by fdlibm's s = f / (2 + f) minimax
// polynomial, plus e ln2 in two parts. Error: 1 ULP (measured 0.826 float, 0.788 double).
// Valid: x >= 0 (every subnormal included).
//   log(±0) = -inf, log(1) = +0, log(+inf) = +inf, log(x < 0) = log(-inf) = NaN, NaN -> NaN.
FASTLOSS_INLINE float log(float x) { return detail::log_impl(x); }
FASTLOSS_INLINE double log(double x) { return detail::log_impl(x); }

// log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x: the correction restores what the
// rounding of u lost, so tiny x keep full relative accuracy. Error: 2 ULP (measured 1.431
// float, 1.436 double). Valid: x >= -1.
//   log1p(±0) = ±0, log1p(subnormal) = x, log1p(-1) = -inf, log1p(+inf) = +inf,
//   log1p(x < -1) = log1p(-inf) = NaN, NaN -> NaN.
FASTLOSS_INLINE float log1p(float x) { return detail::log1p_impl(x); }
FASTLOSS_INLINE double log1p(double x) { return detail::log1p_impl(x); }

// log(x) for x in [0, 1] (binary_cross_entropy's probabilities, clamped at -100 after):
// log without the special values outside [0, 1], and at ±0 a finite value below -100 (about
// -104 float, -745 double) rather than -inf. Equal to log bitwise on (0, 1]. Valid: [0, 1]
// only (NaN, negative or above 1: unspecified).
// (-0 + 0 = +0: -0's sign bit would read as a huge exponent.)
FASTLOSS_INLINE float log_unit(float x) { return detail::log_positive(x + 0.0f); }
FASTLOSS_INLINE double log_unit(double x) { return detail::log_positive(x + 0.0); }

// log1p(-x) for x in [0, 1] from log_1mx = log_unit(1 - x) (1 - x rounded as T), with
// log1p's correction for that rounding: lanes that need the log of x and lanes that need
// log1p(-x) share one log. Equal to log1p(-x) bitwise on (0, 1); at 1 log_unit(0) (below
// -100, where log1p gives -inf), at 0 +0 (log1p(-0) = -0). Valid: [0, 1] only.
template <class T>
FASTLOSS_INLINE T log1p_neg_unit(T x, T log_1mx) {
  const T u = T(1) - x;
  const T corrected = detail::log1p_from_rounded(-x, u, log_1mx);
  return u == T(0) ? log_1mx : corrected;
}

// expm1(x) = 2^k expm1(r) + (2^k - 1) after exp's reduction (r exact when k = 0, so tiny x
// keep full relative accuracy); x clamped to [-30, 20] ([-60, 40] double), beyond which the
// result is -1 or exp(x) after rounding. Error: 2.5 ULP (measured 1.712 float, 1.886 double).
// Valid: all x.
//   expm1(±0) = ±0, expm1(subnormal) = x, expm1(-inf) = -1, expm1(+inf) = +inf, NaN -> NaN;
//   overflows to +inf where exp does.
FASTLOSS_INLINE float expm1(float x) { return detail::expm1_impl(x); }
FASTLOSS_INLINE double expm1(double x) { return detail::expm1_impl(x); }

// log_sigmoid(x) = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)) (log1p on [0, 1] only):
// exp never overflows, so finite for every finite x; ≈ x for x -> -inf and ≈ -exp(-x) (full
// relative accuracy) for x -> +inf. Error: 2.5 ULP (measured 1.636 float, 1.606 double).
// Valid: all x.
//   log_sigmoid(-inf) = -inf, log_sigmoid(+inf) = 0, log_sigmoid(-max) = -max (as torch),
//   NaN -> NaN.
template <class T>
FASTLOSS_INLINE T log_sigmoid(T x) {
  const T negative_part = x < T(0) ? x : T(0);
  return negative_part - detail::log1p_unit(exp(-detail::abs_of(x)));
}

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): finite for every finite x.
// (torch's threshold/beta options belong to the loss kernels.) Error: 2 ULP (measured 1.647
// float, 1.594 double). Valid: all x.
//   softplus(-inf) = 0, softplus(+inf) = +inf, softplus(max) = max, NaN -> NaN.
template <class T>
FASTLOSS_INLINE T softplus(T x) {
  const T positive_part = x > T(0) ? x : T(0);
  return positive_part + detail::log1p_unit(exp(-detail::abs_of(x)));
}

// sigmoid(x) = 1 / (1 + exp(-x)) through e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0,
// e / (1 + e) below (one division either way), so neither side overflows or loses relative
// accuracy (subnormal results for x < -87.3 / -708.4). Error: 2.5 ULP (measured 2.008
// float, 2.052 double). Valid: all x.
//   sigmoid(±0) = 0.5, sigmoid(-inf) = 0, sigmoid(+inf) = 1, NaN -> NaN.
template <class T>
FASTLOSS_INLINE T sigmoid(T x) {
  const T e = exp(-detail::abs_of(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

// sigmoid and log_sigmoid of x and of -x together, from one exp and one log1p (they share
// exp(-|x|)): bit for bit the values of the four calls, so with their contracts. For losses
// that need both signs (multilabel soft margin).
template <class T>
struct SignedPair {
  T of_x;
  T of_minus_x;
};
template <class T>
FASTLOSS_INLINE SignedPair<T> log_sigmoid_pair(T x) {
  const T tail = detail::log1p_unit(exp(-detail::abs_of(x)));
  const T minus_x = -x;
  return {(x < T(0) ? x : T(0)) - tail, (minus_x < T(0) ? minus_x : T(0)) - tail};
}
template <class T>
FASTLOSS_INLINE SignedPair<T> sigmoid_pair(T x) {
  const T e = exp(-detail::abs_of(x));
  const T denominator = T(1) + e;
  return {(x >= T(0) ? T(1) : e) / denominator, (-x >= T(0) ? T(1) : e) / denominator};
}

}  // namespace math
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
