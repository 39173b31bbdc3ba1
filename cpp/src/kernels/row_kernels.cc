// Row-wise losses compiled once per SIMD target (FASTLOSS_TARGET_NS): cosine_embedding,
// multi_margin, triplet_margin, multilabel_soft_margin and multilabel_margin over a block of
// rows. Sums over a
// row accumulate in float64; the dispatcher (row_losses.cc) handles layouts, reductions and
// threads.
// Options that change a loop's body (gradient or not, p) are template parameters, chosen
// once per block, so every loop is branch-free.
#include "kernels/families.hpp"
#include "kernels/lanes.hpp"
#include "kernels/math.hpp"
#include "kernels/row_tile.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using kernel_abi::RowBlock;
using kernel_abi::RowOptions;

template <class T>
FASTLOSS_INLINE T abs_of(T x) {
  return x < T(0) ? -x : x;
}

template <class T>
FASTLOSS_INLINE T sign_of(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

// Terms per partial sum in T: few enough per SIMD lane (16 to 64) that a float32 partial
// stays within a few 1e-7 relative, many enough that the float64 adds are rare.
constexpr int64_t kTermBlock = 256;

// --- cosine_embedding -----------------------------------------------------------------
// cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) (torch's EPSILON keeps zero rows at
// cos = 0); loss = 1 - cos for label 1, max(0, cos - margin) for label -1, else 0.

constexpr double kCosineEpsilon = 1e-12;

template <class T, bool kGrad>
void cosine_embedding(const RowBlock<T>& b, const RowOptions& o) {
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* x1 = b.in[0][r];
    const T* x2 = b.in[1][r];
    double dot = 0.0, sq1 = 0.0, sq2 = 0.0;
#pragma omp simd reduction(+ : dot, sq1, sq2)
    for (int64_t i = 0; i < b.length; ++i) {
      const double a = static_cast<double>(x1[i]), c = static_cast<double>(x2[i]);
      dot += a * c;
      sq1 += a * a;
      sq2 += c * c;
    }
    sq1 += kCosineEpsilon;
    sq2 += kCosineEpsilon;
    const double denom = FASTLOSS_SQRT(sq1 * sq2);
    const double cos = dot / denom;
    const double label = b.label[r];
    const double hinge = cos - o.options.margin;
    const bool positive = label == 1.0, negative = label == -1.0;
    // A NaN cos stays NaN through the clamp, as torch's clamp_min.
    b.loss[r] = positive ? 1.0 - cos : (negative ? (hinge < 0.0 ? 0.0 : hinge) : 0.0);
    if constexpr (kGrad) {
      // d cos / d x1 = x2 / denom - cos x1 / sq1 (and symmetrically); the clamp passes the
      // gradient at cos == margin, as torch's clamp_min.
      const double slope = b.scale[r] * (positive ? -1.0 : (negative && hinge >= 0.0 ? 1.0 : 0.0));
      const T across = static_cast<T>(slope / denom);
      const T self1 = static_cast<T>(slope * cos / sq1), self2 = static_cast<T>(slope * cos / sq2);
      T* g1 = b.out[0][r];
      T* g2 = b.out[1][r];
      // g1 may be x1: both inputs are read before either gradient is written.
#pragma omp simd
      for (int64_t i = 0; i < b.length; ++i) {
        const T a = x1[i], c = x2[i];
        g1[i] = across * c - self1 * a;
        g2[i] = across * a - self2 * c;
      }
    }
  }
}

// --- multi_margin ---------------------------------------------------------------------
// loss = w_y / C sum_{j != y} max(0, margin - x_y + x_j)^p, p in {1, 2}; the hinge term
// is computed in T as torch does, and passes no gradient at z == 0.

template <class T, bool kSquared>
FASTLOSS_INLINE T margin_term(T z) {
  const T h = z > T(0) ? z : T(0);
  if constexpr (kSquared) return h * h;
  return h;
}

// sum_{j in [begin, end)} margin_term(margin - x_y + x_j). The row is summed in the two
// ranges around y, so no loop compares indices (SSE2 has no 64-bit integer compare).
template <class T, bool kSquared>
FASTLOSS_INLINE double margin_sum(const T* x, int64_t begin, int64_t end, T shift) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = begin; j < end; ++j) sum += static_cast<double>(margin_term<T, kSquared>(shift + x[j]));
  return sum;
}

// step * d margin_term / dz: no gradient at z == 0, as torch.
template <class T, bool kSquared>
FASTLOSS_INLINE T margin_slope(T z, T step) {
  return z > T(0) ? step * (kSquared ? T(2) * z : T(1)) : T(0);
}

// g_j = step * d margin_term / dz for j in [begin, end); returns their sum. g may be x:
// each x[j] is read before g[j] is written.
template <class T, bool kSquared>
FASTLOSS_INLINE double margin_grad(const T* x, int64_t begin, int64_t end, T shift, T step, T* g) {
  double total = 0.0;
#pragma omp simd reduction(+ : total)
  for (int64_t j = begin; j < end; ++j) {
    const T gj = margin_slope<T, kSquared>(shift + x[j], step);
    g[j] = gj;
    total += static_cast<double>(gj);
  }
  return total;
}

// Rows of at most kSmallClasses classes, kTileRows at a time across SIMD lanes
// (kernels/row_tile.hpp): per row, the terms summed in float64 in class order, the gradient
// of the target class their negated sum. The whole tile is read before the gradient is
// written: out may be x.
template <class T, bool kSquared, bool kGrad>
void multi_margin_tiles(const RowBlock<T>& b, const RowOptions& o) {
  const int64_t C = b.length;
  const T margin = static_cast<T>(o.options.margin);
  const double per_class = 1.0 / static_cast<double>(C);
  for_each_tile(b, [&](int64_t r0, int64_t n) {
    alignas(64) RowTile<T> x;
    load_tile(x, b.in[0] + r0, n, C);
    // Per row (lane): its target class (an int32 compare vectorises on every target), the
    // shift margin - x_y (torch's order), the weighted 1 / C.
    int32_t y[kTileRows];
    T shift[kTileRows];
    double factor[kTileRows], sum[kTileRows];
    for (int64_t r = 0; r < kTileRows; ++r) {
      const int64_t t = r < n ? b.index[r0 + r] : 0;
      y[r] = static_cast<int32_t>(t);
      shift[r] = margin - (r < n ? b.in[0][r0 + r][t] : T(0));
      factor[r] = (o.class_weight == nullptr ? 1.0 : o.class_weight[t]) * per_class;
      sum[r] = 0.0;
    }
    for (int32_t c = 0; c < C; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r)
        sum[r] += c == y[r] ? 0.0 : static_cast<double>(margin_term<T, kSquared>(shift[r] + x[c][r]));
    }
    for (int64_t r = 0; r < n; ++r) b.loss[r0 + r] = sum[r] * factor[r];
    if constexpr (kGrad) {
      T step[kTileRows];
      double total[kTileRows];
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) {
        step[r] = static_cast<T>((r < n ? b.scale[r0 + r] : 0.0) * factor[r]);
        total[r] = 0.0;
      }
      for (int32_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int64_t r = 0; r < kTileRows; ++r) {
          const T g = c == y[r] ? T(0) : margin_slope<T, kSquared>(shift[r] + x[c][r], step[r]);
          x[c][r] = g;
          total[r] += static_cast<double>(g);
        }
      }
      for (int64_t r = 0; r < kTileRows; ++r) x[y[r]][r] = static_cast<T>(-total[r]);
      store_tile(x, b.out[0] + r0, n, C);
    }
  });
}

template <class T, bool kSquared, bool kGrad>
void multi_margin(const RowBlock<T>& b, const RowOptions& o) {
  if (b.length <= kSmallClasses) return multi_margin_tiles<T, kSquared, kGrad>(b, o);
  const T margin = static_cast<T>(o.options.margin);
  const double per_class = 1.0 / static_cast<double>(b.length);
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* x = b.in[0][r];
    const int64_t y = b.index[r];
    const double weight = o.class_weight == nullptr ? 1.0 : o.class_weight[y];
    const T shift = margin - x[y];  // z_j = (margin - x_y) + x_j, torch's order
    const double sum = margin_sum<T, kSquared>(x, 0, y, shift) + margin_sum<T, kSquared>(x, y + 1, b.length, shift);
    b.loss[r] = sum * weight * per_class;
    if constexpr (kGrad) {
      const T step = static_cast<T>(b.scale[r] * weight * per_class);
      T* g = b.out[0][r];
      const double total = margin_grad<T, kSquared>(x, 0, y, shift, step, g) +
                           margin_grad<T, kSquared>(x, y + 1, b.length, shift, step, g);
      g[y] = static_cast<T>(-total);
    }
  }
}

// --- triplet_margin -------------------------------------------------------------------
// d(a, b) = || a - b + eps ||_p (torch's pairwise_distance); loss = max(0, margin + d(a, p)
// - d(a, n)), with d(a, n) replaced by min(d(a, n), d(p, n)) under swap (ties split the
// gradient in halves, as torch's minimum).

enum class Norm { kOne, kTwo, kInf, kGeneral };

template <class T, Norm kNorm>
FASTLOSS_INLINE T norm_term(T u, T p) {
  const T a = abs_of(u);
  if constexpr (kNorm == Norm::kTwo) return u * u;
  if constexpr (kNorm == Norm::kGeneral) return math::exp(p * math::log(a));
  (void)p;
  return a;
}

// The norm of one row difference and what its gradient needs: d norm / d u_i =
// sign(u_i) |u_i|^(p - 1) * factor (p = 2: u_i * factor; inf: the maxima share factor).
struct Distance {
  double value;
  double factor;
};

template <class T, Norm kNorm>
Distance distance(const T* x1, const T* x2, int64_t n, T eps, double p) {
  const T pt = static_cast<T>(p);
  double acc = 0.0;
  if constexpr (kNorm == Norm::kInf) {
    const T max = lane_max(n, T(0), [x1, x2, eps](int64_t i) { return abs_of(x1[i] - x2[i] + eps); });
    // The maxima share the gradient; a NaN (which the max reduction skips) makes the norm
    // NaN, as torch's amax.
    double ties = 0.0, nans = 0.0;
#pragma omp simd reduction(+ : ties, nans)
    for (int64_t i = 0; i < n; ++i) {
      const T a = abs_of(x1[i] - x2[i] + eps);
      ties += a == max ? 1.0 : 0.0;
      nans += a != a ? 1.0 : 0.0;
    }
    const double value = nans > 0.0 ? __builtin_nan("") : static_cast<double>(max);
    return Distance{value, ties > 0.0 ? 1.0 / ties : 0.0};
  } else if constexpr (kNorm == Norm::kGeneral) {
    // |u|^p costs an exp and a log: its terms are summed in T over blocks of kTermBlock
    // (full-width vectors, no conversions in the loop; a float64 accumulator has clang
    // compute the float32 terms at half width) and the blocks in float64.
    for (int64_t start = 0; start < n; start += kTermBlock) {
      const int64_t end = n - start < kTermBlock ? n : start + kTermBlock;
      T partial = T(0);
#pragma omp simd reduction(+ : partial)
      for (int64_t i = start; i < end; ++i) partial += norm_term<T, kNorm>(x1[i] - x2[i] + eps, pt);
      acc += static_cast<double>(partial);
    }
    // (sum |u|^p)^(1/p); the gradient's 1 / d^(p - 1) is 0 for a zero distance, as torch.
    const double d = math::exp(math::log(acc) / p);
    return Distance{d, d == 0.0 ? 0.0 : math::exp((1.0 - p) * math::log(d))};
  } else {
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(norm_term<T, kNorm>(x1[i] - x2[i] + eps, pt));
    if constexpr (kNorm == Norm::kOne) return Distance{acc, 1.0};
    const double d = FASTLOSS_SQRT(acc);
    return Distance{d, d == 0.0 ? 0.0 : 1.0 / d};
  }
}

template <class T, Norm kNorm>
FASTLOSS_INLINE T norm_slope(T u, T p, T max) {
  if constexpr (kNorm == Norm::kOne) return sign_of(u);
  if constexpr (kNorm == Norm::kTwo) return u;
  if constexpr (kNorm == Norm::kInf) return abs_of(u) == max ? sign_of(u) : T(0);
  const T a = abs_of(u);
  return u == T(0) ? T(0) : sign_of(u) * math::exp((p - T(1)) * math::log(a));
}

template <class T, Norm kNorm, bool kSwap, bool kGrad>
void triplet_margin(const RowBlock<T>& b, const RowOptions& o) {
  const T eps = static_cast<T>(o.options.eps);
  const T pt = static_cast<T>(o.options.norm_p);
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* an = b.in[0][r];
    const T* po = b.in[1][r];
    const T* ne = b.in[2][r];
    const Distance d_ap = distance<T, kNorm>(an, po, b.length, eps, o.options.norm_p);
    const Distance d_an = distance<T, kNorm>(an, ne, b.length, eps, o.options.norm_p);
    Distance d_pn{0.0, 0.0};
    double w_an = 1.0, w_pn = 0.0;  // shares of the negative distance's gradient
    double d_neg = d_an.value;
    if constexpr (kSwap) {
      d_pn = distance<T, kNorm>(po, ne, b.length, eps, o.options.norm_p);
      w_an = d_an.value < d_pn.value ? 1.0 : (d_an.value == d_pn.value ? 0.5 : 0.0);
      w_pn = 1.0 - w_an;
      d_neg = d_an.value < d_pn.value ? d_an.value : d_pn.value;
    }
    const double hinge = o.options.margin + d_ap.value - d_neg;
    b.loss[r] = hinge < 0.0 ? 0.0 : hinge;  // NaN stays NaN, as torch's clamp_min
    if constexpr (kGrad) {
      // clamp_min passes the gradient at hinge == 0, as torch.
      const double s = hinge >= 0.0 ? b.scale[r] : 0.0;
      const T c_ap = static_cast<T>(s * d_ap.factor);
      const T c_an = static_cast<T>(s * w_an * d_an.factor);
      const T c_pn = static_cast<T>(s * w_pn * d_pn.factor);
      const T m_ap = static_cast<T>(d_ap.value), m_an = static_cast<T>(d_an.value),
              m_pn = static_cast<T>(d_pn.value);
      T* ga = b.out[0][r];
      T* gp = b.out[1][r];
      T* gn = b.out[2][r];
      // ga may be the anchor: every input is read before any gradient is written.
#pragma omp simd
      for (int64_t i = 0; i < b.length; ++i) {
        const T a = an[i], p = po[i], n = ne[i];
        const T h_ap = c_ap * norm_slope<T, kNorm>(a - p + eps, pt, m_ap);
        const T h_an = c_an * norm_slope<T, kNorm>(a - n + eps, pt, m_an);
        T h_pn = T(0);
        if constexpr (kSwap) h_pn = c_pn * norm_slope<T, kNorm>(p - n + eps, pt, m_pn);
        ga[i] = h_ap - h_an;
        gp[i] = -h_ap - h_pn;
        gn[i] = h_an + h_pn;
      }
    }
  }
}

// --- multilabel_soft_margin ---------------------------------------------------------------
// loss = -(1/C) sum_c w_c (y_c log_sigmoid(x_c) + (1 - y_c) log_sigmoid(-x_c)) and d/dx_c =
// (w_c (1 - y_c) sigmoid(x_c) - w_c y_c sigmoid(-x_c)) / C, torch's formula and its autograd
// term for term, so NaN and inf propagate as in torch (an infinite label or weight times a
// zero term gives NaN). y in in[1], w (optional) in in[2].

template <class T, bool kWeighted, bool kLoss, bool kGrad>
void multilabel_soft_margin(const RowBlock<T>& b, const RowOptions&) {
  const double per_class = 1.0 / static_cast<double>(b.length);
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* x = b.in[0][r];
    const T* y = b.in[1][r];
    const T* w = kWeighted ? b.in[2][r] : nullptr;
    T* g = kGrad ? b.out[0][r] : nullptr;
    const T step = kGrad ? static_cast<T>(b.scale[r] * per_class) : T(0);
    double sum = 0.0;
    // One pass for the loss and the gradient (their exp(-|x|) is shared). g may be x: each
    // x[c] is read before g[c] is written. The terms are summed in T over blocks of
    // kTermBlock (full-width vectors, as the class kernels' exp sums), in lane_sum's fixed
    // order (the forward and the fused loss agree bit for bit), and the blocks in float64.
    for (int64_t start = 0; start < b.length; start += kTermBlock) {
      const int64_t len = b.length - start < kTermBlock ? b.length - start : kTermBlock;
      const T* xs = x + start;
      const T* ys = y + start;
      const T* ws = kWeighted ? w + start : nullptr;
      T* gs = kGrad ? g + start : nullptr;
      const auto term = [=](int64_t c) FASTLOSS_LAMBDA_INLINE {
        const T xc = xs[c], yc = ys[c];
        if constexpr (kGrad) {
          T positive = T(1) - yc, negative = yc;
          if constexpr (kWeighted) {
            positive *= ws[c];
            negative *= ws[c];
          }
          const math::SignedPair<T> p = math::sigmoid_pair(xc);
          gs[c] = step * (positive * p.of_x - negative * p.of_minus_x);
        }
        T loss = T(0);
        if constexpr (kLoss) {
          const math::SignedPair<T> log_p = math::log_sigmoid_pair(xc);
          loss = yc * log_p.of_x + (T(1) - yc) * log_p.of_minus_x;
          if constexpr (kWeighted) loss *= ws[c];
        }
        return loss;
      };
      if constexpr (kLoss) {
        sum += static_cast<double>(lane_sum<T>(len, term));
      } else {
#pragma omp simd
        for (int64_t c = 0; c < len; ++c) term(c);
      }
    }
    b.loss[r] = -sum * per_class;
  }
}

// --- multilabel_margin ----------------------------------------------------------------
// loss = (1/C) sum_{j < k} sum_{i not a target} max(0, 1 - x[y_j] + x[i]) over the row's
// classes y_0..y_{k-1} (the list ends at the first -1; a repeated class counts each time),
// torch's formula: z is computed in T as torch does, a NaN z adds nothing (torch's z > 0
// test), and the hinge passes no gradient at z == 0. d/dx[i] = (1/C) #{j : z_ji > 0} for a
// non-target i, and -(1/C) of the hinges its list entries open for a target.
//
// work[i] marks the row's targets and counts: 0 and up for a non-target (its open hinges),
// -1 - (hinges opened) for a target; the gradient is written from it after every read of
// x, so g may be x.

template <class T, bool kLoss, bool kGrad>
void multilabel_margin(const RowBlock<T>& b, const RowOptions&) {
  const double per_class = 1.0 / static_cast<double>(b.length);
  T* work = b.work;
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* x = b.in[0][r];
    const int64_t* classes = b.class_rows[r];
#pragma omp simd
    for (int64_t i = 0; i < b.length; ++i) work[i] = T(0);
    int64_t targets = 0;
    while (targets < b.length && classes[targets] >= 0) work[classes[targets++]] = T(-1);
    double sum = 0.0;
    for (int64_t j = 0; j < targets; ++j) {
      const int64_t y = classes[j];
      const T shift = T(1) - x[y];  // z = (1 - x[y]) + x[i], torch's order
      T opened = T(0);
      // The hinges are summed in T over blocks of kTermBlock (full-width vectors), in
      // lane_sums' fixed order (the forward and the fused loss agree bit for bit), and the
      // blocks in float64.
      for (int64_t start = 0; start < b.length; start += kTermBlock) {
        const int64_t len = b.length - start < kTermBlock ? b.length - start : kTermBlock;
        const T* xs = x + start;
        T* counts = work + start;
        T partial, hits;
        lane_sums<T>(len, partial, hits, [=](int64_t i, T& hinge, T& hit) FASTLOSS_LAMBDA_INLINE {
          const T z = shift + xs[i];
          const bool open = counts[i] >= T(0) && z > T(0);
          if constexpr (kLoss) hinge += open ? z : T(0);
          if constexpr (kGrad) {
            counts[i] += open ? T(1) : T(0);
            hit += open ? T(1) : T(0);
          }
        });
        sum += static_cast<double>(partial);
        opened += hits;
      }
      if constexpr (kGrad) work[y] -= opened;
    }
    b.loss[r] = sum * per_class;
    if constexpr (kGrad) {
      const T step = static_cast<T>(b.scale[r] * per_class);
      T* g = b.out[0][r];
#pragma omp simd
      for (int64_t i = 0; i < b.length; ++i) {
        const T count = work[i] >= T(0) ? work[i] : work[i] + T(1);
        g[i] = step * count;
      }
    }
  }
}

// Picks the instantiation for the loss and the block's options.
template <class T>
struct Rows {
  static void cosine(const RowBlock<T>& b, const RowOptions& o) {
    if (b.out[0] != nullptr) cosine_embedding<T, true>(b, o);
    else cosine_embedding<T, false>(b, o);
  }

  template <bool kSquared>
  static void margin_with(const RowBlock<T>& b, const RowOptions& o) {
    if (b.out[0] != nullptr) multi_margin<T, kSquared, true>(b, o);
    else multi_margin<T, kSquared, false>(b, o);
  }
  static void margin(const RowBlock<T>& b, const RowOptions& o) {
    if (o.options.margin_p == 2) margin_with<true>(b, o);
    else margin_with<false>(b, o);
  }

  template <Norm kNorm, bool kSwap>
  static void triplet_with(const RowBlock<T>& b, const RowOptions& o) {
    if (b.out[0] != nullptr) triplet_margin<T, kNorm, kSwap, true>(b, o);
    else triplet_margin<T, kNorm, kSwap, false>(b, o);
  }
  template <Norm kNorm>
  static void triplet_norm(const RowBlock<T>& b, const RowOptions& o) {
    if (o.options.swap) triplet_with<kNorm, true>(b, o);
    else triplet_with<kNorm, false>(b, o);
  }
  static void triplet(const RowBlock<T>& b, const RowOptions& o) {
    if (o.options.norm_p == 1.0) triplet_norm<Norm::kOne>(b, o);
    else if (o.options.norm_p == 2.0) triplet_norm<Norm::kTwo>(b, o);
    else if (o.options.norm_p == FASTLOSS_INFINITY) triplet_norm<Norm::kInf>(b, o);
    else triplet_norm<Norm::kGeneral>(b, o);
  }

  template <bool kWeighted>
  static void multilabel_with(const RowBlock<T>& b, const RowOptions& o) {
    if (b.out[0] == nullptr) multilabel_soft_margin<T, kWeighted, true, false>(b, o);
    else if (o.want_loss) multilabel_soft_margin<T, kWeighted, true, true>(b, o);
    else multilabel_soft_margin<T, kWeighted, false, true>(b, o);
  }
  static void multilabel(const RowBlock<T>& b, const RowOptions& o) {
    if (b.in[2] != nullptr) multilabel_with<true>(b, o);
    else multilabel_with<false>(b, o);
  }

  static void multilabel_hinge(const RowBlock<T>& b, const RowOptions& o) {
    if (b.out[0] == nullptr) multilabel_margin<T, true, false>(b, o);
    else if (o.want_loss) multilabel_margin<T, true, true>(b, o);
    else multilabel_margin<T, false, true>(b, o);
  }

  static void losses(const RowBlock<T>& b, const RowOptions& o) {
    switch (o.loss) {
      case RowLoss::kCosineEmbedding: return cosine(b, o);
      case RowLoss::kMultiMargin: return margin(b, o);
      case RowLoss::kTripletMargin: return triplet(b, o);
      case RowLoss::kMultilabelSoftMargin: return multilabel(b, o);
      case RowLoss::kMultilabelMargin: return multilabel_hinge(b, o);
    }
  }
};

}  // namespace

const kernel_abi::RowKernelFamily row_kernels = {{&Rows<float>::losses}, {&Rows<double>::losses}};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
