// The gradient-boosting objectives' one-pass gradient and Hessian (elementwise_grad_hess, and
// class_loss_grad_hess for the multiclass ones) on every supported SIMD target: against a long-double reference of the second derivative
// (written in another algebraic form than the kernels'), bitwise against the backward pass's
// gradient, across sizes around the vector widths, unaligned and strided arrays, weights,
// the Hessian floor, margins of any magnitude and NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "fastloss/class_losses.hpp"
#include "fastloss/elementwise.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::ElementwiseCall;
using fastloss::ElementwiseLoss;
using fastloss::MutableView;
using fastloss::Shape;
using fastloss_test::dtype_of;

// The second derivative and the magnitude its error is measured against: the largest of the
// terms it sums (the focal Hessian cancels where it changes sign).
struct Curvature {
  long double hess;
  long double scale;
};

long double sigmoid(long double x) { return 1 / (1 + std::exp(-x)); }

// sigmoid_focal_loss's second derivative as d/dx of alpha_t (m ce' + ce m') with m = q^gamma
// taken by the power rule: m'' = gamma (gamma - 1) q^(gamma - 2) q'^2 + gamma q^(gamma - 1) q''.
Curvature focal(long double x, long double y, long double alpha, long double gamma) {
  const long double s = sigmoid(x), s_neg = sigmoid(-x), v = s * s_neg;
  const long double ce = y * std::log1p(std::exp(-x)) + (1 - y) * std::log1p(std::exp(x));
  const long double dce = (1 - y) * s - y * s_neg;  // s - y cancels for confident logits
  const long double q = y * s_neg + (1 - y) * s;
  const long double dq = (1 - 2 * y) * v;
  const long double d2q = (1 - 2 * y) * v * (s_neg - s);
  const long double m = std::pow(q, gamma);
  const long double dm = gamma * std::pow(q, gamma - 1) * dq;
  const long double d2m = gamma * (gamma - 1) * std::pow(q, gamma - 2) * dq * dq + gamma * std::pow(q, gamma - 1) * d2q;
  const long double alpha_t = alpha < 0 ? 1 : alpha * y + (1 - alpha) * (1 - y);
  const long double terms[3] = {m * v, 2 * dm * dce, ce * d2m};
  long double scale = 0;
  for (long double t : terms) scale = std::max(scale, std::fabs(alpha_t * t));
  return {alpha_t * (terms[0] + terms[1] + terms[2]), scale};
}

Curvature reference(ElementwiseLoss loss, const fastloss::ElementwiseOptions& o, long double x, long double y,
                    long double pos_weight, bool has_pos_weight) {
  long double h = 0;
  switch (loss) {
    case ElementwiseLoss::binary_cross_entropy_with_logits:
      h = sigmoid(x) * sigmoid(-x) * (has_pos_weight ? pos_weight * y + 1 - y : 1);
      break;
    case ElementwiseLoss::sigmoid_focal_loss:
      return focal(x, y, o.alpha, o.gamma);
    case ElementwiseLoss::mse_loss:
      h = 2;
      break;
    case ElementwiseLoss::huber_loss:
      h = std::fabs(x - y) < o.delta ? 1 : 0;
      break;
    case ElementwiseLoss::smooth_l1_loss:
      h = std::fabs(x - y) < o.beta ? 1 / static_cast<long double>(o.beta) : 0;
      break;
    case ElementwiseLoss::poisson_nll_loss:
      h = o.log_input ? std::exp(x) : y / ((x + o.eps) * (x + o.eps));
      break;
    case ElementwiseLoss::soft_margin_loss:
      h = y * y * sigmoid(y * x) * sigmoid(-y * x);
      break;
    default:
      throw std::logic_error("no reference");
  }
  return {h, std::fabs(h)};
}

struct Case {
  ElementwiseLoss loss;
  fastloss::ElementwiseOptions options;
  double lo, hi;  // the margins drawn
  bool pos_weight;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  fastloss::ElementwiseOptions o;
  c.push_back({ElementwiseLoss::binary_cross_entropy_with_logits, o, -30, 30, false});
  c.push_back({ElementwiseLoss::binary_cross_entropy_with_logits, o, -30, 30, true});
  c.push_back({ElementwiseLoss::sigmoid_focal_loss, o, -20, 20, false});  // alpha 0.25, gamma 2
  o.gamma = 1.5;
  c.push_back({ElementwiseLoss::sigmoid_focal_loss, o, -20, 20, false});
  o.alpha = -1.0;
  o.gamma = 0.0;
  c.push_back({ElementwiseLoss::sigmoid_focal_loss, o, -20, 20, false});
  o = fastloss::ElementwiseOptions{};
  c.push_back({ElementwiseLoss::mse_loss, o, -5, 5, false});
  o.delta = 0.7;
  c.push_back({ElementwiseLoss::huber_loss, o, -3, 3, false});
  o.beta = 0.5;
  c.push_back({ElementwiseLoss::smooth_l1_loss, o, -3, 3, false});
  c.push_back({ElementwiseLoss::poisson_nll_loss, o, -10, 10, false});
  o.log_input = false;
  c.push_back({ElementwiseLoss::poisson_nll_loss, o, 0.1, 10, false});
  c.push_back({ElementwiseLoss::soft_margin_loss, fastloss::ElementwiseOptions{}, -30, 30, false});
  return c;
}

template <class T>
struct Data {
  std::vector<T> x, y, w, pw;
};

template <class T>
Data<T> make_data(const Case& c, size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> margin(c.lo, c.hi), unit(0.0, 1.0), pos(0.1, 3.0), count(0.0, 6.0);
  Data<T> d;
  for (size_t i = 0; i < n; ++i) {
    d.x.push_back(static_cast<T>(margin(rng)));
    double y = unit(rng);
    if (c.loss == ElementwiseLoss::soft_margin_loss) y = y < 0.5 ? -1.0 : 1.0;
    if (c.loss == ElementwiseLoss::poisson_nll_loss) y = std::floor(count(rng));
    if (c.loss == ElementwiseLoss::binary_cross_entropy_with_logits || c.loss == ElementwiseLoss::sigmoid_focal_loss)
      y = i % 3 == 0 ? y : (y < 0.5 ? 0.0 : 1.0);  // hard labels and soft ones
    d.y.push_back(static_cast<T>(y));
    d.w.push_back(static_cast<T>(pos(rng)));
    d.pw.push_back(static_cast<T>(pos(rng)));
  }
  return d;
}

template <class T>
long double tolerance() {
  return sizeof(T) == 4 ? 3e-5L : 1e-11L;
}

class ObjectiveTest : public fastloss_test::PerTarget {};

template <class T>
void check_case(const Case& c, size_t n, size_t offset, bool weighted) {
  const Data<T> d = make_data<T>(c, n + offset, static_cast<unsigned>(n * 7 + offset));
  const int64_t extent = static_cast<int64_t>(n);
  const int64_t unit = 1;
  ElementwiseCall call;
  call.loss = c.loss;
  call.dtype = dtype_of<T>();
  call.shape = Shape{1, &extent};
  call.input = ConstView{d.x.data() + offset, &unit};
  call.target = ConstView{d.y.data() + offset, &unit};
  if (weighted) call.weight = ConstView{d.w.data() + offset, &unit};
  if (c.pos_weight) call.aux = ConstView{d.pw.data() + offset, &unit};
  call.options = c.options;
  std::vector<T> grad(n + 1), hess(n + 1), backward(n + 1);
  const std::vector<T> ones(n + 1, T(1));
  // No floor (-inf): the true Hessian, negative values included.
  fastloss::elementwise_grad_hess(call, -std::numeric_limits<double>::infinity(), MutableView{grad.data(), &unit},
                                  MutableView{hess.data(), &unit});
  fastloss::elementwise_backward(call, fastloss::Reduction::kNone, ConstView{ones.data(), &unit}, 1.0,
                                 MutableView{backward.data(), &unit});
  for (size_t i = 0; i < n; ++i) {
    const size_t j = i + offset;
    const long double w = weighted ? d.w[j] : 1.0L;
    const Curvature r = reference(c.loss, c.options, d.x[j], d.y[j], d.pw[j], c.pos_weight);
    const long double bound = tolerance<T>() * std::max(w * r.scale, static_cast<long double>(std::numeric_limits<T>::min()));
    EXPECT_LE(std::fabs(w * r.hess - hess[i]), bound)
        << "hess at " << i << " x=" << d.x[j] << " y=" << d.y[j] << ": expected " << static_cast<double>(w * r.hess)
        << " got " << hess[i];
    EXPECT_EQ(std::memcmp(&grad[i], &backward[i], sizeof(T)), 0) << "grad at " << i << " differs from backward's";
  }
  EXPECT_EQ(hess[n], T(0)) << "wrote past the end";
  EXPECT_EQ(grad[n], T(0)) << "wrote past the end";
}

TEST_P(ObjectiveTest, MatchesLongDoubleReferenceAndTheBackwardGradient) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(static_cast<int>(c.loss));
    for (size_t n : {0, 1, 7, 16, 33, 100, 20000}) {
      for (size_t offset : {0, 1}) {
        for (bool weighted : {false, true}) {
          check_case<float>(c, n, offset, weighted);
          check_case<double>(c, n, offset, weighted);
        }
      }
    }
  }
}

template <class T>
void check_extremes() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T big = std::numeric_limits<T>::max();
  const std::vector<T> x = {-big, T(-1e30), T(-800), T(-90), T(90), T(800), T(1e30), big, nan};
  const std::vector<T> y = {1, 0, 1, 1, 0, 1, 0, 0, 1};
  const int64_t extent = static_cast<int64_t>(x.size());
  const int64_t unit = 1;
  // (mse_loss's gradient 2 (x - y) and Poisson's exp(x) overflow with the margin: their true values do.)
  for (ElementwiseLoss loss : {ElementwiseLoss::binary_cross_entropy_with_logits, ElementwiseLoss::sigmoid_focal_loss,
                               ElementwiseLoss::huber_loss, ElementwiseLoss::smooth_l1_loss,
                               ElementwiseLoss::soft_margin_loss}) {
    ElementwiseCall call;
    call.loss = loss;
    call.dtype = dtype_of<T>();
    call.shape = Shape{1, &extent};
    call.input = ConstView{x.data(), &unit};
    call.target = ConstView{y.data(), &unit};
    std::vector<T> grad(x.size()), hess(x.size());
    fastloss::elementwise_grad_hess(call, 1e-16, MutableView{grad.data(), &unit}, MutableView{hess.data(), &unit});
    for (size_t i = 0; i < x.size(); ++i) {
      SCOPED_TRACE(static_cast<int>(loss));
      EXPECT_EQ(std::isnan(hess[i]), std::isnan(x[i])) << "hess at x=" << x[i] << ": " << hess[i];
      EXPECT_EQ(std::isnan(grad[i]), std::isnan(x[i])) << "grad at x=" << x[i] << ": " << grad[i];
      if (!std::isnan(x[i])) {
        EXPECT_TRUE(std::isfinite(hess[i])) << "hess at x=" << x[i];
        EXPECT_GE(hess[i], static_cast<T>(1e-16)) << "the floor at x=" << x[i];
      }
    }
  }
}

TEST_P(ObjectiveTest, HugeMarginsStayFiniteAndNaNComesOnlyFromNaN) {
  check_extremes<float>();
  check_extremes<double>();
}

TEST_P(ObjectiveTest, TheFloorBoundsNegativeHessiansAndStridedOutputsMatchContiguous) {
  // sigmoid_focal_loss's true Hessian is negative for confidently wrong logits.
  const std::vector<double> x = {-3.5, -4.0, -5.0, 3.5, 4.0, 0.5};
  const std::vector<double> y = {1, 1, 1, 0, 0, 1};
  const int64_t extent = 6, unit = 1, two = 2;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::sigmoid_focal_loss;
  call.dtype = fastloss::DType::kFloat64;
  call.shape = Shape{1, &extent};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  std::vector<double> grad(6), hess(6), grad_strided(12, -7.0), hess_strided(12, -7.0);
  fastloss::elementwise_grad_hess(call, -std::numeric_limits<double>::infinity(), MutableView{grad.data(), &unit}, MutableView{hess.data(), &unit});
  EXPECT_LT(*std::min_element(hess.begin(), hess.end()), 0.0) << "expected a negative true Hessian";
  fastloss::elementwise_grad_hess(call, 1e-6, MutableView{grad_strided.data(), &two},
                                  MutableView{hess_strided.data(), &two});
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(grad_strided[2 * i], grad[i]);
    EXPECT_EQ(hess_strided[2 * i], std::max(hess[i], 1e-6));
    EXPECT_EQ(grad_strided[2 * i + 1], -7.0) << "wrote between the strided elements";
    EXPECT_EQ(hess_strided[2 * i + 1], -7.0) << "wrote between the strided elements";
  }
}

TEST_P(ObjectiveTest, LossesWithoutAHessianAreRefused) {
  EXPECT_FALSE(fastloss::has_hessian(ElementwiseLoss::l1_loss));
  EXPECT_TRUE(fastloss::has_hessian(ElementwiseLoss::binary_cross_entropy_with_logits));
  ElementwiseCall call;
  call.loss = ElementwiseLoss::l1_loss;
  EXPECT_THROW(fastloss::elementwise_grad_hess(call, 0.0, MutableView{}, MutableView{}), std::invalid_argument);
}

FASTLOSS_INSTANTIATE_PER_TARGET(ObjectiveTest);

// --- multiclass: class_loss_grad_hess -------------------------------------------------------

using fastloss::ClassLoss;
using fastloss::ClassLossCall;
using fastloss::MutableRowView;
using fastloss::RowShape;
using fastloss::RowView;

struct ClassCase {
  ClassLoss loss;
  double label_smoothing;
  double gamma;
  bool class_weights;
  bool per_class_alpha;
};

// One row's Hessian diagonal in long double, by the chain rule on l(L), L = log p_t = x_t - lse:
// d^2 l / dx_j^2 = l''(L) ([j == t] - p_j)^2 - l'(L) p_j (1 - p_j), with the focal factor
// m = (1 - p)^gamma differentiated by the power rule (another form than the kernel's); for
// cross_entropy with label smoothing, sum_c v_c p_j (1 - p_j).
std::vector<long double> class_hess_reference(const ClassCase& c, const long double* x, int64_t C, int64_t t,
                                              const std::vector<long double>& w, long double alpha_t) {
  long double max = x[0];
  for (int64_t j = 1; j < C; ++j) max = std::max(max, x[j]);
  long double sum = 0;
  for (int64_t j = 0; j < C; ++j) sum += std::exp(x[j] - max);
  std::vector<long double> p(static_cast<size_t>(C)), h(static_cast<size_t>(C));
  for (int64_t j = 0; j < C; ++j) p[j] = std::exp(x[j] - max) / sum;
  if (c.loss == ClassLoss::kCrossEntropy) {
    long double mass = (1 - c.label_smoothing) * w[t];
    for (int64_t j = 0; j < C; ++j) mass += c.label_smoothing / C * w[j];
    for (int64_t j = 0; j < C; ++j) h[j] = mass * p[j] * (1 - p[j]);
    return h;
  }
  const long double g = c.gamma, pt = p[t], q = 1 - pt, L = std::log(pt), A = w[t] * alpha_t;
  const long double m = std::pow(q, g), dm = -g * pt * std::pow(q, g - 1);
  const long double d2m = g * (g - 1) * pt * pt * std::pow(q, g - 2) - g * pt * std::pow(q, g - 1);
  const long double d1 = -A * (dm * L + m), d2 = -A * (d2m * L + 2 * dm);
  for (int64_t j = 0; j < C; ++j) {
    const long double d = (j == t ? 1 : 0) - p[j];
    h[j] = d2 * d * d - d1 * p[j] * (1 - p[j]);
  }
  return h;
}

template <class T>
struct ClassProblem {
  int64_t rows, classes;
  std::vector<T> x, w, alpha, sample_weight;
  std::vector<int64_t> target;
  std::vector<int64_t> row_extent, row_stride, unit;
  ClassLossCall call;

  ClassProblem(const ClassCase& c, int64_t n, int64_t C, unsigned seed) : rows(n), classes(C) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> logit(0.0, 4.0);
    std::uniform_real_distribution<double> pos(0.2, 2.0);
    for (int64_t i = 0; i < n * C; ++i) x.push_back(static_cast<T>(logit(rng)));
    for (int64_t i = 0; i < C; ++i) {
      w.push_back(static_cast<T>(pos(rng)));
      alpha.push_back(static_cast<T>(pos(rng)));
    }
    for (int64_t r = 0; r < n; ++r) {
      target.push_back(r % 11 == 5 ? -100 : static_cast<int64_t>(rng() % static_cast<unsigned>(C)));
      sample_weight.push_back(static_cast<T>(pos(rng)));
    }
    row_extent = {n};
    row_stride = {C};
    unit = {1};
    call.loss = c.loss;
    call.dtype = dtype_of<T>();
    call.shape = RowShape{Shape{1, row_extent.data()}, C};
    call.input = RowView{ConstView{x.data(), row_stride.data()}, 1};
    call.index_target = ConstView{target.data(), unit.data()};
    if (c.class_weights) call.weight = w.data();
    if (c.per_class_alpha) call.alpha = alpha.data();
    call.options.label_smoothing = c.label_smoothing;
    call.options.gamma = c.gamma;
    call.options.alpha = 0.75;
  }

  MutableRowView rows_of(std::vector<T>& v, const int64_t* stride, int64_t elem_stride) const {
    return MutableRowView{MutableView{v.data(), stride}, elem_stride};
  }
};

std::vector<ClassCase> class_cases() {
  return {{ClassLoss::kCrossEntropy, 0.0, 0.0, false, false},  {ClassLoss::kCrossEntropy, 0.1, 0.0, true, false},
          {ClassLoss::kSoftmaxFocal, 0.0, 2.0, false, false},  {ClassLoss::kSoftmaxFocal, 0.0, 0.5, true, true},
          {ClassLoss::kSoftmaxFocal, 0.0, 0.0, false, false},  {ClassLoss::kSoftmaxFocal, 0.0, 3.5, true, false}};
}

template <class T>
void check_class_case(const ClassCase& c, int64_t n, int64_t C) {
  ClassProblem<T> p(c, n, C, static_cast<unsigned>(n * 31 + C));
  std::vector<T> grad(static_cast<size_t>(n * C + 1)), hess(grad.size()), backward(grad.size());
  fastloss::class_loss_grad_hess(p.call, ConstView{p.sample_weight.data(), p.unit.data()},
                                 -std::numeric_limits<double>::infinity(), p.rows_of(grad, p.row_stride.data(), 1),
                                 p.rows_of(hess, p.row_stride.data(), 1));
  fastloss::class_loss_backward(p.call, fastloss::Reduction::kNone, ConstView{p.sample_weight.data(), p.unit.data()},
                                1.0, p.rows_of(backward, p.row_stride.data(), 1));
  std::vector<long double> w(static_cast<size_t>(C), 1.0L), row(static_cast<size_t>(C));
  if (c.class_weights)
    for (int64_t j = 0; j < C; ++j) w[j] = p.w[j];
  for (int64_t r = 0; r < n; ++r) {
    const int64_t t = p.target[r];
    for (int64_t j = 0; j < C; ++j) row[j] = p.x[r * C + j];
    std::vector<long double> ref(static_cast<size_t>(C), 0.0L);
    if (t >= 0) ref = class_hess_reference(c, row.data(), C, t, w, c.per_class_alpha ? p.alpha[t] : 0.75L);
    long double scale = 0;  // the focal Hessian cancels: measure against the row's largest term
    for (int64_t j = 0; j < C; ++j) scale = std::max(scale, std::fabs(ref[j]));
    for (int64_t j = 0; j < C; ++j) {
      const size_t i = static_cast<size_t>(r * C + j);
      const long double expected = p.sample_weight[r] * ref[j];
      EXPECT_LE(std::fabs(expected - hess[i]), tolerance<T>() * std::max(1.0L, p.sample_weight[r] * scale))
          << "hess row " << r << " class " << j << " (target " << t << "): expected " << static_cast<double>(expected)
          << " got " << hess[i];
      EXPECT_EQ(std::memcmp(&grad[i], &backward[i], sizeof(T)), 0) << "grad at " << i << " differs from backward's";
    }
  }
  EXPECT_EQ(hess[static_cast<size_t>(n * C)], T(0)) << "wrote past the end";
}

class MulticlassObjectiveTest : public fastloss_test::PerTarget {};

TEST_P(MulticlassObjectiveTest, MatchesLongDoubleReferenceAndTheBackwardGradient) {
  // 3 to 64 classes run the transposed tiles, 65 and more the row kernel.
  for (const ClassCase& c : class_cases()) {
    SCOPED_TRACE(static_cast<int>(c.loss) * 100 + static_cast<int>(c.gamma * 10));
    for (int64_t C : {2, 3, 10, 64, 65, 300}) {
      for (int64_t n : {1, 17, 40}) {
        check_class_case<float>(c, n, C);
        check_class_case<double>(c, n, C);
      }
    }
  }
}

template <class T>
void check_class_extremes(ClassLoss loss, int64_t C) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  // Rows: confidently right, confidently wrong, ties of huge logits, -1e30 and 1e30, one NaN.
  const int64_t n = 5;
  std::vector<T> x(static_cast<size_t>(n * C), T(0));
  x[0 * C + 0] = T(1e30);
  x[1 * C + 1] = T(1e30);
  for (int64_t j = 0; j < C; ++j) x[2 * C + j] = T(1e30);
  // (Not -big and big: log p_t = -inf, where softmax_focal_loss's gradient is NaN as torch's
  // autograd of its definition.)
  x[3 * C + 0] = T(-1e30);
  x[3 * C + 1] = T(1e30);
  x[4 * C + 1] = nan;
  std::vector<int64_t> target = {0, 0, 1, 0, 0};
  const int64_t extent = n, unit = 1;
  ClassLossCall call;
  call.loss = loss;
  call.dtype = dtype_of<T>();
  call.shape = RowShape{Shape{1, &extent}, C};
  call.input = RowView{ConstView{x.data(), &C}, 1};
  call.index_target = ConstView{target.data(), &unit};
  std::vector<T> grad(x.size()), hess(x.size());
  fastloss::class_loss_grad_hess(call, ConstView{}, 1e-16, MutableRowView{MutableView{grad.data(), &C}, 1},
                                 MutableRowView{MutableView{hess.data(), &C}, 1});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < C; ++j) {
      const size_t i = static_cast<size_t>(r * C + j);
      const bool nan_row = r == 4;
      EXPECT_EQ(std::isnan(hess[i]), nan_row) << "hess row " << r << " class " << j << ": " << hess[i];
      EXPECT_EQ(std::isnan(grad[i]), nan_row) << "grad row " << r << " class " << j << ": " << grad[i];
      if (!nan_row) {
        EXPECT_TRUE(std::isfinite(hess[i])) << "row " << r << " class " << j;
        EXPECT_GE(hess[i], static_cast<T>(1e-16)) << "the floor, row " << r << " class " << j;
      }
    }
  }
}

TEST_P(MulticlassObjectiveTest, HugeMarginsStayFiniteAndNaNComesOnlyFromNaN) {
  for (ClassLoss loss : {ClassLoss::kCrossEntropy, ClassLoss::kSoftmaxFocal}) {
    for (int64_t C : {3, 100}) {
      check_class_extremes<float>(loss, C);
      check_class_extremes<double>(loss, C);
    }
  }
}

TEST_P(MulticlassObjectiveTest, StridedOutputsMatchContiguousAndNllLossIsRefused) {
  const ClassCase c{ClassLoss::kSoftmaxFocal, 0.0, 2.0, true, false};
  for (int64_t C : {10, 70}) {
    ClassProblem<double> p(c, 9, C, 3);
    std::vector<double> grad(static_cast<size_t>(9 * C)), hess(grad.size());
    // Class-major outputs: row stride 1, class stride 9.
    std::vector<double> grad_t(grad.size(), -7.0), hess_t(grad.size(), -7.0);
    const int64_t one = 1;
    fastloss::class_loss_grad_hess(p.call, ConstView{}, 0.0, p.rows_of(grad, p.row_stride.data(), 1),
                                   p.rows_of(hess, p.row_stride.data(), 1));
    fastloss::class_loss_grad_hess(p.call, ConstView{}, 0.0, p.rows_of(grad_t, &one, 9), p.rows_of(hess_t, &one, 9));
    for (int64_t r = 0; r < 9; ++r) {
      for (int64_t j = 0; j < C; ++j) {
        EXPECT_EQ(grad[r * C + j], grad_t[j * 9 + r]);
        EXPECT_EQ(hess[r * C + j], hess_t[j * 9 + r]);
      }
    }
  }
  ClassProblem<double> p(c, 2, 3, 5);
  p.call.loss = ClassLoss::kNllLoss;
  EXPECT_THROW(fastloss::class_loss_grad_hess(p.call, ConstView{}, 0.0, MutableRowView{}, MutableRowView{}),
               std::invalid_argument);
}

FASTLOSS_INSTANTIATE_PER_TARGET(MulticlassObjectiveTest);

}  // namespace
