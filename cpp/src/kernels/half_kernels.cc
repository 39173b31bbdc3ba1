// The half-precision family on one target: blocks of float16 or bfloat16 converted to and
// from float32 (kernels/half.hpp), for the element engine's operands and results stored as
// half. Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/families.hpp"
#include "kernels/half.hpp"

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

template <float (*F)(uint16_t)>
void widen(const uint16_t* in, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

template <uint16_t (*F)(float)>
void narrow(const float* in, uint16_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

#if defined(__AVX512F__)
// float16 on AVX-512 and (F16C) AVX2: the conversion instructions (vcvtph2ps; vcvtps2ph
// rounding to nearest even), a vector an instruction where the integer path takes about
// twenty. They keep half.hpp's contract, NaN and overflow included (the per-target tests
// check every pattern); the remainder takes the portable path. (AVX-512's zero-masked forms,
// all lanes on: GCC 12 warns that the plain ones' undefined pass-through may be used
// uninitialized.)
void widen_float16(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  widen<&half::float16_to_float>(in + i, out + i, n - i);
}

void narrow_float16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_maskz_cvtps_ph(0xffff, _mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  narrow<&half::float_to_float16>(in + i, out + i, n - i);
}
#elif defined(__F16C__)
void widen_float16(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  widen<&half::float16_to_float>(in + i, out + i, n - i);
}

void narrow_float16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  narrow<&half::float_to_float16>(in + i, out + i, n - i);
}
#endif

}  // namespace

#if defined(__AVX512F__) || defined(__F16C__)
const kernel_abi::HalfKernelFamily half_kernels = {{&widen_float16, &narrow_float16},
                                                   {&widen<&half::bfloat16_to_float>, &narrow<&half::float_to_bfloat16>}};
#else
const kernel_abi::HalfKernelFamily half_kernels = {
    {&widen<&half::float16_to_float>, &narrow<&half::float_to_float16>},
    {&widen<&half::bfloat16_to_float>, &narrow<&half::float_to_bfloat16>}};
#endif

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
