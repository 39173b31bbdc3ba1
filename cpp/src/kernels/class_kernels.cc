// The class losses (nll_loss, cross_entropy, softmax_focal_loss) and softmax / log_softmax
// (and their gradients) over blocks of rows of classes, compiled once per SIMD target (FASTLOSS_TARGET_NS). The
// row engine (engine/rows.hpp) hands each block over as contiguous rows; class_losses.cc
// handles targets' validation, reductions and options.
#include "fastloss/portability.hpp"

#ifdef FASTLOSS_HAVE_SSE2
#include <emmintrin.h>
#endif

#include "kernels/families.hpp"
#include "kernels/half.hpp"
#include "kernels/lanes.hpp"
#include "kernels/loss_helpers.hpp"
#include "kernels/math.hpp"
#include "kernels/row_tile.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using kernel_abi::ClassOptions;
using kernel_abi::DeferredRows;
using kernel_abi::RowBlock;

// One row of in[0] as stored in half precision, widened into its tile by whoever reads it
// first (kernel_abi::DeferredRows); stored == null: the row holds T already.
template <class T>
struct DeferredRow {
  const uint16_t* stored;
  T* tile;
  LabelDType type;
};

// Half-precision rows come with float32 calls only.
FASTLOSS_INLINE void widen_into(LabelDType type, const uint16_t* stored, float* tile, int64_t n) {
  half::widen(type, stored, tile, n);
}
FASTLOSS_INLINE void widen_into(LabelDType, const uint16_t*, double*, int64_t) {}

template <class T>
FASTLOSS_INLINE DeferredRow<T> deferred_row(const RowBlock<T>& b, int64_t r) {
  const DeferredRows<T>& d = b.deferred;
  return d.stored == nullptr ? DeferredRow<T>{nullptr, nullptr, d.type}
                             : DeferredRow<T>{d.stored[r], d.tile[r], d.type};
}

// Widens every deferred row of the block at once: for the paths that read rows other than
// through chunked_log_sum_exp (small-class tiles, nll_loss, softmax's tiles).
template <class T>
void widen_rows(const RowBlock<T>& b) {
  if (b.deferred.stored == nullptr) return;
  for (int64_t r = 0; r < b.rows; ++r) widen_into(b.deferred.type, b.deferred.stored[r], b.deferred.tile[r], b.length);
}

// log(sum_c exp(x_c)) = max + log_sum, kept in two parts: log p_c = (x_c - max) - log_sum
// stays exact for huge logits (1e30 + log 3 would round to 1e30).
struct LogSumExp {
  double max;
  double log_sum;
};

// The soft-target weights of one row: v_c = w_c * (alpha * y_c + beta), with y_c = 0 when
// y is null and w_c = 1 when w is null. One form covers probability targets
// (alpha = 1 - smoothing, beta = smoothing / C) and the smoothing term of class-index
// targets (y null, beta = smoothing / C).
struct SoftTarget {
  const void* y;
  const void* w;
  double alpha;
  double beta;
};

// A gradient row: out_c = p_scale * p_c - v_scale * v_c (out null: no gradient).
struct RowGrad {
  void* out;
  double p_scale;
  double v_scale;
};

template <class T>
FASTLOSS_INLINE T negative_infinity() {
  return -static_cast<T>(FASTLOSS_INFINITY);
}

// Terms per partial sum of exp_sum: few enough per SIMD lane (16 to 64) that a float32
// partial stays within a few 1e-7 relative, many enough that the float64 adds are rare.
constexpr int64_t kExpSumBlock = 256;

// sum_i exp(x_i - shift), also stored to out when kStore (out may be x: each element is
// read before it is written). Partial sums run in T (full-width vectors, no conversions in
// the loop) over blocks of kExpSumBlock and are added in float64. They are omp simd
// reductions, not lane_sum: its lanes' merge cost 8-11% at 67 classes (AVX2); that
// log_sum_exp and exp_row still agree bit for bit is tested on every target. With `ahead`
// (the next chunk of a deferred half row, ahead_bytes long) each block also prefetches its
// share of it, two bytes an element: the next widening then finds its data arrived while
// this chunk's exps ran (8-11% off bfloat16 cross_entropy at 8192x32000 on AVX-512, 2 threads).
template <class T, bool kStore>
FASTLOSS_INLINE double exp_sum(const T* x, int64_t len, T shift, T* out, const char* ahead = nullptr,
                               int64_t ahead_bytes = 0) {
  double total = 0.0;
  for (int64_t b = 0; b < len; b += kExpSumBlock) {
    const int64_t m = len - b < kExpSumBlock ? len - b : kExpSumBlock;
    for (int64_t at = 2 * b; ahead != nullptr && at < 2 * (b + m) && at < ahead_bytes; at += 64)
      FASTLOSS_PREFETCH_L2(ahead + at);
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
// A deferred row (x == its tile) is widened a chunk at a time just before the chunk is read.
template <class T, bool kStore>
LogSumExp chunked_log_sum_exp(const T* x, int64_t n, T* out, double* chunk_max, const DeferredRow<T>& deferred) {
  const double ninf = -FASTLOSS_INFINITY;
  double max = ninf;
  double sum = 0.0;
  for (int64_t k = 0, start = 0; start < n; ++k, start += kernel_abi::kLogSumExpChunk) {
    const int64_t len = n - start < kernel_abi::kLogSumExpChunk ? n - start : kernel_abi::kLogSumExpChunk;
    if (deferred.stored != nullptr) widen_into(deferred.type, deferred.stored + start, deferred.tile + start, len);
    const T* chunk = x + start;
    const T cmax = lane_max(len, negative_infinity<T>(), [chunk](int64_t i) { return chunk[i]; });
    // A chunk of -inf only (a masked range of the vocabulary) adds exp(x - 0) = 0 instead of
    // exp(-inf - -inf) = NaN. A NaN never raises the maximum but reaches the sum as exp(NaN);
    // +inf gives exp(inf - inf) = NaN: both rows end NaN, as torch.
    const T shift = cmax == negative_infinity<T>() ? T(0) : cmax;
    if constexpr (kStore) chunk_max[k] = static_cast<double>(cmax);
    const int64_t next = start + kernel_abi::kLogSumExpChunk;
    const int64_t next_len = n - next < kernel_abi::kLogSumExpChunk ? n - next : kernel_abi::kLogSumExpChunk;
    const bool prefetch = deferred.stored != nullptr && next_len > 0;
    const double csum =
        exp_sum<T, kStore>(chunk, len, shift, kStore ? out + start : nullptr,
                           prefetch ? reinterpret_cast<const char*>(deferred.stored + next) : nullptr,
                           prefetch ? 2 * next_len : 0);
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

// The row's log-sum-exp by an online max and sum over cache-sized chunks: one read of x.
// NaN for rows that are all -inf or contain +inf or NaN, as torch.
template <class T>
LogSumExp log_sum_exp(const T* x, int64_t n, const DeferredRow<T>& deferred = {}) {
  return chunked_log_sum_exp<T, false>(x, n, nullptr, nullptr, deferred);
}

// The same log-sum-exp (bit for bit), also writing out_c = exp(x_c - M_k), M_k the max of
// chunk k (class_scratch_doubles(n) of them, written to chunk_max). out may be x.
template <class T>
LogSumExp exp_row(const T* x, int64_t n, T* out, double* chunk_max, const DeferredRow<T>& deferred = {}) {
  return chunked_log_sum_exp<T, true>(x, n, out, chunk_max, deferred);
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
  // out may be x: every element reads x[i] before writing out[i].
  const auto element = [=](int64_t i) FASTLOSS_LAMBDA_INLINE {
    const T log_p = (x[i] - max) - log_sum;
    const T v = soft_weight<T, kHasY, kWeighted>(y, w, i, alpha, beta);
    if constexpr (kGrad) out[i] = p_scale * math::exp(log_p) - v_scale * v;
    return -static_cast<double>(v * log_p);
  };
  if constexpr (kLoss) return lane_sum<double>(n, element);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) element(i);
  return 0.0;
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

// Picks the instantiation for the operands present, so the row loops carry no branches.
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
  static double row_of(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v, const RowGrad& g) {
    return cross_entropy_row<T, kHasY, kWeighted, kLoss, kGrad>(
        x, n, static_cast<T>(lse.max), static_cast<T>(lse.log_sum), static_cast<const T*>(v.y),
        static_cast<const T*>(v.w), static_cast<T>(v.alpha), static_cast<T>(v.beta), static_cast<T>(g.p_scale),
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

  // sum_c v_c (-log p_c) when want_loss (else 0), and the gradient row when g.out is set;
  // g.out may be x.
  static double cross_entropy(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v, bool want_loss,
                              const RowGrad& g) {
    // Without y and with beta = 0 every v_c is 0: the weights need not be read.
    const bool weighted = v.w != nullptr && (v.y != nullptr || v.beta != 0.0);
    if (v.y != nullptr)
      return weighted ? row_with<true, true>(x, n, lse, v, want_loss, g)
                      : row_with<true, false>(x, n, lse, v, want_loss, g);
    return weighted ? row_with<false, true>(x, n, lse, v, want_loss, g)
                    : row_with<false, false>(x, n, lse, v, want_loss, g);
  }

  // Turns exp_row's output into a gradient without another exp per element:
  // out_c = p_scale * p_c - v_scale * v_c (v.y must be null).
  static void to_grad(T* out, int64_t n, const LogSumExp& lse, const double* chunk_max, const SoftTarget& v,
                      double p_scale, double v_scale) {
    const T* w = static_cast<const T*>(v.w);
    const T beta = static_cast<T>(v.beta);
    if (w != nullptr && v.beta != 0.0)
      exp_row_to_grad<T, true>(out, n, lse, chunk_max, w, beta, p_scale, static_cast<T>(v_scale));
    else
      exp_row_to_grad<T, false>(out, n, lse, chunk_max, w, beta, p_scale, static_cast<T>(v_scale));
  }
};

// Rows at least this long are written with streaming stores where the CPU has them.
constexpr int64_t kStreamingRowBytes = 1024;

// Writes `row` as zeros but `value` at t (t outside [0, n): zeros only). A long row is written
// with streaming stores on x86: nll_loss's gradient is mostly zeros that the caller reads
// much later, and streaming skips the read-for-ownership of every line, so the gradient's
// bytes cross the memory bus once instead of twice. The caller fences (stream_fence) after
// its rows, before another thread may read them.
template <class T>
void write_one_hot_row(T* row, int64_t n, int64_t t, T value) {
  int64_t c = 0;
#ifdef FASTLOSS_HAVE_SSE2
  const auto address = reinterpret_cast<uintptr_t>(row);
  if (n * static_cast<int64_t>(sizeof(T)) >= kStreamingRowBytes && address % sizeof(T) == 0) {
    constexpr int64_t kLanes = 16 / static_cast<int64_t>(sizeof(T));
    const int64_t misalignment = static_cast<int64_t>((16 - address % 16) % 16 / sizeof(T));
    const int64_t head = misalignment < n ? misalignment : n;
    for (; c < head; ++c) row[c] = c == t ? value : T(0);
    const int64_t body_end = c + (n - c) / kLanes * kLanes;
    // The one vector holding t, if the aligned body has it.
    const int64_t t_vector = t >= c && t < body_end ? c + (t - c) / kLanes * kLanes : -1;
    alignas(16) T lanes[kLanes] = {};
    if (t_vector >= 0) lanes[t - t_vector] = value;
    const __m128i with_value = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes));
    const __m128i zero = _mm_setzero_si128();
    for (; c < body_end; c += kLanes)
      _mm_stream_si128(reinterpret_cast<__m128i*>(row + c), c == t_vector ? with_value : zero);
  }
#endif
  for (; c < n; ++c) row[c] = c == t ? value : T(0);
}

// Orders this thread's streaming stores before whatever follows (a no-op without them).
inline void stream_fence() {
#ifdef FASTLOSS_HAVE_SSE2
  _mm_sfence();
#endif
}

// softmax_focal_loss's factors: loss = A (1 - p)^gamma (-log p), A = w_t alpha_t, p = p_t,
// G = d loss / d log p_t = A (gamma (1 - p)^(gamma - 1) p log p - (1 - p)^gamma) (slope) and,
// for the Hessian, H = d G / d log p_t (curvature) with q = 1 - p:
// A gamma p q^(gamma - 1) [(2 + log p) - (gamma - 1) p log(p) / q].
struct FocalTerms {
  double loss;
  double slope;
  double curvature;
};

// 1 - p is -expm1(log p), exact for p near 1; the (1 - p)^(gamma - 1) term is 0 at gamma = 0
// and at p = 1 (its limit), so gamma = 0 and alpha = 1 give cross_entropy bit for bit.
// H multiplies (1 - p_t)^2 or p_j^2 <= q^2 in the Hessian, so where q = 0 (and where p = 0)
// the product's limit is 0 and so is the curvature. q is otherwise at least about 2^-53
// (log p_t comes from a log-sum-exp whose sum is >= 1), so q^(gamma - 1) stays finite. (The
// slope is NaN where log p_t = -inf, as torch's autograd of the definition: a margin near the
// float64 range's ends.) The curvature costs no transcendental function of its own.
// Branch-free (selects only), so that the small-class tiles run it across rows: where gamma
// = 0 or q = 0 the other terms are computed and discarded.
FASTLOSS_INLINE FocalTerms focal_terms(double nll, double amplitude, double gamma) {
  const double log_p = -nll;
  const double one_minus_p = -math::expm1(log_p);
  const double log_q = math::log(one_minus_p);
  // exp before the select: with the call in the select's arm GCC left the rows' loop scalar.
  const double powered = math::exp(gamma * log_q);  // q^gamma
  const double modulation = gamma == 0.0 ? 1.0 : powered;
  const double power = math::exp((gamma - 1.0) * log_q);  // q^(gamma - 1)
  const double p = math::exp(log_p);
  const double slope = gamma * power * p * log_p;
  const double curvature =
      p == 0.0 ? 0.0 : amplitude * gamma * p * power * ((2.0 + log_p) - (gamma - 1.0) * p * (log_p / one_minus_p));
  // gamma = 0 or q = 0: no slope or curvature term (single-comparison selects, which GCC
  // vectorizes where a combined condition would not).
  double flat_slope = one_minus_p == 0.0 ? 0.0 : slope;
  flat_slope = gamma == 0.0 ? 0.0 : flat_slope;
  double flat_curvature = one_minus_p == 0.0 ? 0.0 : curvature;
  flat_curvature = gamma == 0.0 ? 0.0 : flat_curvature;
  return FocalTerms{amplitude * modulation * nll, amplitude * (flat_slope - modulation), flat_curvature};
}

// The Hessian's diagonal of a class-index row (cross_entropy, softmax_focal_loss) with
// gradient G ([j == t] - p_j) in log p_t = x_t - lse (cross_entropy: p_coef p_j - v_j):
// d^2 loss / d x_j^2 = curvature ([j == t] - p_j)^2 + p_coef p_j (1 - p_j), with
// p_coef = -G (cross_entropy: its gradient's p_scale) and curvature = d G / d log p_t
// (0 for cross_entropy, linear in x). Unscaled: the caller multiplies by the row's scale.
struct HessTerms {
  double p_coef;
  double curvature;

  // Class j != t: p (curvature p + p_coef (1 - p)), floored, in T (vector loops).
  template <class T>
  static FASTLOSS_INLINE T other(T p, T curvature, T p_coef, T floor) {
    return loss_helpers::clamp_min(p * (curvature * p + p_coef * (T(1) - p)), floor);
  }

  // Class t, from nll = -log p_t and p_t as the row's other probabilities: 1 - p_t in float64
  // as -expm1(log p_t), exact near p_t = 1 (where p_t's own rounding costs nothing).
  FASTLOSS_INLINE double target(double nll, double p_t, double floor) const {
    const double one_minus_p = -math::expm1(-nll);
    return loss_helpers::clamp_min(one_minus_p * (curvature * one_minus_p + p_coef * p_t), floor);
  }
};

// Rows of at most kSmallClasses classes with class-index targets (cross_entropy,
// softmax_focal_loss) and softmax run in transposed tiles (kernels/row_tile.hpp). The
// forward and the fused pass run the same expressions, so their losses agree bitwise.

// One tile: x[c][r] is class c of row r (rows past the block's are zeros, never read back).
// Per row (lane): the log-sum-exp as log_sum_exp computes it (shift = the row maximum, 0 for
// an all -inf row; log in float64), kept exps for the gradient. The exps are of x - shift <=
// 0: exp_nonpositive, whose flush of subnormal results (below 2^-126.5, 2^-1022.5 in float64)
// leaves the sums as they are and a probability's absolute error below that.
template <class T>
struct ClassTile {
  alignas(64) RowTile<T> x;
  alignas(64) RowTile<T> e;  // exp(x - shift), when a gradient is wanted
  alignas(64) RowTile<T> h;  // the Hessian's diagonal, when wanted
  T max[kTileRows];
  T shift[kTileRows];
  T sum[kTileRows];
  double log_sum[kTileRows];

  // p_c = e[c][r] to_p(r) = exp(x - shift) exp(shift - max) / sum, where shift - max is 0,
  // +inf (an all -inf row) or NaN (a maximum of +inf or NaN), so its exp is shift - max + 1.
  // A division rather than exp(-log_sum): correctly rounded, and no float64 exp per row.
  FASTLOSS_INLINE double to_p(int64_t r) const {
    return ((static_cast<double>(shift[r]) - static_cast<double>(max[r])) + 1.0) / static_cast<double>(sum[r]);
  }

  template <bool kKeepExp>
  FASTLOSS_INLINE void log_sum_exp(int64_t classes) {
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) max[r] = negative_infinity<T>();
    for (int64_t c = 0; c < classes; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) max[r] = max_step(max[r], x[c][r]);
    }
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      shift[r] = max[r] == negative_infinity<T>() ? T(0) : max[r];
      sum[r] = T(0);
    }
    for (int64_t c = 0; c < classes; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) {
        const T term = math::exp_nonpositive(x[c][r] - shift[r]);
        if constexpr (kKeepExp) e[c][r] = term;
        sum[r] += term;
      }
    }
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) log_sum[r] = math::log(static_cast<double>(sum[r]));
  }
};

// The class losses of one block of rows.
template <class T>
class ClassRows {
 public:
  ClassRows(const RowBlock<T>& block, const ClassOptions& o)
      : b_(block),
        o_(o),
        weight_(static_cast<const T*>(o.weight)),
        classes_(block.length),
        smoothing_beta_(o.options.label_smoothing / static_cast<double>(block.length)) {}

  void run() const {
    if (!o_.probability_targets && o_.loss != ClassLoss::kNllLoss && classes_ <= kSmallClasses) {
      widen_rows(b_);
      // The forward's tiles compute no gradient terms: a loop over rows whose results are
      // stored for a gradient that never comes stays in the vector code.
      if (b_.out[0] == nullptr)
        for_each_tile(b_, [this](int64_t r0, int64_t n) { small_class_tile<false>(r0, n); });
      else
        for_each_tile(b_, [this](int64_t r0, int64_t n) { small_class_tile<true>(r0, n); });
      return;
    }
    if (!o_.probability_targets && o_.loss == ClassLoss::kNllLoss) {
      widen_rows(b_);
      return nll_rows();
    }
    for (int64_t r = 0; r < b_.rows; ++r) {
      T* grad = b_.out[0] != nullptr ? b_.out[0][r] : nullptr;
      const double scale = b_.scale[r];
      const DeferredRow<T> deferred = deferred_row(b_, r);
      if (o_.probability_targets)
        b_.loss[r] = probability_row(b_.in[0][r], deferred, b_.in[1][r], grad, scale);
      else
        b_.loss[r] = index_row(b_.in[0][r], deferred, b_.index[r], grad,
                               b_.out[1] != nullptr ? b_.out[1][r] : nullptr, scale);
    }
  }

 private:
  double class_weight(int64_t c) const { return weight_ == nullptr ? 1.0 : static_cast<double>(weight_[c]); }

  double alpha_at(int64_t t) const {
    return o_.alpha == nullptr ? o_.options.alpha : static_cast<double>(static_cast<const T*>(o_.alpha)[t]);
  }

  // nll_loss: loss = -w_t x_t (0 for ignored rows); the gradient row is 0 but for -scale w_t
  // at t. A row is its first element with the input's class stride (never staged: one element
  // is read). Every loss is read before any gradient row is written (with out=input they are
  // the same rows), in a loop of one load per row without calls: per-row calls cost more than
  // the load. (No omp simd: each lane would read through its own row pointer, which neither
  // compiler vectorises.)
  void nll_rows() const {
    if (weight_ == nullptr)
      nll_losses<false>();
    else
      nll_losses<true>();
    if (b_.out[0] == nullptr) return;
    for (int64_t r = 0; r < b_.rows; ++r) {
      const int64_t t = b_.index[r];
      const bool ignored = t == o_.options.ignore_index;
      write_one_hot_row(b_.out[0][r], classes_, ignored ? -1 : t,
                        static_cast<T>(ignored ? 0.0 : -b_.scale[r] * class_weight(t)));
    }
    stream_fence();
  }

  template <bool kWeighted>
  void nll_losses() const {
    const T* const* rows = b_.in[0];
    const int64_t* index = b_.index;
    double* loss = b_.loss;
    const int64_t stride = b_.in_stride[0];
    const int64_t ignore = o_.options.ignore_index;
    const T* w = weight_;
    const int64_t n = b_.rows;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t t = index[r];
      // Ignored rows read nothing (t is no class; C may be 0).
      if (t == ignore) {
        loss[r] = 0.0;
      } else {
        const double weight = kWeighted ? static_cast<double>(w[t]) : 1.0;
        loss[r] = -weight * static_cast<double>(rows[r][t * stride]);
      }
    }
  }

  void zero_row(T* grad) const {
    if (grad == nullptr) return;
    for (int64_t c = 0; c < classes_; ++c) grad[c] = T(0);
  }

  // cross_entropy and softmax_focal_loss with a class index t; x is a contiguous row.
  // With a gradient (and no smoothing term in the loss, which needs every x_c) the row is
  // read once: exp_row stores exp(x_c - chunk max) in the gradient row while it sums, and
  // to_grad rescales it in cache, one exp per element in all.
  double index_row(const T* x, const DeferredRow<T>& deferred, int64_t t, T* grad, T* hess, double scale) const {
    if (t == o_.options.ignore_index) {
      zero_row(grad);
      zero_row(hess);
      return 0.0;
    }
    const double e = o_.options.label_smoothing;
    // Read before the gradient may overwrite x (a deferred row's x_t is not widened yet).
    T stored_x_t = T(0);
    if (deferred.stored != nullptr) widen_into(deferred.type, deferred.stored + t, &stored_x_t, 1);
    const double x_t = static_cast<double>(deferred.stored != nullptr ? stored_x_t : x[t]);
    const bool single_exp = grad != nullptr && !(o_.want_loss && e > 0.0);
    const LogSumExp lse = single_exp ? exp_row(x, classes_, grad, b_.scratch, deferred)
                                     : log_sum_exp(x, classes_, deferred);
    const double nll = (lse.max - x_t) + lse.log_sum;  // -log p_t (+0 when p_t = 1)
    const IndexTerms terms = index_terms(nll, t, scale);
    double loss = terms.loss;
    const SoftTarget v{nullptr, weight_, 0.0, terms.beta};
    const bool smoothing_loss = o_.want_loss && terms.beta > 0.0;
    if (single_exp) {
      Rows<T>::to_grad(grad, classes_, lse, b_.scratch, v, terms.p_scale, scale);
    } else if (grad != nullptr || smoothing_loss) {
      loss += Rows<T>::cross_entropy(x, classes_, lse, v, smoothing_loss, RowGrad{grad, terms.p_scale, scale});
    }
    if (grad != nullptr) grad[t] -= static_cast<T>(terms.t_step);
    if (hess != nullptr) hess_row(x, t, lse, nll, terms.hess, hess, scale);
    return loss;
  }

  static FASTLOSS_INLINE T probability(T x, T max, T log_sum) { return math::exp((x - max) - log_sum); }

  // The Hessian's diagonal of a class-index row (x is not the gradient row: grad_hess's
  // outputs never overlap its input), one exp per element.
  void hess_row(const T* x, int64_t t, const LogSumExp& lse, double nll, const HessTerms& terms, T* hess,
                double scale) const {
    const T max = static_cast<T>(lse.max), log_sum = static_cast<T>(lse.log_sum);
    const T curvature = static_cast<T>(terms.curvature), p_coef = static_cast<T>(terms.p_coef);
    const T floor = static_cast<T>(o_.hess_floor), s = static_cast<T>(scale);
#pragma omp simd
    for (int64_t c = 0; c < classes_; ++c)
      hess[c] = s * HessTerms::other(probability(x[c], max, log_sum), curvature, p_coef, floor);
    const double p_t = static_cast<double>(probability(x[t], max, log_sum));
    hess[t] = static_cast<T>(scale * terms.target(nll, p_t, o_.hess_floor));
  }

  // A class-index row's loss (without label smoothing's sum over classes), its gradient
  // out_j = p_scale p_j - scale beta w_j - t_step [j == t], and its Hessian's terms (unscaled),
  // from nll = -log p_t.
  struct IndexTerms {
    double loss, p_scale, t_step, beta;
    HessTerms hess;
  };

  FASTLOSS_INLINE IndexTerms index_terms(double nll, int64_t t, double scale) const {
    const double w = class_weight(t);
    if (o_.loss == ClassLoss::kSoftmaxFocal) return softmax_focal_terms(nll, w * alpha_at(t), scale);
    return cross_entropy_terms(nll, w, scale);
  }

  // softmax_focal_loss's case, from amplitude = w_t alpha_t (branch-free, as focal_terms):
  // gradient scale G ([j == t] - p_j).
  FASTLOSS_INLINE IndexTerms softmax_focal_terms(double nll, double amplitude, double scale) const {
    const FocalTerms f = focal_terms(nll, amplitude, o_.options.gamma);
    return IndexTerms{f.loss, -scale * f.slope, -scale * f.slope, 0.0, HessTerms{-f.slope, f.curvature}};
  }

  // cross_entropy's case, from w = w_t (branch-free: small_class_tile runs it across rows):
  // (1 - e) w_t nll + (e / C) sum_c w_c (lse - x_c); the gradient is
  // scale [((1 - e) w_t + (e / C) W) p_j - (e / C) w_j - (1 - e) w_t [j == t]].
  FASTLOSS_INLINE IndexTerms cross_entropy_terms(double nll, double w, double scale) const {
    const double e = o_.options.label_smoothing;
    const double beta = smoothing_beta_;
    const double mass = (1.0 - e) * w + beta * o_.weight_total;
    return IndexTerms{(1.0 - e) * w * nll, scale * mass, scale * (1.0 - e) * w, beta, HessTerms{mass, 0.0}};
  }

  // cross_entropy and softmax_focal_loss of rows r0 .. r0 + n of few classes (index_row's
  // loss and gradient, lanes across rows; kGrad: the block has a gradient output). The whole
  // tile is read before any gradient row is written: out may be x.
  template <bool kGrad>
  void small_class_tile(int64_t r0, int64_t n) const {
    const int64_t C = classes_;
    ClassTile<T> tile;
    load_tile(tile.x, b_.in[0] + r0, n, C);
    tile.template log_sum_exp<kGrad>(C);
    const bool hess = b_.out[1] != nullptr;
    const TileRows rows = tile_rows<kGrad>(tile, r0, n);
    TileTerms terms;
    if (o_.loss == ClassLoss::kCrossEntropy)
      cross_entropy_lanes<kGrad>(tile, rows, terms);
    else
      softmax_focal_lanes<kGrad>(tile, rows, terms);
    store_losses(terms.loss, b_.loss + r0, n);
    if constexpr (!kGrad) return;
    // p_c = exp(x_c - shift) to_p, for the gradient and the Hessian alike.
    double to_p[kTileRows];
    T factor[kTileRows];
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      to_p[r] = tile.to_p(r);
      factor[r] = static_cast<T>(terms.p_scale[r] * to_p[r]);
    }
    // The output rows are finished in the tile and written once by store_tile: rows that are
    // not live are 0 (their exps may be NaN; `keep` is T-typed so the selects vectorise), and
    // element t gets its own terms.
    T keep[kTileRows];
    for (int64_t r = 0; r < kTileRows; ++r) keep[r] = rows.live[r] != 0 ? T(1) : T(0);
    double target_hess[kTileRows];
    if (hess) {
      tile_hess(tile, to_p, terms.curvature, terms.p_coef, rows.scale, keep);
      // p_t as tile_hess computes every p_c (tile.e still holds the exps).
      double p_t[kTileRows];
      for (int64_t r = 0; r < kTileRows; ++r)
        p_t[r] = static_cast<double>(tile.e[rows.target[r]][r] * static_cast<T>(to_p[r]));
      const double floor = o_.hess_floor;
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r)
        target_hess[r] =
            rows.scale[r] * HessTerms{terms.p_coef[r], terms.curvature[r]}.target(terms.nll[r], p_t[r], floor);
    }
    // Label smoothing's -scale beta w_c term; without it the weights are not read (a NaN
    // weight of another class must not reach the row, as in index_row).
    const bool smoothing = o_.loss == ClassLoss::kCrossEntropy && o_.options.label_smoothing != 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const T w = smoothing ? (weight_ != nullptr ? weight_[c] : T(1)) : T(0);
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r)
        tile.e[c][r] = keep[r] != T(0) ? tile.e[c][r] * factor[r] - terms.v_scale[r] * w : T(0);
    }
    for (int64_t r = 0; r < kTileRows; ++r) {
      if (!rows.live[r]) continue;
      tile.e[rows.target[r]][r] -= terms.t_step[r];
      if (hess) tile.h[rows.target[r]][r] = static_cast<T>(target_hess[r]);
    }
    store_tile(tile.e, b_.out[0] + r0, n, C);
    if (hess) store_tile(tile.h, b_.out[1] + r0, n, C);
  }

  // A tile's rows (lanes): whether each is live (a row of the block, not ignored), its target
  // (0 where not live), x_t, w_t and scale (0 where not live or without a gradient).
  // (live is 64-bit, as wide as the doubles beside it, so that loops selecting on it vectorise.)
  struct TileRows {
    int64_t live[kTileRows];
    int64_t target[kTileRows];
    double x_t[kTileRows], w_t[kTileRows], scale[kTileRows];
  };

  // The targets and their elements are gathered a row at a time (AVX2's gathers measured
  // slower on AMD Zen); the rest runs across lanes.
  template <bool kGrad>
  TileRows tile_rows(const ClassTile<T>& tile, int64_t r0, int64_t n) const {
    TileRows rows;
    const int64_t ignore = o_.options.ignore_index;
    for (int64_t r = 0; r < kTileRows; ++r) {
      const int64_t t = r < n ? b_.index[r0 + r] : ignore;
      rows.live[r] = t != ignore;
      rows.target[r] = t != ignore ? t : 0;
      rows.x_t[r] = static_cast<double>(tile.x[rows.target[r]][r]);
      rows.w_t[r] = class_weight(rows.target[r]);
      rows.scale[r] = kGrad && r < n ? b_.scale[r0 + r] : 0.0;
    }
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      rows.w_t[r] = rows.live[r] != 0 ? rows.w_t[r] : 0.0;
      rows.scale[r] = rows.live[r] != 0 ? rows.scale[r] : 0.0;
    }
    return rows;
  }

  // loss[0 .. n) = from[0 .. n): a full tile in a fixed-size copy (a variable-length one
  // became a rep movs, whose start-up cost as much as the tile's log).
  static FASTLOSS_INLINE void store_losses(const double* from, double* loss, int64_t n) {
    if (n == kTileRows) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) loss[r] = from[r];
      return;
    }
    for (int64_t r = 0; r < n; ++r) loss[r] = from[r];
  }

  // Each tile row's loss and the gradient's factors (p_c = exp(x_c - shift) tile.to_p(r)), all
  // 0 where a row is not live; with the Hessian, its row factors (HessTerms) and the row's
  // nll, for element t. Without kGrad only the loss.
  struct TileTerms {
    double loss[kTileRows], p_scale[kTileRows];
    double curvature[kTileRows], p_coef[kTileRows], nll[kTileRows];
    T v_scale[kTileRows], t_step[kTileRows];

    template <bool kGrad>
    FASTLOSS_INLINE void set(int64_t r, bool live, const IndexTerms& terms, double loss, double nll, double scale) {
      this->loss[r] = live ? loss : 0.0;
      if constexpr (!kGrad) return;
      p_scale[r] = live ? terms.p_scale : 0.0;
      v_scale[r] = live ? static_cast<T>(scale * terms.beta) : T(0);
      t_step[r] = live ? static_cast<T>(terms.t_step) : T(0);
      curvature[r] = live ? terms.hess.curvature : 0.0;
      p_coef[r] = live ? terms.hess.p_coef : 0.0;
      this->nll[r] = live ? nll : 0.0;
    }
  };

  FASTLOSS_INLINE double tile_nll(const ClassTile<T>& tile, const TileRows& rows, int64_t r) const {
    return (static_cast<double>(tile.max[r]) - rows.x_t[r]) + tile.log_sum[r];
  }

  // cross_entropy's terms across the tile's rows at once.
  template <bool kGrad>
  void cross_entropy_lanes(const ClassTile<T>& tile, const TileRows& rows, TileTerms& terms) const {
    const bool smoothing_loss = o_.want_loss && smoothing_beta_ > 0.0;
    double smoothing[kTileRows] = {};
    if (smoothing_loss) smoothing_sums(tile, smoothing);
    const double beta = smoothing_beta_;
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      const double nll = tile_nll(tile, rows, r);
      const IndexTerms row = cross_entropy_terms(nll, rows.w_t[r], rows.scale[r]);
      const double loss = smoothing_loss ? row.loss + beta * smoothing[r] : row.loss;
      terms.template set<kGrad>(r, rows.live[r] != 0, row, loss, nll, rows.scale[r]);
    }
  }

  // softmax_focal_loss's terms across the tile's rows at once (alpha_t gathered first).
  template <bool kGrad>
  void softmax_focal_lanes(const ClassTile<T>& tile, const TileRows& rows, TileTerms& terms) const {
    double amplitude[kTileRows];
    for (int64_t r = 0; r < kTileRows; ++r) amplitude[r] = rows.w_t[r] * alpha_at(rows.target[r]);
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      const double nll = tile_nll(tile, rows, r);
      const IndexTerms row = softmax_focal_terms(nll, amplitude[r], rows.scale[r]);
      terms.template set<kGrad>(r, rows.live[r] != 0, row, row.loss, nll, rows.scale[r]);
    }
  }

  // tile.h = the Hessian's diagonal of every tile row from its kept exps (p_c = exp(x_c -
  // shift) row_to_p), as hess_row computes it but for the exp; element t is the caller's.
  void tile_hess(ClassTile<T>& tile, const double* row_to_p, const double* row_curvature, const double* row_p_coef,
                 const double* row_scale, const T* keep) const {
    T to_p[kTileRows], curvature[kTileRows], p_coef[kTileRows], scale[kTileRows];
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) {
      to_p[r] = static_cast<T>(row_to_p[r]);
      curvature[r] = static_cast<T>(row_curvature[r]);
      p_coef[r] = static_cast<T>(row_p_coef[r]);
      scale[r] = static_cast<T>(row_scale[r]);
    }
    const T floor = static_cast<T>(o_.hess_floor);
    for (int64_t c = 0; c < classes_; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r)
        tile.h[c][r] =
            keep[r] != T(0) ? scale[r] * HessTerms::other(tile.e[c][r] * to_p[r], curvature[r], p_coef[r], floor) : T(0);
    }
  }

  // sum[r] = sum_c w_c (lse - x_c) of each tile row: label smoothing's term, as
  // Rows::cross_entropy sums it. (Summed in a local array: `sum` might alias the tile for all
  // the compiler knows, and clang left the loop scalar.)
  void smoothing_sums(const ClassTile<T>& tile, double* sum) const {
    T log_sum[kTileRows];
    double total[kTileRows] = {};
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) log_sum[r] = static_cast<T>(tile.log_sum[r]);
    for (int64_t c = 0; c < classes_; ++c) {
      const T w = weight_ != nullptr ? weight_[c] : T(1);
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r)
        total[r] -= static_cast<double>(w * ((tile.x[c][r] - tile.max[r]) - log_sum[r]));
    }
#pragma omp simd
    for (int64_t r = 0; r < kTileRows; ++r) sum[r] = total[r];
  }

  // Probability targets: v_c = w_c ((1 - e) y_c + e / C); loss = sum_c v_c (lse - x_c),
  // gradient scale (p_j sum_c v_c - v_j).
  double probability_row(const T* x, const DeferredRow<T>& deferred, const T* y, T* grad, double scale) const {
    const double e = o_.options.label_smoothing;
    const SoftTarget v{y, weight_, 1.0 - e, smoothing_beta_};
    const double mass = grad != nullptr ? Rows<T>::mass(v, classes_) : 0.0;
    const LogSumExp lse = log_sum_exp(x, classes_, deferred);
    return Rows<T>::cross_entropy(x, classes_, lse, v, o_.want_loss, RowGrad{grad, scale * mass, scale});
  }

  const RowBlock<T>& b_;
  const ClassOptions& o_;
  const T* weight_;
  int64_t classes_;
  double smoothing_beta_;  // label_smoothing / C: label smoothing's weight of every class
};

template <class T>
void class_losses(const RowBlock<T>& block, const ClassOptions& options) {
  ClassRows<T>(block, options).run();
}

// softmax (log_softmax) of rows of at most kSmallClasses classes, kTileRows rows at a time
// across SIMD lanes as the class losses' tiles; out may be the rows themselves (a tile is
// read whole before it is written).
template <class T>
void softmax_tiles(const RowBlock<T>& b, bool log) {
  const int64_t C = b.length;
  for_each_tile(b, [&](int64_t r0, int64_t n) {
    ClassTile<T> tile;
    load_tile(tile.x, b.in[0] + r0, n, C);
    if (log) {
      // (x - max) - log_sum, as log_softmax.
      tile.template log_sum_exp<false>(C);
      T log_sum[kTileRows];
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) log_sum[r] = static_cast<T>(tile.log_sum[r]);
      for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int64_t r = 0; r < kTileRows; ++r) tile.e[c][r] = (tile.x[c][r] - tile.max[r]) - log_sum[r];
      }
    } else {
      // exp(x - shift) to_p: one exp per element.
      tile.template log_sum_exp<true>(C);
      T factor[kTileRows];
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) factor[r] = static_cast<T>(tile.to_p(r));
      for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int64_t r = 0; r < kTileRows; ++r) tile.e[c][r] *= factor[r];
      }
    }
    store_tile(tile.e, b.out[0] + r0, n, C);
    for (int64_t r = 0; r < n; ++r) b.loss[r0 + r] = 0.0;
  });
}

// out = softmax (log_softmax) of each row; out may be the row itself.
template <class T>
void softmax_rows(const RowBlock<T>& b, bool log) {
  if (b.length <= kSmallClasses) {
    widen_rows(b);
    return softmax_tiles(b, log);
  }
  const SoftTarget none{nullptr, nullptr, 0.0, 0.0};
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* x = b.in[0][r];
    T* out = b.out[0][r];
    const DeferredRow<T> deferred = deferred_row(b, r);
    if (log) {
      log_softmax(x, b.length, log_sum_exp(x, b.length, deferred), out);
    } else {
      // One exp per element: exp(x - chunk max) is kept in the output and rescaled.
      const LogSumExp lse = exp_row(x, b.length, out, b.scratch, deferred);
      Rows<T>::to_grad(out, b.length, lse, b.scratch, none, 1.0, 0.0);
    }
    b.loss[r] = 0.0;
  }
}

// sum_i g_i y_i (kProduct) or sum_i g_i of one row: partial sums in T over blocks of
// kExpSumBlock (full-width vectors), added in float64, as exp_sum.
template <class T, bool kProduct>
FASTLOSS_INLINE double row_sum(const T* g, const T* y, int64_t len) {
  double total = 0.0;
  for (int64_t b = 0; b < len; b += kExpSumBlock) {
    const int64_t m = len - b < kExpSumBlock ? len - b : kExpSumBlock;
    const T* gb = g + b;
    const T* yb = y + b;
    T partial = T(0);
#pragma omp simd reduction(+ : partial)
    for (int64_t i = 0; i < m; ++i) partial += kProduct ? gb[i] * yb[i] : gb[i];
    (void)yb;
    total += static_cast<double>(partial);
  }
  return total;
}

// The gradient of softmax (log_softmax when log) from its output, row by row, as aten's
// _softmax_backward_data / _log_softmax_backward_data: in[0] = grad_output g, in[1] = the
// output y; out[0] = y (g - sum(g y)) (softmax) or g - exp(y) sum(g) (log_softmax). out may
// be g: the sum pass reads the row first, and the write pass reads g_i before writing it.
template <class T>
void softmax_backward_rows(const RowBlock<T>& b, bool log) {
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* g = b.in[0][r];
    const T* y = b.in[1][r];
    T* out = b.out[0][r];
    const int64_t n = b.length;
    if (log) {
      const T sum = static_cast<T>(row_sum<T, false>(g, y, n));
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = g[i] - math::exp(y[i]) * sum;
    } else {
      const T sum = static_cast<T>(row_sum<T, true>(g, y, n));
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = y[i] * (g[i] - sum);
    }
    b.loss[r] = 0.0;
  }
}

}  // namespace

const kernel_abi::ClassKernelFamily class_kernels = {
    {&class_losses<float>, &softmax_rows<float>, &softmax_backward_rows<float>},
    {&class_losses<double>, &softmax_rows<double>, &softmax_backward_rows<double>}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
