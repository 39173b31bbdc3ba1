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
// Included only by per-target kernel sources: lives in fastloss::FASTLOSS_TARGET_NS::half.
#pragma once

#include <cstdint>

#include "kernels/math.hpp"

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

}  // namespace half
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
