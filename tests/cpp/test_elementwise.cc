// Elementwise losses on every supported SIMD target against a long-double reference:
// per-element loss, reductions, gradients and the fused pass; sizes around the vector
// widths, unaligned pointers, strided and broadcast operands (bitwise equal to the same
// operands materialised), thread-count determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/elementwise.hpp"
#include "fastloss/threading.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::DType;
using fastloss::ElementwiseCall;
using fastloss::ElementwiseLoss;
using fastloss::MutableView;
using fastloss::Reduction;
using fastloss::Shape;

struct Reference {
  long double loss;
  long double grad;
};

// The losses' definitions in long double (torch's formulas).
Reference reference(ElementwiseLoss loss, long double x, long double y, long double pw, bool has_pw) {
  switch (loss) {
    case ElementwiseLoss::binary_cross_entropy: {
      const long double lx = std::max(std::log(x), -100.0L);
      const long double l1mx = std::max(std::log1p(-x), -100.0L);
      return {(y - 1) * l1mx - y * lx, (x - y) / std::max((1 - x) * x, static_cast<long double>(1e-12f))};
    }
    case ElementwiseLoss::binary_cross_entropy_with_logits: {
      const long double ls = std::min(x, 0.0L) - std::log1p(std::exp(-std::fabs(x)));
      const long double s = 1 / (1 + std::exp(-x));
      const long double l = has_pw ? (pw - 1) * y + 1 : 1;
      const long double g = has_pw ? (pw * y + 1 - y) * s - pw * y : s - y;
      return {(1 - y) * x - l * ls, g};
    }
    case ElementwiseLoss::mse_loss:
      return {(x - y) * (x - y), 2 * (x - y)};
    default:
      return {0, 0};
  }
}

template <class T>
struct Data {
  std::vector<T> x, y, w, pw;
};

template <class T>
Data<T> make_data(ElementwiseLoss loss, size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.001, 0.999), logit(-30.0, 30.0), pos(0.1, 3.0);
  Data<T> d;
  for (size_t i = 0; i < n; ++i) {
    d.x.push_back(static_cast<T>(loss == ElementwiseLoss::binary_cross_entropy ? unit(rng) : logit(rng)));
    d.y.push_back(static_cast<T>(unit(rng)));
    d.w.push_back(static_cast<T>(pos(rng)));
    d.pw.push_back(static_cast<T>(pos(rng)));
  }
  return d;
}

using fastloss_test::dtype_of;
using fastloss_test::expect_close;

// Relative tolerance per element: the kernels' math is within a few ULP.
template <class T>
long double tolerance() {
  return sizeof(T) == 4 ? 2e-5L : 1e-12L;
}

class ElementwiseTest : public fastloss_test::PerTarget {};

template <class T>
void check_loss(ElementwiseLoss loss, size_t n, size_t offset, bool weighted, bool with_pw) {
  Data<T> d = make_data<T>(loss, n + offset, static_cast<unsigned>(n * 31 + offset));
  const int64_t extent = static_cast<int64_t>(n);
  const int64_t unit = 1;
  ElementwiseCall call;
  call.loss = loss;
  call.dtype = dtype_of<T>();
  call.shape = Shape{1, &extent};
  // offset shifts every pointer off its natural alignment.
  call.input = ConstView{d.x.data() + offset, &unit};
  call.target = ConstView{d.y.data() + offset, &unit};
  if (weighted) call.weight = ConstView{d.w.data() + offset, &unit};
  if (with_pw) {
    call.aux = ConstView{d.pw.data() + offset, &unit};
  }
  std::vector<T> per_element(n + 1), grad(n + 1), fused_grad(n + 1);
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{per_element.data(), &unit});
  const double sum = fastloss::elementwise_forward(call, Reduction::kSum, MutableView{});
  const double mean = fastloss::elementwise_forward(call, Reduction::kMean, MutableView{});
  fastloss::elementwise_backward(call, Reduction::kSum, ConstView{}, 0.5, MutableView{grad.data(), &unit});
  const double fused = fastloss::elementwise_forward_backward(call, Reduction::kSum,
                                                              MutableView{fused_grad.data(), &unit}, MutableView{});
  long double ref_sum = 0, ref_weight = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t j = i + offset;
    const long double w = weighted ? d.w[j] : 1.0L;
    const Reference r = reference(loss, d.x[j], d.y[j], d.pw[j], with_pw);
    expect_close(w * r.loss, per_element[i], tolerance<T>(), "loss", i);
    expect_close(0.5L * w * r.grad, grad[i], tolerance<T>(), "grad", i);
    expect_close(w * r.grad, fused_grad[i], tolerance<T>(), "fused grad", i);
    ref_sum += w * r.loss;
    ref_weight += w;
  }
  EXPECT_EQ(per_element[n], T(0)) << "wrote past the end";
  expect_close(ref_sum, sum, tolerance<T>(), "sum", n);
  expect_close(ref_sum, fused, tolerance<T>(), "fused sum", n);
  const long double denominator = weighted && fastloss::mean_divides_by_weight_sum(loss) ? ref_weight : n;
  if (n > 0) {
    expect_close(ref_sum / denominator, mean, tolerance<T>(), "mean", n);
  } else {
    EXPECT_TRUE(std::isnan(mean));
  }
}

const ElementwiseLoss kLosses[] = {ElementwiseLoss::binary_cross_entropy,
                                   ElementwiseLoss::binary_cross_entropy_with_logits,
                                   ElementwiseLoss::mse_loss};

TEST_P(ElementwiseTest, MatchesLongDoubleReferenceAcrossSizesAndAlignments) {
  for (ElementwiseLoss loss : kLosses) {
    for (size_t n : {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 49, 65, 1000, 20000}) {
      for (size_t offset : {0, 1, 3}) {
        for (bool weighted : {false, true}) {
          const bool pw = loss == ElementwiseLoss::binary_cross_entropy_with_logits && offset == 1;
          check_loss<float>(loss, n, offset, weighted, pw);
          check_loss<double>(loss, n, offset, weighted, pw);
        }
      }
    }
  }
}

TEST_P(ElementwiseTest, StridedAndBroadcastOperandsMatchContiguous) {
  // input is a transposed (rows, cols) view, pos_weight a (cols,) row broadcast over rows.
  const int64_t rows = 37, cols = 300;
  Data<float> d = make_data<float>(ElementwiseLoss::binary_cross_entropy_with_logits, rows * cols, 7);
  std::vector<float> xt(rows * cols), pw_row(d.pw.begin(), d.pw.begin() + cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) xt[c * rows + r] = d.x[r * cols + c];
  const int64_t shape[2] = {rows, cols};
  const int64_t contiguous[2] = {cols, 1}, transposed[2] = {1, rows}, broadcast[2] = {0, 1};
  std::vector<float> pw_full(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) pw_full[i] = pw_row[i % cols];

  ElementwiseCall dense;
  dense.loss = ElementwiseLoss::binary_cross_entropy_with_logits;
  dense.shape = Shape{2, shape};
  dense.input = ConstView{d.x.data(), contiguous};
  dense.target = ConstView{d.y.data(), contiguous};
  dense.aux = ConstView{pw_full.data(), contiguous};
  ElementwiseCall views = dense;
  views.input = ConstView{xt.data(), transposed};
  views.aux = ConstView{pw_row.data(), broadcast};

  EXPECT_EQ(fastloss::elementwise_forward(dense, Reduction::kSum, {}),
            fastloss::elementwise_forward(views, Reduction::kSum, {}));
  std::vector<float> g_dense(rows * cols), g_views(rows * cols);
  fastloss::elementwise_forward_backward(dense, Reduction::kMean, MutableView{g_dense.data(), contiguous}, {});
  // The strided output: gradient written through the transposed layout.
  fastloss::elementwise_forward_backward(views, Reduction::kMean, MutableView{g_views.data(), transposed}, {});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(g_dense[r * cols + c], g_views[c * rows + r]);
}

TEST_P(ElementwiseTest, ReductionIsBitwiseIdenticalForAnyThreadCount) {
  const int64_t n = 3 * 65536 + 123;
  Data<float> d = make_data<float>(ElementwiseLoss::mse_loss, n, 11);
  const int64_t unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::binary_cross_entropy_with_logits;
  call.shape = Shape{1, &n};
  call.input = ConstView{d.x.data(), &unit};
  call.target = ConstView{d.y.data(), &unit};
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(1);
  const double serial = fastloss::elementwise_forward(call, Reduction::kMean, {});
  for (int threads : {2, 3, 4, 7}) {
    fastloss::set_num_threads(threads);
    const double parallel = fastloss::elementwise_forward(call, Reduction::kMean, {});
    EXPECT_EQ(std::memcmp(&serial, &parallel, sizeof(double)), 0) << threads << " threads";
  }
  fastloss::set_num_threads(before);
}

TEST_P(ElementwiseTest, InPlaceGradientOverwritesInput) {
  const int64_t n = 10001;
  Data<double> d = make_data<double>(ElementwiseLoss::mse_loss, n, 5);
  std::vector<double> expected(n);
  const int64_t unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::mse_loss;
  call.dtype = DType::kFloat64;
  call.shape = Shape{1, &n};
  call.input = ConstView{d.x.data(), &unit};
  call.target = ConstView{d.y.data(), &unit};
  const double loss = fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{expected.data(), &unit}, {});
  const double in_place = fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{d.x.data(), &unit}, {});
  EXPECT_EQ(loss, in_place);
  EXPECT_EQ(expected, d.x);
}

TEST_P(ElementwiseTest, BinaryCrossEntropyCountsOutOfRangeValuesPerOperand) {
  const float nan = std::nanf("");
  std::vector<float> x = {0.5f, 1.5f, nan, 0.0f, 1.0f, -0.0f, 0.25f};
  std::vector<float> y = {0.5f, 0.5f, 0.5f, -0.1f, 1.0f, 0.0f, nan};
  const int64_t n = static_cast<int64_t>(x.size()), unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::binary_cross_entropy;
  call.shape = Shape{1, &n};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  const fastloss::InvalidValues bad = fastloss::elementwise_invalid_values(call);
  EXPECT_EQ(bad.input, 2);   // 1.5, NaN
  EXPECT_EQ(bad.target, 2);  // -0.1, NaN
  EXPECT_EQ(bad.aux, 0);
}

// Blocks whose targets are all 0 or 1 take one log per element (a variant of their own):
// their losses equal the two-log formula's bitwise, which the same elements give in blocks
// where some target is soft, and torch's clamped logs at 0, -0, 1 and subnormal x.
template <class T>
void check_hard_targets_match_soft_blocks() {
  const T tiny = std::numeric_limits<T>::min(), sub = std::numeric_limits<T>::denorm_min();
  const T eps = std::numeric_limits<T>::epsilon();
  const std::vector<T> special = {T(0), -T(0), T(1), tiny, tiny / 1024, sub, T(3.7e-44), T(1) - eps / 2, T(1) - eps,
                                  T(0.5), T(1e-30), eps, T(1e-7)};
  const int64_t n = 3 * 8192 + 77;  // several blocks and a partial one
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<T> x(n), hard(n), soft(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = i % static_cast<int64_t>(2 * special.size());
    x[i] = s < static_cast<int64_t>(special.size()) ? special[s] : static_cast<T>(std::pow(unit(rng), 1 + i % 40));
    hard[i] = static_cast<T>((i / 2) % 2);  // both targets for every special x
    soft[i] = i % 3 == 2 ? T(0.5) : hard[i];  // a soft target in every block
  }
  const int64_t unit_stride = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::binary_cross_entropy;
  call.dtype = dtype_of<T>();
  call.shape = Shape{1, &n};
  call.input = ConstView{x.data(), &unit_stride};
  std::vector<T> hard_loss(n), soft_loss(n), fused_grad(n);
  call.target = ConstView{hard.data(), &unit_stride};
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{hard_loss.data(), &unit_stride});
  const double hard_sum = fastloss::elementwise_forward(call, Reduction::kSum, MutableView{});
  const double fused_sum = fastloss::elementwise_forward_backward(call, Reduction::kSum,
                                                                  MutableView{fused_grad.data(), &unit_stride}, {});
  EXPECT_EQ(hard_sum, fused_sum);
  call.target = ConstView{soft.data(), &unit_stride};
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{soft_loss.data(), &unit_stride});
  long double ref_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Reference r = reference(ElementwiseLoss::binary_cross_entropy, x[i], hard[i], 0, false);
    expect_close(r.loss, hard_loss[i], tolerance<T>(), "hard-target loss", static_cast<size_t>(i));
    ref_sum += r.loss;
    if (soft[i] != hard[i]) continue;
    EXPECT_EQ(0, std::memcmp(&hard_loss[i], &soft_loss[i], sizeof(T)))
        << "x " << x[i] << " y " << hard[i] << ": " << hard_loss[i] << " vs " << soft_loss[i];
  }
  expect_close(ref_sum, hard_sum, tolerance<T>(), "hard-target sum", static_cast<size_t>(n));
}

TEST_P(ElementwiseTest, BinaryCrossEntropyOfHardTargetsEqualsTheTwoLogFormulaBitwise) {
  check_hard_targets_match_soft_blocks<float>();
  check_hard_targets_match_soft_blocks<double>();
}

TEST_P(ElementwiseTest, GaussianNllCountsNegativeVariances) {
  // A NaN var is not negative (torch's any(var < 0) passes it too).
  std::vector<double> x(6, 0.5), y(6, 0.25), var = {1.0, -1e-300, 0.0, std::nan(""), -2.0, 3.0};
  const int64_t n = 6, unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::gaussian_nll_loss;
  call.dtype = DType::kFloat64;
  call.shape = Shape{1, &n};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  call.aux = ConstView{var.data(), &unit};
  const fastloss::InvalidValues bad = fastloss::elementwise_invalid_values(call);
  EXPECT_EQ(bad.aux, 2);
  EXPECT_EQ(bad.input + bad.target, 0);
}

// kl_div's "batchmean": the sum over the first extent, for the loss, its gradient and the
// fused pass alike.
TEST_P(ElementwiseTest, BatchMeanDividesTheSumByTheFirstExtent) {
  const int64_t extents[2] = {4, 3}, strides[2] = {3, 1};
  std::vector<double> x(12), y(12), grad(12), fused(12), summed(12);
  for (int i = 0; i < 12; ++i) {
    x[i] = -0.1 * (i + 1);
    y[i] = 0.05 * (i + 1);
  }
  ElementwiseCall call;
  call.loss = ElementwiseLoss::kl_div;
  call.dtype = DType::kFloat64;
  call.shape = Shape{2, extents};
  call.input = ConstView{x.data(), strides};
  call.target = ConstView{y.data(), strides};
  const double sum = fastloss::elementwise_forward(call, Reduction::kSum, {});
  EXPECT_EQ(fastloss::elementwise_forward(call, Reduction::kBatchMean, {}), sum / 4);
  fastloss::elementwise_backward(call, Reduction::kBatchMean, {}, 2.0, MutableView{grad.data(), strides});
  fastloss::elementwise_backward(call, Reduction::kSum, {}, 0.5, MutableView{summed.data(), strides});
  EXPECT_EQ(grad, summed);
  EXPECT_EQ(fastloss::elementwise_forward_backward(call, Reduction::kBatchMean, MutableView{fused.data(), strides}, {}),
            sum / 4);
  for (int i = 0; i < 12; ++i) EXPECT_DOUBLE_EQ(fused[i], summed[i] / 2);
}

// Every result of one call: the forward of each reduction, the backward (with a grad_output
// array for "none"), and the fused pass, over contiguous (rows, cols) outputs.
// (As float64: each element converts exactly.)
template <class T>
std::vector<double> all_results(const ElementwiseCall& call, const T* grad_output) {
  const int64_t rows = call.shape.extents[0], cols = call.shape.extents[1], n = rows * cols;
  const int64_t contiguous[2] = {cols, 1};
  std::vector<double> results;
  std::vector<T> out(static_cast<size_t>(n)), grad(static_cast<size_t>(n));
  for (Reduction reduction : {Reduction::kNone, Reduction::kMean, Reduction::kSum}) {
    const bool none = reduction == Reduction::kNone;
    const MutableView out_view = none ? MutableView{out.data(), contiguous} : MutableView{};
    results.push_back(fastloss::elementwise_forward(call, reduction, out_view));
    if (none) results.insert(results.end(), out.begin(), out.end());
    fastloss::elementwise_backward(call, reduction, none ? ConstView{grad_output, contiguous} : ConstView{}, 0.75,
                                   MutableView{grad.data(), contiguous});
    results.insert(results.end(), grad.begin(), grad.end());
    results.push_back(
        fastloss::elementwise_forward_backward(call, reduction, MutableView{grad.data(), contiguous}, out_view));
    if (none) results.insert(results.end(), out.begin(), out.end());
    results.insert(results.end(), grad.begin(), grad.end());
  }
  return results;
}

// A (cols,) pos_weight and a (rows, 1) weight of BCE-with-logits, and MSE's (cols,) and
// (rows, 1) targets, against the same operands materialised: bitwise, for every result.
template <class T>
void check_broadcast_equals_materialised(int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  Data<T> d = make_data<T>(ElementwiseLoss::binary_cross_entropy_with_logits, static_cast<size_t>(n),
                           static_cast<unsigned>(rows * 7 + cols));
  const int64_t shape[2] = {rows, cols};
  const int64_t contiguous[2] = {cols, 1}, per_col[2] = {0, 1}, per_row[2] = {1, 0};
  std::vector<T> col_full(static_cast<size_t>(n)), row_full(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    col_full[static_cast<size_t>(i)] = d.pw[static_cast<size_t>(i % cols)];
    row_full[static_cast<size_t>(i)] = d.w[static_cast<size_t>(i / cols)];
  }
  ElementwiseCall full;
  full.dtype = dtype_of<T>();
  full.shape = Shape{2, shape};
  full.input = ConstView{d.x.data(), contiguous};
  ElementwiseCall views = full;

  full.loss = views.loss = ElementwiseLoss::binary_cross_entropy_with_logits;
  full.target = views.target = ConstView{d.y.data(), contiguous};
  full.aux = ConstView{col_full.data(), contiguous};
  full.weight = ConstView{row_full.data(), contiguous};
  views.aux = ConstView{d.pw.data(), per_col};
  views.weight = ConstView{d.w.data(), per_row};
  const std::vector<double> bce = all_results<T>(full, d.y.data());
  EXPECT_EQ(std::memcmp(bce.data(), all_results<T>(views, d.y.data()).data(), bce.size() * sizeof(double)), 0)
      << "BCE-with-logits " << rows << "x" << cols;

  full.loss = views.loss = ElementwiseLoss::mse_loss;
  full.aux = views.aux = ConstView{};
  full.weight = views.weight = ConstView{};
  for (bool by_col : {true, false}) {
    full.target = ConstView{by_col ? col_full.data() : row_full.data(), contiguous};
    views.target = ConstView{by_col ? d.pw.data() : d.w.data(), by_col ? per_col : per_row};
    const std::vector<double> mse = all_results<T>(full, d.y.data());
    EXPECT_EQ(std::memcmp(mse.data(), all_results<T>(views, d.y.data()).data(), mse.size() * sizeof(double)), 0)
        << "MSE " << (by_col ? "(cols,)" : "(rows, 1)") << " target " << rows << "x" << cols;
  }
}

TEST_P(ElementwiseTest, BroadcastOperandsEqualMaterialisedBitwise) {
  // Below, at and off the vector widths; within one chunk of 8192 elements, across several,
  // and rows longer than a chunk.
  const int64_t shapes[][2] = {{1, 1}, {3, 5}, {7, 16}, {5, 17}, {300, 37}, {64, 1024}, {3, 8192}, {2, 10001}};
  for (const auto& shape : shapes) {
    check_broadcast_equals_materialised<float>(shape[0], shape[1]);
    check_broadcast_equals_materialised<double>(shape[0], shape[1]);
  }
}

TEST_P(ElementwiseTest, BroadcastReductionIsBitwiseIdenticalForAnyThreadCount) {
  const int64_t rows = 1000, cols = 131, shape[2] = {rows, cols};
  const int64_t contiguous[2] = {cols, 1}, per_col[2] = {0, 1}, per_row[2] = {1, 0};
  Data<float> d = make_data<float>(ElementwiseLoss::binary_cross_entropy_with_logits, rows * cols, 13);
  ElementwiseCall call;
  call.loss = ElementwiseLoss::binary_cross_entropy_with_logits;
  call.shape = Shape{2, shape};
  call.input = ConstView{d.x.data(), contiguous};
  call.target = ConstView{d.y.data(), contiguous};
  call.aux = ConstView{d.pw.data(), per_col};
  call.weight = ConstView{d.w.data(), per_row};
  std::vector<float> grad(rows * cols), other(rows * cols);
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(1);
  const double serial = fastloss::elementwise_forward(call, Reduction::kMean, {});
  const double serial_fused =
      fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{grad.data(), contiguous}, {});
  for (int threads : {2, 3, 4, 7}) {
    fastloss::set_num_threads(threads);
    const double parallel = fastloss::elementwise_forward(call, Reduction::kMean, {});
    const double parallel_fused =
        fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{other.data(), contiguous}, {});
    EXPECT_EQ(std::memcmp(&serial, &parallel, sizeof(double)), 0) << threads << " threads";
    EXPECT_EQ(std::memcmp(&serial_fused, &parallel_fused, sizeof(double)), 0) << threads << " threads";
    EXPECT_EQ(grad, other) << threads << " threads";
  }
  fastloss::set_num_threads(before);
}

FASTLOSS_INSTANTIATE_PER_TARGET(ElementwiseTest);

}  // namespace
