// The softmax / cross-entropy family on every supported SIMD target against long-double
// references: rows around the vector widths and the log-sum-exp chunk, -inf and +-1e30
// logits, C = 1, a 128k-class vocabulary, the (N, C, d) layout, in-place gradients,
// target validation and thread-count determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/class_losses.hpp"
#include "fastloss/threading.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ClassLoss;
using fastloss::ClassLossCall;
using fastloss::RowShape;
using fastloss::RowView;
using fastloss::ConstView;
using fastloss::DType;
using fastloss::MutableRowView;
using fastloss::MutableView;
using fastloss::Reduction;
using fastloss::Shape;

constexpr long double kInf = std::numeric_limits<long double>::infinity();

using fastloss_test::dtype_of;
using fastloss_test::expect_close;

template <class T>
long double tolerance() {
  return sizeof(T) == 4 ? 1e-5L : 1e-12L;
}

// log p of one row in long double.
std::vector<long double> log_softmax_reference(const std::vector<long double>& x) {
  long double max = -kInf;
  for (long double v : x) max = std::max(max, v);
  long double sum = 0;
  for (long double v : x) sum += std::exp(v - max);
  std::vector<long double> out;
  for (long double v : x) out.push_back((v - max) - std::log(sum));
  return out;
}

// A (rows, C) problem: logits, class-index targets, probability targets, class weights.
template <class T>
struct Problem {
  int64_t rows, classes;
  std::vector<T> x, probs, weight;
  std::vector<int64_t> target;
};

template <class T>
Problem<T> make_problem(int64_t rows, int64_t classes, unsigned seed, double spread = 4.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> logit(0.0, spread);
  std::uniform_real_distribution<double> unit(0.0, 1.0), pos(0.3, 2.0);
  Problem<T> p{rows, classes, {}, {}, {}, {}};
  for (int64_t i = 0; i < rows * classes; ++i) {
    p.x.push_back(static_cast<T>(logit(rng)));
    p.probs.push_back(static_cast<T>(unit(rng)));
  }
  for (int64_t c = 0; c < classes; ++c) p.weight.push_back(static_cast<T>(pos(rng)));
  for (int64_t r = 0; r < rows; ++r) p.target.push_back(static_cast<int64_t>(rng() % classes));
  return p;
}

struct Options {
  bool weighted = false;
  bool probabilities = false;
  int64_t ignore_index = -100;
  double smoothing = 0.0;
};

// Per-row loss and gradient (grad_output 1, no reduction) from the definitions in long
// double (pytorch-semantics.md).
template <class T>
void reference(const Problem<T>& p, const Options& o, std::vector<long double>& loss,
               std::vector<long double>& grad) {
  const int64_t C = p.classes;
  loss.assign(p.rows, 0);
  grad.assign(p.rows * C, 0);
  const long double e = o.smoothing;
  for (int64_t r = 0; r < p.rows; ++r) {
    std::vector<long double> x(p.x.begin() + r * C, p.x.begin() + (r + 1) * C);
    const std::vector<long double> lp = log_softmax_reference(x);
    std::vector<long double> v(C, 0);  // soft target weights
    if (o.probabilities) {
      for (int64_t c = 0; c < C; ++c) v[c] = ((1 - e) * p.probs[r * C + c] + e / C);
    } else {
      const int64_t t = p.target[r];
      if (t == o.ignore_index) continue;
      for (int64_t c = 0; c < C; ++c) v[c] = e / C;
      v[t] += 1 - e;
    }
    long double mass = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (o.weighted) v[c] *= p.weight[c];
      mass += v[c];
      // nll_loss picks log p_t alone: a masked (-inf) class with v_c = 0 adds nothing, while
      // probability targets multiply every class, 0 * -inf = NaN included (as torch).
      if (v[c] != 0 || o.probabilities) loss[r] -= v[c] * lp[c];
    }
    for (int64_t c = 0; c < C; ++c) grad[r * C + c] = mass * std::exp(lp[c]) - v[c];
  }
}

template <class T>
struct Call {
  std::vector<int64_t> row_extent, row_stride, target_stride;
  ClassLossCall call;
};

// A contiguous (rows, C) call over p.
template <class T>
void make_call(Call<T>& c, const Problem<T>& p, const Options& o, ClassLoss loss = ClassLoss::kCrossEntropy) {
  c.row_extent = {p.rows};
  c.row_stride = {p.classes};
  c.target_stride = {1};
  ClassLossCall& call = c.call;
  call.loss = loss;
  call.dtype = dtype_of<T>();
  call.shape = RowShape{Shape{1, c.row_extent.data()}, p.classes};
  call.input = RowView{ConstView{p.x.data(), c.row_stride.data()}, 1};
  if (o.probabilities) {
    call.prob_target = RowView{ConstView{p.probs.data(), c.row_stride.data()}, 1};
  } else {
    call.index_target = ConstView{p.target.data(), c.target_stride.data()};
  }
  if (o.weighted) call.weight = p.weight.data();
  call.options.ignore_index = o.ignore_index;
  call.options.label_smoothing = o.smoothing;
}

class CrossEntropyTest : public fastloss_test::PerTarget {};

template <class T>
void check_against_reference(int64_t rows, int64_t classes, const Options& o, unsigned seed) {
  Problem<T> p = make_problem<T>(rows, classes, seed);
  if (!o.probabilities) p.target[0] = o.ignore_index >= 0 ? o.ignore_index : p.target[0];
  Call<T> c;
  make_call(c, p, o);
  std::vector<long double> ref_loss, ref_grad;
  reference(p, o, ref_loss, ref_grad);
  long double ref_sum = 0, ref_denominator = 0;
  for (int64_t r = 0; r < rows; ++r) {
    ref_sum += ref_loss[r];
    if (o.probabilities) ref_denominator += 1;
    else if (p.target[r] != o.ignore_index) ref_denominator += o.weighted ? p.weight[p.target[r]] : 1.0L;
  }
  const int64_t unit = 1;
  std::vector<T> loss_rows(rows + 1, T(0)), grad(rows * classes), fused(rows * classes), fused_loss(rows);
  const MutableView loss_view{loss_rows.data(), &unit};
  fastloss::class_loss_forward(c.call, Reduction::kNone, loss_view);
  const double sum = fastloss::class_loss_forward(c.call, Reduction::kSum, {});
  const double mean = fastloss::class_loss_forward(c.call, Reduction::kMean, {});
  fastloss::class_loss_backward(c.call, Reduction::kSum, {}, 0.5,
                                MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1});
  const double fused_mean = fastloss::class_loss_forward_backward(
      c.call, Reduction::kMean, MutableRowView{MutableView{fused.data(), c.row_stride.data()}, 1}, {});
  const long double tol = tolerance<T>() * (1 + classes / 1000);
  for (int64_t r = 0; r < rows; ++r) expect_close(ref_loss[r], loss_rows[r], tol, "row loss", r);
  EXPECT_EQ(loss_rows[rows], T(0)) << "wrote past the end";
  expect_close(ref_sum, sum, tol, "sum", 0);
  expect_close(ref_sum / ref_denominator, mean, tol, "mean", 0);
  expect_close(ref_sum / ref_denominator, fused_mean, tol, "fused mean", 0);
  for (int64_t i = 0; i < rows * classes; ++i) {
    expect_close(0.5L * ref_grad[i], grad[i], tol, "grad", i);
    expect_close(ref_grad[i] / ref_denominator, fused[i], tol, "fused grad", i);
  }
}

TEST_P(CrossEntropyTest, MatchesLongDoubleReferenceAcrossRowLengths) {
  // C = 1, around every vector width (4, 8, 16 lanes), around the small-class tiles' limit
  // (64) and their in-register transposition's blocks (8 and 16 classes), and across
  // log-sum-exp chunks (2048).
  for (int64_t classes : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 48, 63, 64, 65, 100, 2047, 2049, 5000}) {
    for (bool probabilities : {false, true}) {
      for (double smoothing : {0.0, 0.2}) {
        Options o;
        o.probabilities = probabilities;
        o.smoothing = smoothing;
        o.weighted = classes % 2 == 1;
        o.ignore_index = probabilities || classes == 1 ? -100 : 0;
        // 11 rows: one partial tile; 37: two full tiles (transposed in registers) and a partial one.
        for (int64_t rows : {int64_t{classes > 1000 ? 3 : 11}, int64_t{classes > 1000 ? 0 : 37}}) {
          if (rows == 0) continue;
          check_against_reference<float>(rows, classes, o, static_cast<unsigned>(classes + rows));
          check_against_reference<double>(rows, classes, o, static_cast<unsigned>(classes + rows) + 1);
        }
      }
    }
  }
}

TEST_P(CrossEntropyTest, VocabularyOf128kClasses) {
  Options o;
  o.smoothing = 0.1;
  o.weighted = true;
  check_against_reference<float>(2, 131072, o, 3);
  o.probabilities = true;
  check_against_reference<double>(2, 131072, o, 4);
}

template <class T>
void check_softmax_rows(const std::vector<std::vector<long double>>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()), classes = static_cast<int64_t>(rows[0].size());
  std::vector<T> x;
  for (const auto& r : rows)
    for (long double v : r) x.push_back(static_cast<T>(v));
  std::vector<T> p(x.size()), lp(x.size());
  const int64_t extent[1] = {n}, stride[1] = {classes};
  const RowShape shape{Shape{1, extent}, classes};
  const RowView in{ConstView{x.data(), stride}, 1};
  fastloss::softmax(dtype_of<T>(), shape, in, MutableRowView{MutableView{p.data(), stride}, 1}, false);
  fastloss::softmax(dtype_of<T>(), shape, in, MutableRowView{MutableView{lp.data(), stride}, 1}, true);
  for (int64_t r = 0; r < n; ++r) {
    std::vector<long double> xr;
    for (int64_t c = 0; c < classes; ++c) xr.push_back(x[r * classes + c]);
    const std::vector<long double> ref = log_softmax_reference(xr);
    for (int64_t c = 0; c < classes; ++c) {
      const size_t i = static_cast<size_t>(r * classes + c);
      expect_close(std::exp(ref[c]), p[i], tolerance<T>(), "softmax", i);
      if (std::isinf(ref[c])) EXPECT_EQ(static_cast<long double>(lp[i]), ref[c]) << i;
      else expect_close(ref[c], lp[i], tolerance<T>(), "log_softmax", i);
    }
  }
}

TEST_P(CrossEntropyTest, SoftmaxOfInfiniteAndHugeLogits) {
  const std::vector<std::vector<long double>> rows = {
      {-kInf, 0.0L, 1.0L, -kInf, 2.0L},  // masked classes get p = 0, log p = -inf
      {1e30L, -1e30L, 0.0L, 1e30L, 5.0L},  // two tied huge logits: p = 1/2 each
      {-1e30L, -1e30L, -1e30L, -1e30L, -1e30L},  // uniform at a huge offset: p = 1/5
      {-kInf, -kInf, -kInf, -kInf, -kInf},  // all -inf: NaN, as torch
      {0.0L, 1.0L, 2.0L, 3.0L, 4.0L}};
  check_softmax_rows<float>(rows);
  check_softmax_rows<double>(rows);
}

TEST_P(CrossEntropyTest, CrossEntropyOfMaskedAndHugeLogits) {
  Problem<double> p{3, 4, {}, {}, {}, {}};
  const double inf = std::numeric_limits<double>::infinity();
  p.x = {-inf, 0.0, 2.0, -inf, 1e30, -1e30, 0.0, 1e30, 3.0, 3.0, 3.0, 3.0};
  p.target = {2, 0, 1};
  Options o;
  std::vector<long double> ref_loss, ref_grad;
  reference(p, o, ref_loss, ref_grad);
  Call<double> c;
  make_call(c, p, o);
  std::vector<double> loss(3), grad(12);
  const int64_t unit = 1;
  fastloss::class_loss_forward_backward(c.call, Reduction::kNone,
                                        MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1},
                                        MutableView{loss.data(), &unit});
  for (int i = 0; i < 3; ++i) expect_close(ref_loss[i], loss[i], 1e-14L, "loss", i);
  expect_close(std::log(2.0L), loss[1], 1e-14L, "tied huge logits", 1);
  for (int i = 0; i < 12; ++i) expect_close(ref_grad[i], grad[i], 1e-14L, "grad", i);
}

TEST_P(CrossEntropyTest, MaskedRangesSpanningWholeLogSumExpChunks) {
  // Chunks of -inf only (a masked part of a vocabulary) contribute 0, not NaN.
  Problem<float> p = make_problem<float>(3, 6000, 31);
  for (int64_t r = 0; r < p.rows; ++r)
    for (int64_t c = r * 1000; c < std::min<int64_t>(r * 1000 + 4096, p.classes); ++c)
      p.x[r * p.classes + c] = -INFINITY;
  p.target = {5000, 1500, 100};
  Options o;
  o.weighted = true;
  std::vector<long double> ref_loss, ref_grad;
  reference(p, o, ref_loss, ref_grad);
  Call<float> c;
  make_call(c, p, o);
  std::vector<float> loss(p.rows), grad(p.x.size()), probs(p.x.size());
  const int64_t unit = 1;
  fastloss::class_loss_forward_backward(c.call, Reduction::kNone,
                                        MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1},
                                        MutableView{loss.data(), &unit});
  for (int64_t r = 0; r < p.rows; ++r) expect_close(ref_loss[r], loss[r], 1e-5L, "loss", r);
  EXPECT_TRUE(std::isinf(loss[1])) << "target 1500 is masked in row 1";
  for (size_t i = 0; i < grad.size(); ++i) {
    if (i / p.classes == 1) continue;  // an infinite loss: its gradient is NaN in torch too
    expect_close(ref_grad[i], grad[i], 1e-5L, "grad", i);
  }
  fastloss::softmax(DType::kFloat32, c.call.shape, c.call.input,
                    MutableRowView{MutableView{probs.data(), c.row_stride.data()}, 1}, false);
  for (size_t i = 0; i < probs.size(); ++i) ASSERT_FALSE(std::isnan(probs[i])) << i;
}

TEST_P(CrossEntropyTest, ClassAxisWithInnerDimensionMatchesTransposedRows) {
  // (N, C, D) with class stride D against the same values as contiguous (N*D, C) rows.
  const int64_t N = 5, C = 37, D = 11;
  Problem<float> rows = make_problem<float>(N * D, C, 9);
  for (int64_t r = 0; r < N * D; r += 4) rows.target[r] = -100;
  std::vector<float> ncd(N * C * D), nd_probs(N * C * D);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t d = 0; d < D; ++d) {
        ncd[(n * C + c) * D + d] = rows.x[(n * D + d) * C + c];
        nd_probs[(n * C + c) * D + d] = rows.probs[(n * D + d) * C + c];
      }
  for (bool probabilities : {false, true}) {
    Options o;
    o.probabilities = probabilities;
    o.weighted = true;
    o.smoothing = 0.3;
    Call<float> flat;
    make_call(flat, rows, o);
    const int64_t extents[2] = {N, D}, x_strides[2] = {C * D, 1}, t_strides[2] = {D, 1};
    ClassLossCall k = flat.call;
    k.shape = RowShape{Shape{2, extents}, C};
    k.input = RowView{ConstView{ncd.data(), x_strides}, D};
    if (probabilities) k.prob_target = RowView{ConstView{nd_probs.data(), x_strides}, D};
    else k.index_target = ConstView{rows.target.data(), t_strides};
    std::vector<float> g_flat(N * D * C), g_k(N * C * D);
    const double a = fastloss::class_loss_forward_backward(
        flat.call, Reduction::kMean, MutableRowView{MutableView{g_flat.data(), flat.row_stride.data()}, 1}, {});
    const double b = fastloss::class_loss_forward_backward(
        k, Reduction::kMean, MutableRowView{MutableView{g_k.data(), x_strides}, D}, {});
    EXPECT_EQ(a, b);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t d = 0; d < D; ++d)
          ASSERT_EQ(g_flat[(n * D + d) * C + c], g_k[(n * C + c) * D + d]) << n << " " << c << " " << d;
    // In place through the strided layout.
    std::vector<float> logits = ncd;
    k.input = RowView{ConstView{logits.data(), x_strides}, D};
    EXPECT_EQ(b, fastloss::class_loss_forward_backward(
                     k, Reduction::kMean, MutableRowView{MutableView{logits.data(), x_strides}, D}, {}));
    EXPECT_EQ(logits, g_k);
  }
}

TEST_P(CrossEntropyTest, InPlaceGradientEqualsSeparateOutput) {
  // Small-class tiles (full and partial) and the row kernel.
  for (int64_t classes : {10, 64, 1000}) {
    Problem<float> p = make_problem<float>(classes < 100 ? 53 : 64, classes, 21);
    Options o;
    o.smoothing = 0.1;
    Call<float> c;
    make_call(c, p, o);
    std::vector<float> grad(p.x.size());
    const double loss = fastloss::class_loss_forward_backward(
        c.call, Reduction::kMean, MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1}, {});
    const double in_place = fastloss::class_loss_forward_backward(
        c.call, Reduction::kMean, MutableRowView{MutableView{p.x.data(), c.row_stride.data()}, 1}, {});
    EXPECT_EQ(loss, in_place) << classes;
    EXPECT_EQ(grad, p.x) << classes;
  }
}

TEST_P(CrossEntropyTest, NllLossPicksOneLogProbabilityPerRow) {
  Problem<double> p = make_problem<double>(20, 7, 5);
  p.target[3] = 2;
  Options o;
  o.weighted = true;
  o.ignore_index = 2;
  Call<double> c;
  make_call(c, p, o, ClassLoss::kNllLoss);
  std::vector<double> grad(p.x.size(), 9.0);
  const double sum = fastloss::class_loss_forward_backward(
      c.call, Reduction::kSum, MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1}, {});
  long double expected = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    const int64_t t = p.target[r];
    for (int64_t k = 0; k < p.classes; ++k) {
      const double want = (t != 2 && k == t) ? -p.weight[t] : 0.0;
      EXPECT_EQ(grad[r * p.classes + k], want) << r << " " << k;
    }
    if (t != 2) expected -= static_cast<long double>(p.weight[t]) * p.x[r * p.classes + t];
  }
  expect_close(expected, sum, 1e-14L, "nll sum", 0);
}

TEST_P(CrossEntropyTest, FocalLossWithGammaZeroIsCrossEntropyBitwise) {
  Problem<float> p = make_problem<float>(33, 19, 8);
  Options o;
  o.weighted = true;
  o.ignore_index = 4;
  Call<float> ce, focal;
  make_call(ce, p, o);
  make_call(focal, p, o, ClassLoss::kSoftmaxFocal);
  focal.call.options.gamma = 0.0;
  std::vector<float> g_ce(p.x.size()), g_focal(p.x.size());
  EXPECT_EQ(fastloss::class_loss_forward_backward(
                ce.call, Reduction::kMean, MutableRowView{MutableView{g_ce.data(), ce.row_stride.data()}, 1}, {}),
            fastloss::class_loss_forward_backward(
                focal.call, Reduction::kMean,
                MutableRowView{MutableView{g_focal.data(), focal.row_stride.data()}, 1}, {}));
  EXPECT_EQ(g_ce, g_focal);
}

TEST_P(CrossEntropyTest, FocalLossMatchesLongDoubleReference) {
  Problem<double> p = make_problem<double>(17, 9, 13);
  Options o;
  o.weighted = true;
  Call<double> c;
  make_call(c, p, o, ClassLoss::kSoftmaxFocal);
  c.call.options.gamma = 1.5;
  c.call.options.alpha = 0.25;
  std::vector<double> loss(p.rows), grad(p.x.size());
  const int64_t unit = 1;
  fastloss::class_loss_forward_backward(c.call, Reduction::kNone,
                                        MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1},
                                        MutableView{loss.data(), &unit});
  for (int64_t r = 0; r < p.rows; ++r) {
    std::vector<long double> x(p.x.begin() + r * p.classes, p.x.begin() + (r + 1) * p.classes);
    const std::vector<long double> lp = log_softmax_reference(x);
    const int64_t t = p.target[r];
    const long double a = 0.25L * p.weight[t], pt = std::exp(lp[t]), q = 1 - pt;
    expect_close(-a * std::pow(q, 1.5L) * lp[t], loss[r], 1e-13L, "focal loss", r);
    const long double g = a * (1.5L * std::pow(q, 0.5L) * pt * lp[t] - std::pow(q, 1.5L));
    for (int64_t k = 0; k < p.classes; ++k)
      expect_close(g * ((k == t ? 1 : 0) - std::exp(lp[k])), grad[r * p.classes + k], 1e-13L, "focal grad", k);
  }
}

TEST_P(CrossEntropyTest, FindsTheFirstInvalidTarget) {
  Problem<float> p = make_problem<float>(20000, 3, 1);
  Options o;
  o.ignore_index = 7;
  Call<float> c;
  make_call(c, p, o);
  EXPECT_EQ(fastloss::find_invalid_target(c.call).row, -1);
  p.target[100] = 7;  // ignored, not invalid
  p.target[15000] = 3;
  p.target[19000] = -1;
  const fastloss::InvalidTarget bad = fastloss::find_invalid_target(c.call);
  EXPECT_EQ(bad.row, 15000);
  EXPECT_EQ(bad.value, 3);
  std::vector<int32_t> narrow(p.target.begin(), p.target.end());
  c.call.index_target.data = narrow.data();
  c.call.index_dtype = fastloss::IndexDType::kInt32;
  EXPECT_EQ(fastloss::find_invalid_target(c.call).row, 15000);
}

TEST_P(CrossEntropyTest, ReductionIsBitwiseIdenticalForAnyThreadCount) {
  Problem<float> p = make_problem<float>(4099, 130, 17);
  Options o;
  o.smoothing = 0.1;
  Call<float> c;
  make_call(c, p, o);
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(1);
  std::vector<float> serial_grad(p.x.size()), grad(p.x.size());
  const MutableRowView serial_view{MutableView{serial_grad.data(), c.row_stride.data()}, 1};
  const double serial = fastloss::class_loss_forward_backward(c.call, Reduction::kMean, serial_view, {});
  for (int threads : {2, 3, 7}) {
    fastloss::set_num_threads(threads);
    const double parallel = fastloss::class_loss_forward_backward(
        c.call, Reduction::kMean, MutableRowView{MutableView{grad.data(), c.row_stride.data()}, 1}, {});
    EXPECT_EQ(std::memcmp(&serial, &parallel, sizeof(double)), 0) << threads << " threads";
    EXPECT_EQ(serial_grad, grad);
  }
  fastloss::set_num_threads(before);
}

FASTLOSS_INSTANTIATE_PER_TARGET(CrossEntropyTest);

}  // namespace
