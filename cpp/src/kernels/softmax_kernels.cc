// Row kernels of the softmax / cross-entropy family, compiled once per SIMD target
// (FASTLOSS_TARGET_NS). Each works on one contiguous row of classes; the dispatcher
// (cross_entropy.cc) handles layouts, targets, reductions and threads.
#include "fastloss/math.hpp"
#include "kernels/softmax_abi.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using kernel_abi::LogSumExp;
using kernel_abi::RowGrad;
using kernel_abi::SoftTarget;

// Elements per step of the online log-sum-exp: a chunk (8 KiB of float32) stays in L1
// between its max pass and its exp-sum pass, so the row is read from memory once.
constexpr int64_t kLseChunk = 2048;

template <class T>
FASTLOSS_INLINE T negative_infinity() {
  return -static_cast<T>(__builtin_inf());
}

// Online log-sum-exp at chunk granularity: the running sum is rescaled by
// exp(old_max - new_max) whenever a chunk raises the maximum (one scalar exp per chunk,
// instead of the two exps per element of an element-wise online softmax). Sums are float64.
template <class T>
LogSumExp log_sum_exp(const T* x, int64_t n) {
  T max = negative_infinity<T>();
  double sum = 0.0;
  for (int64_t start = 0; start < n; start += kLseChunk) {
    const int64_t len = n - start < kLseChunk ? n - start : kLseChunk;
    const T* chunk = x + start;
    T chunk_max = negative_infinity<T>();
#pragma omp simd reduction(max : chunk_max)
    for (int64_t i = 0; i < len; ++i) chunk_max = chunk[i] > chunk_max ? chunk[i] : chunk_max;
    // A NaN never raises the maximum; it reaches the sum below as exp(NaN) and makes the
    // result NaN. An all -inf row keeps max = -inf and sums exp(-inf - -inf) = NaN, as torch.
    if (chunk_max > max) {
      sum *= math::exp(static_cast<double>(max) - static_cast<double>(chunk_max));
      max = chunk_max;
    }
    double chunk_sum = 0.0;
#pragma omp simd reduction(+ : chunk_sum)
    for (int64_t i = 0; i < len; ++i) chunk_sum += static_cast<double>(math::exp(chunk[i] - max));
    sum += chunk_sum;
  }
  return LogSumExp{static_cast<double>(max), math::log(sum)};
}

template <class T>
void softmax(const T* x, int64_t n, const LogSumExp& lse, bool log, T* out) {
  const T max = static_cast<T>(lse.max);
  const T log_sum = static_cast<T>(lse.log_sum);
  if (log) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - max) - log_sum;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = math::exp((x[i] - max) - log_sum);
  }
}

// v_c of SoftTarget, with the absent operands compiled out.
template <class T, bool kHasY, bool kWeighted>
FASTLOSS_INLINE T soft_weight(const T* y, const T* w, int64_t i, T alpha, T beta) {
  T v = beta;
  if constexpr (kHasY) v = alpha * y[i] + beta;
  if constexpr (kWeighted) v *= w[i];
  (void)y;
  (void)w;
  (void)alpha;
  return v;
}

template <class T, bool kHasY, bool kWeighted>
double target_mass(const T* y, const T* w, int64_t n, T alpha, T beta) {
  double mass = 0.0;
#pragma omp simd reduction(+ : mass)
  for (int64_t i = 0; i < n; ++i)
    mass += static_cast<double>(soft_weight<T, kHasY, kWeighted>(y, w, i, alpha, beta));
  return mass;
}

template <class T, bool kHasY, bool kWeighted, bool kLoss, bool kGrad>
double cross_entropy_row(const T* x, int64_t n, T max, T log_sum, const T* y, const T* w, T alpha,
                         T beta, T p_scale, T v_scale, T* out) {
  double loss = 0.0;
  // out may be x: every iteration reads x[i] before writing out[i].
#pragma omp simd reduction(+ : loss)
  for (int64_t i = 0; i < n; ++i) {
    const T log_p = (x[i] - max) - log_sum;
    const T v = soft_weight<T, kHasY, kWeighted>(y, w, i, alpha, beta);
    if constexpr (kLoss) loss -= static_cast<double>(v * log_p);
    if constexpr (kGrad) out[i] = p_scale * math::exp(log_p) - v_scale * v;
  }
  return loss;
}

// Picks the instantiation for the operands present, so the row loop carries no branches.
template <class T>
struct Rows {
  template <bool kHasY, bool kWeighted>
  static double mass_of(const SoftTarget& v, int64_t n) {
    return target_mass<T, kHasY, kWeighted>(static_cast<const T*>(v.y), static_cast<const T*>(v.w),
                                            n, static_cast<T>(v.alpha), static_cast<T>(v.beta));
  }

  static double mass(const SoftTarget& v, int64_t n) {
    if (v.y != nullptr) return v.w != nullptr ? mass_of<true, true>(v, n) : mass_of<true, false>(v, n);
    return v.w != nullptr ? mass_of<false, true>(v, n) : mass_of<false, false>(v, n);
  }

  template <bool kHasY, bool kWeighted, bool kLoss, bool kGrad>
  static double row_of(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v,
                       const RowGrad& g) {
    return cross_entropy_row<T, kHasY, kWeighted, kLoss, kGrad>(
        x, n, static_cast<T>(lse.max), static_cast<T>(lse.log_sum), static_cast<const T*>(v.y), static_cast<const T*>(v.w),
        static_cast<T>(v.alpha), static_cast<T>(v.beta), static_cast<T>(g.p_scale),
        static_cast<T>(g.v_scale), static_cast<T*>(g.out));
  }

  template <bool kHasY, bool kWeighted>
  static double row_with(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v, bool want_loss,
                         const RowGrad& g) {
    if (g.out != nullptr) {
      return want_loss ? row_of<kHasY, kWeighted, true, true>(x, n, lse, v, g)
                       : row_of<kHasY, kWeighted, false, true>(x, n, lse, v, g);
    }
    return want_loss ? row_of<kHasY, kWeighted, true, false>(x, n, lse, v, g) : 0.0;
  }

  static double row(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v, bool want_loss,
                    const RowGrad& g) {
    // Without y and with beta = 0 every v_c is 0: the weights need not be read.
    const bool weighted = v.w != nullptr && (v.y != nullptr || v.beta != 0.0);
    if (v.y != nullptr)
      return weighted ? row_with<true, true>(x, n, lse, v, want_loss, g)
                      : row_with<true, false>(x, n, lse, v, want_loss, g);
    return weighted ? row_with<false, true>(x, n, lse, v, want_loss, g)
                    : row_with<false, false>(x, n, lse, v, want_loss, g);
  }

  static constexpr kernel_abi::SoftmaxRowKernel<T> kernel() {
    return kernel_abi::SoftmaxRowKernel<T>{&log_sum_exp<T>, &softmax<T>, &mass, &row};
  }
};

}  // namespace

extern const kernel_abi::SoftmaxKernels softmax_kernels;
const kernel_abi::SoftmaxKernels softmax_kernels = {Rows<float>::kernel(), Rows<double>::kernel()};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
