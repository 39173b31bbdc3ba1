// The half-precision family on one target: blocks of float16 or bfloat16 converted to and
// from float32 (kernels/half.hpp), for the element engine's operands and results stored as
// half. Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/families.hpp"
#include "kernels/half.hpp"

#ifdef __AVX512F__
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

#ifdef __AVX512F__
// float16 on AVX-512: its conversion instructions (vcvtph2ps; vcvtps2ph rounding to nearest
// even), 16 lanes an instruction where the integer path takes about twenty. They keep
// half.hpp's contract, NaN and overflow included (the per-target tests check every pattern);
// the remainder takes the portable path. (The zero-masked forms, all lanes on: GCC 12 warns that
// the plain ones' undefined pass-through may be used uninitialized.)
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
#endif

}  // namespace

#ifdef __AVX512F__
const kernel_abi::HalfKernelFamily half_kernels = {{&widen_float16, &narrow_float16},
                                                   {&widen<&half::bfloat16_to_float>, &narrow<&half::float_to_bfloat16>}};
#else
const kernel_abi::HalfKernelFamily half_kernels = {
    {&widen<&half::float16_to_float>, &narrow<&half::float_to_float16>},
    {&widen<&half::bfloat16_to_float>, &narrow<&half::float_to_bfloat16>}};
#endif

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
