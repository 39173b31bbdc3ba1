// The regression (L1, smooth L1, Huber, Poisson NLL, Gaussian NLL), divergence (KL), margin
// (soft margin, hinge embedding, margin ranking) and focal kernels on every supported SIMD
// target against long-double references: per-element loss and gradient, the fused pass, and
// the reductions, for every option, sizes around the vector widths and unaligned pointers.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastloss/elementwise.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::DType;
using fastloss::ElementwiseCall;
using fastloss::ElementwiseLoss;
using fastloss::MutableView;
using fastloss::Reduction;
using fastloss::Shape;
using LD = long double;

struct Reference {
  LD loss;
  LD grad;
};

LD sigmoid(LD x) { return 1 / (1 + std::exp(-x)); }
LD softplus(LD x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
LD sign(LD x) { return (x > 0) - (x < 0); }

// One loss with one set of options: the operands' ranges and the definition in long double.
struct Case {
  std::string name;
  ElementwiseLoss loss;
  fastloss::ElementwiseOptions options;
  bool uses_aux;
  std::function<double(std::mt19937&)> x, y, aux;
  std::function<Reference(LD x, LD y, LD aux)> reference;
};

std::function<double(std::mt19937&)> uniform(double lo, double hi) {
  return [=](std::mt19937& rng) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
}
std::function<double(std::mt19937&)> choice(std::vector<double> values) {
  return [=](std::mt19937& rng) { return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)]; };
}

// The default options with `set` applied.
fastloss::ElementwiseOptions options(const std::function<void(fastloss::ElementwiseOptions&)>& set) {
  fastloss::ElementwiseOptions o;
  set(o);
  return o;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  const auto none = uniform(0, 0);
  c.push_back({"l1", ElementwiseLoss::l1_loss, {}, false, uniform(-3, 3), uniform(-3, 3), none,
               [](LD x, LD y, LD) { return Reference{std::fabs(x - y), sign(x - y)}; }});
  for (double beta : {0.0, 0.5, 2.0}) {
    c.push_back({"smooth_l1", ElementwiseLoss::smooth_l1_loss, options([=](auto& o) { o.beta = beta; }), false, uniform(-3, 3), uniform(-3, 3), none,
                 [beta](LD x, LD y, LD) {
                   const LD d = x - y;
                   if (std::fabs(d) < beta) return Reference{0.5L * d * d / beta, d / beta};
                   return Reference{std::fabs(d) - 0.5L * beta, sign(d)};
                 }});
  }
  for (double delta : {0.3, 1.0, 2.5}) {
    c.push_back({"huber", ElementwiseLoss::huber_loss, options([=](auto& o) { o.delta = delta; }), false, uniform(-3, 3), uniform(-3, 3), none,
                 [delta](LD x, LD y, LD) {
                   const LD d = x - y;
                   if (std::fabs(d) < delta) return Reference{0.5L * d * d, d};
                   return Reference{delta * (std::fabs(d) - 0.5L * delta), delta * sign(d)};
                 }});
  }
  for (bool log_input : {true, false}) {
    for (bool full : {false, true}) {
      const double eps = 1e-8;
      c.push_back({"poisson", ElementwiseLoss::poisson_nll_loss, options([=](auto& o) { o.log_input = log_input; o.full = full; o.eps = eps; }), false,
                   log_input ? uniform(-5, 5) : uniform(0.01, 5), choice({0, 0.5, 1, 1.5, 2, 3, 7}), none,
                   [=](LD x, LD y, LD) {
                     Reference r = log_input ? Reference{std::exp(x) - y * x, std::exp(x) - y}
                                             : Reference{x - y * std::log(x + eps), 1 - y / (x + eps)};
                     if (full && y > 1) r.loss += y * std::log(y) - y + 0.5L * std::log(2 * M_PIl * y);
                     return r;
                   }});
    }
  }
  for (bool full : {false, true}) {
    for (bool wrt_var : {false, true}) {
      const double eps = 1e-6;
      c.push_back({"gaussian", ElementwiseLoss::gaussian_nll_loss, options([=](auto& o) { o.full = full; o.eps = eps; o.var_gradient = wrt_var; }), true,
                   uniform(-3, 3), uniform(-3, 3), choice({1e-9, 0.01, 0.5, 1, 4}),
                   [=](LD x, LD y, LD var) {
                     const LD v = std::max(var, static_cast<LD>(eps));
                     const LD d = x - y;
                     const LD loss = 0.5L * (std::log(v) + d * d / v) + (full ? 0.5L * std::log(2 * M_PIl) : 0);
                     return Reference{loss, wrt_var ? 0.5L * (1 / v - d * d / (v * v)) : d / v};
                   }});
    }
  }
  for (bool log_target : {false, true}) {
    c.push_back({"kl_div", ElementwiseLoss::kl_div, options([=](auto& o) { o.log_target = log_target; }), false, uniform(-8, 0),
                 log_target ? uniform(-8, 0) : choice({0, 1e-6, 0.1, 0.5, 1}), none, [=](LD x, LD y, LD) {
                   if (log_target) return Reference{std::exp(y) * (y - x), -std::exp(y)};
                   return Reference{(y == 0 ? 0 : y * std::log(y)) - y * x, -y};
                 }});
  }
  c.push_back({"log_cosh", ElementwiseLoss::log_cosh_loss, {}, false, choice({-300, -40, -3, -1, -0.999, 1e-3, 0.5}),
               choice({0, 1e-30, 1e-6, 0.75, 2}), none,
               [](LD x, LD y, LD) {
                 const LD half_sinh = std::sinh((x - y) / 2);
                 return Reference{std::log1p(2 * half_sinh * half_sinh), std::tanh(x - y)};
               }});
  c.push_back({"soft_margin", ElementwiseLoss::soft_margin_loss, {}, false, uniform(-40, 40), choice({-1, 1}), none,
               [](LD x, LD y, LD) { return Reference{softplus(-y * x), -y * sigmoid(-y * x)}; }});
  for (double margin : {0.0, 1.0}) {
    c.push_back({"hinge", ElementwiseLoss::hinge_embedding_loss, options([=](auto& o) { o.margin = margin; }), false, uniform(-3, 3),
                 choice({-1, 1, 0.5}), none, [=](LD x, LD y, LD) {
                   const LD slack = margin - x;
                   Reference r{0, 0};
                   if (y != 1) r = {std::max(slack, 0.0L), slack >= 0 ? -1.0L : 0.0L};
                   if (y != -1) r = {r.loss + x, r.grad + 1};
                   return r;
                 }});
    c.push_back({"margin_ranking", ElementwiseLoss::margin_ranking_loss, options([=](auto& o) { o.margin = margin; }), true, uniform(-3, 3),
                 choice({-1, 1}), uniform(-3, 3), [=](LD x1, LD y, LD x2) {
                   const LD arg = -y * (x1 - x2) + margin;
                   return Reference{std::max(arg, 0.0L), arg >= 0 ? -y : 0.0L};
                 }});
  }
  // Targets outside [0, 1] can make 1 - p_t negative; there q^gamma is real for an integer
  // gamma only (and ill-conditioned near q = 0 for the others), so those take integer gammas.
  for (double alpha : {0.25, -1.0}) {
    for (double gamma : {0.0, 0.5, 1.0, 2.0, 3.0}) {
      const bool integer_gamma = gamma == std::floor(gamma);
      const auto targets = integer_gamma ? choice({-1, -0.5, 0, 0.3, 1, 1.5, 2}) : choice({0, 1, 0.3});
      c.push_back({"focal", ElementwiseLoss::sigmoid_focal_loss, options([=](auto& o) { o.alpha = alpha; o.gamma = gamma; }), false, uniform(-30, 30),
                   targets, none, [=](LD x, LD y, LD) {
                     const LD s = sigmoid(x), s_neg = sigmoid(-x);
                     const LD ce = y * softplus(-x) + (1 - y) * softplus(x);
                     const LD q = y * s_neg + (1 - y) * s;
                     const LD alpha_t = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1;
                     const LD m = std::pow(q, static_cast<LD>(gamma));
                     const LD dq = (1 - 2 * y) * s * s_neg;
                     const LD dm = gamma == 0 ? 0 : gamma * std::pow(q, static_cast<LD>(gamma) - 1) * dq;
                     return Reference{alpha_t * ce * m, alpha_t * ((s - y) * m + ce * dm)};
                   }});
    }
  }
  return c;
}

// The ULP contract: each element within kUlps units in the last place of the reference
// (relative to max(1, |reference|) for values that are sums of terms of different sizes).
template <class T>
void expect_ulps(LD expected, T actual, const std::string& what) {
  constexpr LD kUlps = 64;
  const LD eps = std::numeric_limits<T>::epsilon();
  const LD scale = std::max(std::fabs(expected), static_cast<LD>(std::numeric_limits<T>::min()) * 1e6L);
  EXPECT_LE(std::fabs(expected - actual), kUlps * eps * std::max(scale, 1.0L))
      << what << ": expected " << static_cast<double>(expected) << " got " << static_cast<double>(actual);
}

template <class T>
void check_case(const Case& c, size_t n, size_t offset) {
  std::mt19937 rng(static_cast<unsigned>(n * 7 + offset));
  std::vector<T> x(n + offset), y(n + offset), a(n + offset), w(n + offset);
  for (size_t i = 0; i < n + offset; ++i) {
    x[i] = static_cast<T>(c.x(rng));
    y[i] = static_cast<T>(c.y(rng));
    a[i] = static_cast<T>(c.aux(rng));
    w[i] = static_cast<T>(uniform(0.5, 2)(rng));
  }
  const int64_t extent = static_cast<int64_t>(n), unit = 1;
  ElementwiseCall call;
  call.loss = c.loss;
  call.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  call.shape = Shape{1, &extent};
  call.input = ConstView{x.data() + offset, &unit};
  call.target = ConstView{y.data() + offset, &unit};
  call.weight = ConstView{w.data() + offset, &unit};
  if (c.uses_aux) call.aux = ConstView{a.data() + offset, &unit};
  call.options = c.options;

  std::vector<T> loss(n), grad(n), fused(n);
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{loss.data(), &unit});
  fastloss::elementwise_backward(call, Reduction::kSum, {}, 1.0, MutableView{grad.data(), &unit});
  const double sum = fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{fused.data(), &unit}, {});
  LD ref_sum = 0, ref_abs = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t j = i + offset;
    const Reference r = c.reference(x[j], y[j], a[j]);
    const LD wj = w[j];
    const std::string at = c.name + " element " + std::to_string(i);
    expect_ulps<T>(wj * r.loss, loss[i], at + " loss");
    expect_ulps<T>(wj * r.grad, grad[i], at + " grad");
    EXPECT_EQ(grad[i], fused[i]) << at << ": fused gradient differs";
    ref_sum += wj * r.loss;
    ref_abs += std::fabs(wj * r.loss);
  }
  EXPECT_LE(std::fabs(ref_sum - sum), 64 * std::numeric_limits<T>::epsilon() * std::max(ref_abs, 1.0L)) << c.name;
}

// The backward pass and the fused pass write the same gradient, bit for bit, wherever the
// arrays lie. GCC guards some remainder loops with a run-time overlap check between the
// output and the operands; when the output lay just past the weight, the work fell to a
// scalar loop whose multiply-adds were contracted differently from the vector loop (a few
// ULP apart on avx2 and avx512). One arena holds every array, the output at every offset
// from the weight.
template <class T>
void check_placements(const Case& c) {
  constexpr int64_t kSpan = 48;  // offsets of the output from the weight, in elements
  for (int64_t n = 1; n <= 40; ++n) {
    std::vector<T> arena(static_cast<size_t>(8 * kSpan + 6 * n));
    std::mt19937 rng(static_cast<unsigned>(n));
    T* x = arena.data();
    T* y = x + n;
    T* a = y + n;
    T* grad = a + n;
    T* w = grad + n + 2 * kSpan + n;  // room for the output on either side
    for (int64_t i = 0; i < n; ++i) {
      x[i] = static_cast<T>(c.x(rng));
      y[i] = static_cast<T>(c.y(rng));
      a[i] = static_cast<T>(c.aux(rng));
      w[i] = static_cast<T>(uniform(0.5, 2)(rng));
    }
    const int64_t unit = 1;
    ElementwiseCall call;
    call.loss = c.loss;
    call.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
    call.shape = Shape{1, &n};
    call.input = ConstView{x, &unit};
    call.target = ConstView{y, &unit};
    call.weight = ConstView{w, &unit};
    if (c.uses_aux) call.aux = ConstView{a, &unit};
    call.options = c.options;
    fastloss::elementwise_backward(call, Reduction::kSum, {}, 1.0, MutableView{grad, &unit});
    for (int64_t offset = -kSpan - n; offset <= kSpan + n; ++offset) {
      if (offset > -n && offset < n) continue;  // the output may not overlap the weight
      T* fused = w + offset;
      fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{fused, &unit}, {});
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(grad[i], fused[i]) << c.name << " n=" << n << " output at weight " << std::showpos << offset
                                     << std::noshowpos << ", element " << i;
      }
    }
  }
}

class LossKernelTest : public fastloss_test::PerTarget {};

TEST_P(LossKernelTest, EveryLossAndOptionMatchesLongDouble) {
  for (const Case& c : cases()) {
    for (size_t n : {1, 7, 8, 9, 16, 17, 33, 257, 5000}) {
      for (size_t offset : {0, 1}) {
        SCOPED_TRACE(c.name + " n=" + std::to_string(n) + " offset=" + std::to_string(offset));
        check_case<float>(c, n, offset);
        check_case<double>(c, n, offset);
      }
    }
  }
}

TEST_P(LossKernelTest, FusedGradientEqualsBackwardWhereverTheArraysLie) {
  for (const Case& c : cases()) {
    check_placements<float>(c);
    check_placements<double>(c);
  }
}

TEST_P(LossKernelTest, FocalLossKeepsItsDigitsForConfidentLogitsInFloat32) {
  // y = 0 with x << 0 (and y = 1 with x >> 0): 1 - p_t is sigmoid(-|x|), which the naive
  // 1 - sigmoid form rounds to 0 in float32 beyond |x| ~ 17.
  std::vector<float> x, y;
  for (int k = -80; k <= 80; ++k) {
    x.push_back(static_cast<float>(k));
    y.push_back(k > 0 ? 1.0f : 0.0f);
  }
  const int64_t n = static_cast<int64_t>(x.size()), unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::sigmoid_focal_loss;
  call.dtype = DType::kFloat32;
  call.shape = Shape{1, &n};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  call.options.alpha = 0.25;
  call.options.gamma = 2.0;
  std::vector<float> loss(n);
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{loss.data(), &unit});
  for (int64_t i = 0; i < n; ++i) {
    const LD t = std::fabs(static_cast<LD>(x[i]));  // distance from the decision boundary, correct side
    const LD alpha_t = y[i] == 1 ? 0.25L : 0.75L;
    const LD expected = alpha_t * softplus(-t) * sigmoid(-t) * sigmoid(-t);
    if (expected < 1e-30L) continue;  // float32 subnormals
    EXPECT_LE(std::fabs(expected - loss[i]), 64 * std::numeric_limits<float>::epsilon() * expected) << "x=" << x[i];
  }
}

// A NaN difference takes smooth L1's and Huber's quadratic branch, as in torch, so the
// gradient is NaN (beta = 0 is torch's l1_loss: sign(NaN) = 0); margin ranking's flat hinge
// multiplies its 0 into a NaN or infinite label (NaN), as torch's chain rule does. Comparisons
// with NaN are false, so selects on the other branch once turned all of these finite.
struct SpecialCase {
  std::string name;
  ElementwiseLoss loss;
  double option;  // the loss's one option: smooth_l1's beta, huber's delta, margin_ranking's margin
  double x, y, aux;
  double grad;  // the expected gradient, NaN included
};

template <class T>
void check_special_gradient(const SpecialCase& c) {
  // Several elements, so the vector loops (not only a remainder) see the value.
  constexpr int64_t kN = 37;
  const std::vector<T> x(kN, static_cast<T>(c.x)), y(kN, static_cast<T>(c.y)), aux(kN, static_cast<T>(c.aux));
  const int64_t unit = 1;
  ElementwiseCall call;
  call.loss = c.loss;
  call.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  call.shape = Shape{1, &kN};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  call.aux = ConstView{aux.data(), &unit};
  call.options.beta = call.options.delta = call.options.margin = c.option;
  std::vector<T> grad(kN), fused(kN);
  fastloss::elementwise_backward(call, Reduction::kSum, {}, 1.0, MutableView{grad.data(), &unit});
  fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{fused.data(), &unit}, {});
  for (int64_t i = 0; i < kN; ++i) {
    for (T g : {grad[i], fused[i]}) {
      if (std::isnan(c.grad))
        EXPECT_TRUE(std::isnan(g)) << c.name << " element " << i << ": " << g;
      else
        EXPECT_EQ(g, static_cast<T>(c.grad)) << c.name << " element " << i;
    }
  }
}

TEST_P(LossKernelTest, NanAndInfReachTheGradientAsInTorch) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<SpecialCase> cases = {
      {"smooth_l1 NaN input", ElementwiseLoss::smooth_l1_loss, 1.0, nan, 0, 0, nan},
      {"smooth_l1 NaN target", ElementwiseLoss::smooth_l1_loss, 0.5, 1, nan, 0, nan},
      {"smooth_l1 beta=0 NaN input", ElementwiseLoss::smooth_l1_loss, 0.0, nan, 0, 0, 0},
      {"smooth_l1 inf input", ElementwiseLoss::smooth_l1_loss, 1.0, inf, 0, 0, 1},
      {"smooth_l1 -inf target", ElementwiseLoss::smooth_l1_loss, 1.0, 0, -inf, 0, 1},
      {"huber NaN input", ElementwiseLoss::huber_loss, 1.0, nan, 0, 0, nan},
      {"huber NaN target", ElementwiseLoss::huber_loss, 0.5, 1, nan, 0, nan},
      {"huber -inf input", ElementwiseLoss::huber_loss, 0.5, -inf, 0, 0, -0.5},
      {"margin_ranking NaN label", ElementwiseLoss::margin_ranking_loss, 0.0, 1, nan, 0, nan},
      {"margin_ranking inf label, flat hinge", ElementwiseLoss::margin_ranking_loss, 0.0, 1, inf, 0, nan},
      {"margin_ranking -inf label, active hinge", ElementwiseLoss::margin_ranking_loss, 0.0, 1, -inf, 0, inf},
      {"margin_ranking NaN input1 (torch's hinge slope is 0)", ElementwiseLoss::margin_ranking_loss, 0.0, nan, 1, 0,
       0},
  };
  for (const SpecialCase& c : cases) {
    check_special_gradient<float>(c);
    check_special_gradient<double>(c);
  }
}

// |x| up to the largest finite logit: the sigmoids are exactly 0 and 1, so the loss is
// alpha_t (1 - y)^(gamma + 1) x for x > 0 and alpha_t y^(gamma + 1) |x| for x < 0, and the
// gradient alpha_t (1 - y)^(gamma + 1) or -alpha_t y^(gamma + 1). gamma ce once overflowed to
// inf there and met a zero sigmoid product: NaN.
template <class T>
void check_extreme_focal_logits() {
  constexpr T kMax = std::numeric_limits<T>::max();
  const std::vector<T> magnitudes = sizeof(T) == 4 ? std::vector<T>{kMax, T(1.8e38), kMax / 2, T(1e30), T(1e10)}
                                                   : std::vector<T>{kMax, T(9e307), kMax / 2, T(1e300), T(1e20)};
  std::vector<T> x, y;
  for (T magnitude : magnitudes) {
    for (T sign : {T(1), T(-1)}) {
      for (T target : {T(0), T(1), T(0.3)}) {
        x.push_back(sign * magnitude);
        y.push_back(target);
      }
    }
  }
  const int64_t n = static_cast<int64_t>(x.size()), unit = 1;
  for (double gamma : {0.0, 0.5, 1.0, 2.0, 3.0}) {
    ElementwiseCall call;
    call.loss = ElementwiseLoss::sigmoid_focal_loss;
    call.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
    call.shape = Shape{1, &n};
    call.input = ConstView{x.data(), &unit};
    call.target = ConstView{y.data(), &unit};
    call.options.alpha = 0.25;
    call.options.gamma = gamma;
    std::vector<T> loss(x.size()), grad(x.size()), fused(x.size());
    fastloss::elementwise_forward(call, Reduction::kNone, MutableView{loss.data(), &unit});
    fastloss::elementwise_backward(call, Reduction::kSum, {}, 1.0, MutableView{grad.data(), &unit});
    fastloss::elementwise_forward_backward(call, Reduction::kSum, MutableView{fused.data(), &unit}, {});
    for (size_t i = 0; i < x.size(); ++i) {
      const LD xi = x[i], yi = y[i];
      const LD alpha_t = 0.25L * yi + 0.75L * (1 - yi);
      const LD wrong_side = xi > 0 ? 1 - yi : yi;  // the label mass the logit argues against
      const LD focal = alpha_t * std::pow(wrong_side, static_cast<LD>(gamma) + 1);
      const std::string at = "gamma=" + std::to_string(gamma) + " x=" + std::to_string(static_cast<double>(xi)) +
                             " y=" + std::to_string(static_cast<double>(yi));
      expect_ulps<T>(focal * std::fabs(xi), loss[i], at + " loss");
      expect_ulps<T>(xi > 0 ? focal : -focal, grad[i], at + " grad");
      EXPECT_EQ(grad[i], fused[i]) << at << ": fused gradient differs";
    }
  }
}

TEST_P(LossKernelTest, FocalLossIsFiniteUpToTheLargestLogits) {
  check_extreme_focal_logits<float>();
  check_extreme_focal_logits<double>();
}

// log_cosh_loss's value near 0 is d^2 / 2: the loss keeps its relative accuracy there (a
// form such as |d| + log1p(exp(-2|d|)) - ln 2 would cancel to noise), and its gradient
// tanh(d) likewise, over the whole range.
template <class T>
void check_log_cosh_relative_accuracy() {
  std::vector<T> x;
  for (LD d = 1e-12L; d < 200; d *= 1.01L) {
    x.push_back(static_cast<T>(d));
    x.push_back(static_cast<T>(-d));
  }
  const std::vector<T> y(x.size(), T(0));
  const int64_t n = static_cast<int64_t>(x.size()), unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::log_cosh_loss;
  call.dtype = fastloss_test::dtype_of<T>();
  call.shape = Shape{1, &n};
  call.input = ConstView{x.data(), &unit};
  call.target = ConstView{y.data(), &unit};
  std::vector<T> loss(x.size()), grad(x.size());
  fastloss::elementwise_forward(call, Reduction::kNone, MutableView{loss.data(), &unit});
  fastloss::elementwise_backward(call, Reduction::kSum, {}, 1.0, MutableView{grad.data(), &unit});
  const LD eps = std::numeric_limits<T>::epsilon();
  for (size_t i = 0; i < x.size(); ++i) {
    const LD d = x[i];
    // log1p(2 sinh^2(d / 2)): log(cosh d) itself rounds 1 + d^2 / 2 to 1 for tiny d even in long double.
    const LD half_sinh = std::sinh(d / 2);
    const LD want_loss = std::log1p(2 * half_sinh * half_sinh), want_grad = std::tanh(d);
    if (want_loss > static_cast<LD>(std::numeric_limits<T>::min())) {
      EXPECT_LE(std::fabs(loss[i] - want_loss), 8 * eps * want_loss) << "loss at " << static_cast<double>(d);
    }
    EXPECT_LE(std::fabs(grad[i] - want_grad), 4 * eps * std::fabs(want_grad)) << "grad at " << static_cast<double>(d);
  }
}

TEST_P(LossKernelTest, LogCoshKeepsRelativeAccuracyNearZero) {
  check_log_cosh_relative_accuracy<float>();
  check_log_cosh_relative_accuracy<double>();
}

FASTLOSS_INSTANTIATE_PER_TARGET(LossKernelTest);

}  // namespace
