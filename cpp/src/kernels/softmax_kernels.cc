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

template <class T>
FASTLOSS_INLINE T negative_infinity() {
  return -static_cast<T>(__builtin_inf());
}

// Terms per partial sum of exp_sum: few enough per SIMD lane (16 to 64) that a float32
// partial stays within a few 1e-7 relative, many enough that the float64 adds are rare.
constexpr int64_t kExpSumBlock = 256;

// sum_i exp(x_i - shift), also stored to out when kStore (out may be x: each element is
// read before it is written). Partial sums run in T (full-width vectors, no conversions in
// the loop) over blocks of kExpSumBlock and are added in float64.
template <class T, bool kStore>
FASTLOSS_INLINE double exp_sum(const T* x, int64_t len, T shift, T* out) {
  double total = 0.0;
  for (int64_t b = 0; b < len; b += kExpSumBlock) {
    const int64_t m = len - b < kExpSumBlock ? len - b : kExpSumBlock;
    const T* xb = x + b;
    T partial = T(0);
    if constexpr (kStore) {
      T* ob = out + b;
#pragma omp simd reduction(+ : partial)
      for (int64_t i = 0; i < m; ++i) {
        const T e = math::exp(xb[i] - shift);
        ob[i] = e;
        partial += e;
      }
    } else {
      (void)out;
#pragma omp simd reduction(+ : partial)
      for (int64_t i = 0; i < m; ++i) partial += math::exp(xb[i] - shift);
    }
    total += static_cast<double>(partial);
  }
  return total;
}

// Online log-sum-exp at chunk granularity: each chunk is summed as exp(x - chunk max) and
// merged into the running sum with one scalar exp (instead of the two exps per element of
// an element-wise online softmax). kStore also keeps every exp(x - chunk max) and the chunk
// maxima, so a gradient needs no second exp per element. Chunk sums combine in float64.
template <class T, bool kStore>
LogSumExp chunked_log_sum_exp(const T* x, int64_t n, T* out, double* chunk_max) {
  const double ninf = -__builtin_inf();
  double max = ninf;
  double sum = 0.0;
  for (int64_t k = 0, start = 0; start < n; ++k, start += kernel_abi::kLogSumExpChunk) {
    const int64_t len = n - start < kernel_abi::kLogSumExpChunk ? n - start : kernel_abi::kLogSumExpChunk;
    const T* chunk = x + start;
    T cmax = negative_infinity<T>();
#pragma omp simd reduction(max : cmax)
    for (int64_t i = 0; i < len; ++i) cmax = chunk[i] > cmax ? chunk[i] : cmax;
    // A chunk of -inf only (a masked range of the vocabulary) adds exp(x - 0) = 0 instead of
    // exp(-inf - -inf) = NaN. A NaN never raises the maximum but reaches the sum as exp(NaN);
    // +inf gives exp(inf - inf) = NaN: both rows end NaN, as torch.
    const T shift = cmax == negative_infinity<T>() ? T(0) : cmax;
    if constexpr (kStore) chunk_max[k] = static_cast<double>(cmax);
    const double csum = exp_sum<T, kStore>(chunk, len, shift, kStore ? out + start : nullptr);
    if (csum == 0.0) continue;
    const double cm = static_cast<double>(cmax);
    if (max == ninf) {  // the first chunk with a term: nothing to rescale (and one exp saved per short row)
      sum = csum;
      max = cm;
    } else if (cm > max) {
      sum = sum * math::exp(max - cm) + csum;
      max = cm;
    } else {
      sum += csum * math::exp(cm - max);
    }
  }
  // Every chunk -inf: the row is all -inf and its softmax NaN, as torch.
  if (max == ninf) return LogSumExp{max, __builtin_nan("")};
  return LogSumExp{max, math::log(sum)};
}

template <class T>
LogSumExp log_sum_exp(const T* x, int64_t n) {
  return chunked_log_sum_exp<T, false>(x, n, nullptr, nullptr);
}

template <class T>
LogSumExp exp_row(const T* x, int64_t n, T* out, double* chunk_max) {
  return chunked_log_sum_exp<T, true>(x, n, out, chunk_max);
}

template <class T>
void log_softmax(const T* x, int64_t n, const LogSumExp& lse, T* out) {
  const T max = static_cast<T>(lse.max);
  const T log_sum = static_cast<T>(lse.log_sum);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - max) - log_sum;
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

// p_c = exp(x_c - M_k) exp(M_k - lse): one scalar exp per chunk. An all -inf chunk has
// M_k = -inf and factor 0.
template <class T, bool kWeighted>
void exp_row_to_grad(T* out, int64_t n, const LogSumExp& lse, const double* chunk_max, const T* w,
                     T beta, double p_scale, T v_scale) {
  for (int64_t k = 0, start = 0; start < n; ++k, start += kernel_abi::kLogSumExpChunk) {
    const int64_t len = n - start < kernel_abi::kLogSumExpChunk ? n - start : kernel_abi::kLogSumExpChunk;
    const T factor = static_cast<T>(p_scale * math::exp((chunk_max[k] - lse.max) - lse.log_sum));
    T* dst = out + start;
    const T* wk = kWeighted ? w + start : w;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i)
      dst[i] = dst[i] * factor - v_scale * soft_weight<T, false, kWeighted>(nullptr, wk, i, T(0), beta);
  }
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

  static void to_grad(T* out, int64_t n, const LogSumExp& lse, const double* chunk_max,
                      const SoftTarget& v, double p_scale, double v_scale) {
    const T* w = static_cast<const T*>(v.w);
    const T beta = static_cast<T>(v.beta);
    if (w != nullptr && v.beta != 0.0)
      exp_row_to_grad<T, true>(out, n, lse, chunk_max, w, beta, p_scale, static_cast<T>(v_scale));
    else
      exp_row_to_grad<T, false>(out, n, lse, chunk_max, w, beta, p_scale, static_cast<T>(v_scale));
  }

  static constexpr kernel_abi::SoftmaxRowKernel<T> kernel() {
    return kernel_abi::SoftmaxRowKernel<T>{&log_sum_exp<T>, &exp_row<T>, &to_grad, &log_softmax<T>, &mass, &row};
  }
};

}  // namespace

extern const kernel_abi::SoftmaxKernels softmax_kernels;
const kernel_abi::SoftmaxKernels softmax_kernels = {Rows<float>::kernel(), Rows<double>::kernel()};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
