// float16 (IEEE binary16) and bfloat16 <-> float32, one element at a time, branch-free (only
// selects) and in integer arithmetic, so that `#pragma omp simd` loops over them vectorize on
// every target.
//
// Contract (tests/cpp/test_half.cc checks all 65536 patterns of each type on every target):
// - half -> float32 is exact for every value, ±0, subnormals and ±inf included. A NaN gives a
//   quiet NaN of the same sign whose payload is the half's (shifted into place), with the
//   quiet bit set.
// - float32 -> half rounds to nearest, ties to even (as IEEE's default and NumPy's astype);
//   values beyond the largest finite half round to ±inf as IEEE overflow does; float16's
//   subnormals are produced exactly (gradual underflow). A NaN gives a quiet NaN of the same
//   sign keeping the payload's leading bits (never rounded into infinity).
// So every non-NaN pattern round-trips exactly and a NaN round-trips to itself quieted.
//
// Blocks of n elements (widen, narrow) take the conversion instructions where the target has
// them (vcvtph2ps/vcvtps2ph for float16 on AVX-512 and F16C), which keep the same contract,
// and the element functions elsewhere. The half-precision family (half_kernels.cc) and the
// elementwise driver's half tiles (elementwise_driver.hpp) both convert through them.
//
// Included only by per-target kernel sources: lives in fastloss::FASTLOSS_TARGET_NS::half.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"
#include "kernels/math.hpp"

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace half {

FASTLOSS_INLINE float float16_to_float(uint16_t h) {
  const uint32_t magnitude = h & 0x7fffu;
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t shifted = magnitude << 13;
  // Normal: rebias the exponent by 127 - 15. Subnormal (and zero): magnitude * 2^-24, exact
  // in float32. Infinity and NaN: exponent all ones, NaN quieted.
  const uint32_t normal = shifted + (112u << 23);
  const uint32_t subnormal = math::detail::bits_of(static_cast<float>(static_cast<int32_t>(magnitude)) * 0x1p-24f);
  const uint32_t special = shifted | 0x7f800000u | (magnitude > 0x7c00u ? 0x00400000u : 0u);
  const uint32_t bits = magnitude >= 0x7c00u ? special : (magnitude < 0x0400u ? subnormal : normal);
  return math::detail::float_from_bits(bits | sign);
}

FASTLOSS_INLINE uint16_t float_to_float16(float f) {
  const uint32_t u = math::detail::bits_of(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t magnitude = u & 0x7fffffffu;
  // Below 2^-14 (float16's subnormals and zero): adding 0.5 puts the value's multiples of
  // 2^-24 in the low mantissa bits, rounded to nearest even by the float addition itself.
  const float abs_f = math::detail::float_from_bits(magnitude);
  const uint32_t subnormal = math::detail::bits_of(abs_f + 0.5f) - math::detail::bits_of(0.5f);
  // Normal: rebias, then round the 13 dropped bits to nearest even; a carry out of the
  // mantissa bumps the exponent, up to infinity (0x7c00) past 65520.
  const uint32_t odd = (magnitude >> 13) & 1u;
  const uint32_t normal = (magnitude + 0xc8000fffu + odd) >> 13;  // 0xc8000000 = (15 - 127) << 23
  // At or above 2^16 every value is infinity; NaN keeps its leading payload bits, quieted.
  const uint32_t nan = 0x7e00u | ((magnitude >> 13) & 0x03ffu);
  const uint32_t big = magnitude > 0x7f800000u ? nan : 0x7c00u;
  const uint32_t bits = magnitude >= 0x47800000u ? big : (magnitude < 0x38800000u ? subnormal : normal);
  return static_cast<uint16_t>(bits | sign);
}

FASTLOSS_INLINE float bfloat16_to_float(uint16_t h) {
  // bfloat16 is float32's upper half: exact by a shift; a NaN is quieted.
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  const uint32_t quiet = (u & 0x7fffffffu) > 0x7f800000u ? 0x00400000u : 0u;
  return math::detail::float_from_bits(u | quiet);
}

FASTLOSS_INLINE uint16_t float_to_bfloat16(float f) {
  const uint32_t u = math::detail::bits_of(f);
  // Round the dropped 16 bits to nearest even; a carry reaches infinity past the largest finite.
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

template <float (*F)(uint16_t)>
FASTLOSS_INLINE void widen_each(const uint16_t* in, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

template <uint16_t (*F)(float)>
FASTLOSS_INLINE void narrow_each(const float* in, uint16_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

// float16 blocks: the conversion instructions, a vector an instruction where the integer path
// takes about twenty; the remainder takes the element functions. (AVX-512's zero-masked
// forms, all lanes on: GCC 12 warns that the plain ones' undefined pass-through may be used
// uninitialized.)
FASTLOSS_INLINE void widen_float16(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
#endif
  widen_each<&float16_to_float>(in + i, out + i, n - i);
}

FASTLOSS_INLINE void narrow_float16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_maskz_cvtps_ph(0xffff, _mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
#endif
  narrow_each<&float_to_float16>(in + i, out + i, n - i);
}

// n elements stored as `stored` (kFloat16 or kBFloat16) to float32, exactly.
FASTLOSS_INLINE void widen(LabelDType stored, const uint16_t* in, float* out, int64_t n) {
  if (stored == LabelDType::kFloat16)
    widen_float16(in, out, n);
  else
    widen_each<&bfloat16_to_float>(in, out, n);
}

// n floats rounded to `stored` (kFloat16 or kBFloat16), to nearest even.
FASTLOSS_INLINE void narrow(LabelDType stored, const float* in, uint16_t* out, int64_t n) {
  if (stored == LabelDType::kFloat16)
    narrow_float16(in, out, n);
  else
    narrow_each<&float_to_bfloat16>(in, out, n);
}

}  // namespace half
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
