// Half-precision storage on every supported SIMD target: the float16 and bfloat16 conversions
// (every bit pattern, and float32 -> half rounding against a reference that picks the nearest
// half by search), and elementwise losses on half operands against the float32 call on the
// upcast values, bitwise: reductions equal, per-element results rounded once.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/class_losses.hpp"
#include "fastloss/elementwise.hpp"
#include "fastloss/half.hpp"
#include "fastloss/row_losses.hpp"
#include "fastloss/threading.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::ElementwiseCall;
using fastloss::ElementwiseLoss;
using fastloss::LabelDType;
using fastloss::MutableView;
using fastloss::Reduction;
using fastloss::Shape;

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// A half type's layout: exponent and mantissa bits, exponent bias.
struct Format {
  LabelDType stored;
  int mantissa_bits;
  int bias;
  uint16_t inf;  // the +inf pattern; every pattern below it is a finite non-negative value
};
const Format kFloat16{LabelDType::kFloat16, 10, 15, 0x7c00};
const Format kBFloat16{LabelDType::kBFloat16, 7, 127, 0x7f80};

// The value of a non-negative finite pattern, by the format's definition (long double holds
// every one exactly). The +inf pattern gives the value one ULP past the largest finite, where
// overflow rounds to infinity.
long double magnitude(const Format& f, uint16_t h) {
  const int exponent = h >> f.mantissa_bits;
  const long double mantissa = h & ((1 << f.mantissa_bits) - 1);
  const long double scale = std::ldexp(1.0L, -f.mantissa_bits);
  if (exponent == 0) return std::ldexp(mantissa * scale, 1 - f.bias);
  return std::ldexp(1.0L + mantissa * scale, exponent - f.bias);
}

// float32 -> half by its definition: the nearest pattern, ties to the even one; beyond the
// largest finite past half its ULP, infinity. NaN: quiet, sign and leading payload kept.
uint16_t reference_round(const Format& f, float x) {
  const uint16_t sign = static_cast<uint16_t>((bits(x) >> 16) & 0x8000u);
  if (std::isnan(x)) {
    const uint32_t payload = (bits(x) & 0x7fffffu) >> (23 - f.mantissa_bits);
    return static_cast<uint16_t>(sign | f.inf | (1u << (f.mantissa_bits - 1)) | payload);
  }
  const long double v = std::fabs(static_cast<long double>(x));
  if (std::isinf(x) || v >= magnitude(f, f.inf)) return static_cast<uint16_t>(sign | f.inf);
  uint16_t lo = 0, hi = f.inf;  // magnitude(lo) <= v < magnitude(hi)
  while (hi - lo > 1) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    (magnitude(f, mid) <= v ? lo : hi) = mid;
  }
  const long double below = v - magnitude(f, lo), above = magnitude(f, hi) - v;
  const uint16_t nearest = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<uint16_t>(sign | nearest);
}

std::vector<float> widen(const Format& f, const std::vector<uint16_t>& h) {
  std::vector<float> out(h.size());
  fastloss::half_to_float(f.stored, h.data(), out.data(), static_cast<int64_t>(h.size()));
  return out;
}

std::vector<uint16_t> narrow(const Format& f, const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  fastloss::float_to_half(f.stored, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

class HalfTest : public fastloss_test::PerTarget {};

void check_every_pattern(const Format& f) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  const std::vector<float> wide = widen(f, all);
  const std::vector<uint16_t> back = narrow(f, wide);
  const uint16_t quiet = static_cast<uint16_t>(1u << (f.mantissa_bits - 1));
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t m = h & 0x7fffu;
    const bool negative = (h & 0x8000u) != 0;
    ASSERT_EQ(std::signbit(wide[h]), negative) << std::hex << h;
    if (m > f.inf) {  // NaN: quiet, same sign, payload in the leading mantissa bits
      ASSERT_TRUE(std::isnan(wide[h])) << std::hex << h;
      const uint32_t payload = m & ((1u << f.mantissa_bits) - 1);
      ASSERT_EQ(bits(wide[h]) & 0x7fffffu, (payload << (23 - f.mantissa_bits)) | 0x400000u) << std::hex << h;
      ASSERT_EQ(back[h], h | quiet) << std::hex << h;
    } else {
      const long double expected = m == f.inf ? std::numeric_limits<long double>::infinity() : magnitude(f, m);
      ASSERT_EQ(static_cast<long double>(wide[h]), negative ? -expected : expected) << std::hex << h;
      ASSERT_EQ(back[h], h) << std::hex << h;
    }
  }
}

TEST_P(HalfTest, EveryFloat16PatternRoundTrips) { check_every_pattern(kFloat16); }
TEST_P(HalfTest, EveryBFloat16PatternRoundTrips) { check_every_pattern(kBFloat16); }

// Around every finite positive half: the value, the midpoint to the next one and its float32
// neighbours (the halfway cases), for both signs; the subnormal range, the overflow
// threshold, zeros, infinities, NaNs with payloads, float32 subnormals, random patterns.
std::vector<float> rounding_cases(const Format& f) {
  std::vector<float> x;
  const float inf = std::numeric_limits<float>::infinity();
  for (uint16_t h = 0; h < f.inf; ++h) {
    const float v = static_cast<float>(magnitude(f, h));
    const float mid = static_cast<float>((magnitude(f, h) + magnitude(f, static_cast<uint16_t>(h + 1))) / 2);
    for (float c : {v, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, inf)}) {
      x.push_back(c);
      x.push_back(-c);
    }
  }
  const float nan_payloads[] = {from_bits(0x7fc00000u), from_bits(0x7f800001u), from_bits(0x7fa5a5a5u),
                                from_bits(0xffffffffu), from_bits(0x7f802000u), from_bits(0xff800fffu)};
  for (float c : nan_payloads) x.push_back(c);
  for (float c : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::denorm_min(), 65504.0f, 65519.99f, 65520.0f, 65536.0f, 0x1p-25f,
                  0x1.000002p-25f, 0x1p-24f, 0x1.8p-24f, 0x1p-14f})
    x.push_back(c);
  std::mt19937 rng(13);
  for (int i = 0; i < 200000; ++i) x.push_back(from_bits(static_cast<uint32_t>(rng())));
  return x;
}

void check_rounding(const Format& f) {
  const std::vector<float> x = rounding_cases(f);
  const std::vector<uint16_t> got = narrow(f, x);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(got[i], reference_round(f, x[i])) << std::hexfloat << x[i] << " (bits " << std::hex << bits(x[i]) << ")";
}

TEST_P(HalfTest, Float32RoundsToNearestEvenFloat16) { check_rounding(kFloat16); }
TEST_P(HalfTest, Float32RoundsToNearestEvenBFloat16) { check_rounding(kBFloat16); }

// An elementwise loss on half operands against the float32 call on the upcast values.
struct HalfCall {
  Format f;
  ElementwiseLoss loss;
  int64_t rows, cols;
  std::vector<uint16_t> x, y, w;
  std::vector<float> xf, yf, wf;
};

HalfCall make_call(const Format& f, ElementwiseLoss loss, int64_t rows, int64_t cols) {
  HalfCall c{f, loss, rows, cols, {}, {}, {}, {}, {}, {}};
  std::mt19937 rng(static_cast<unsigned>(rows * 7 + cols));
  std::uniform_real_distribution<float> logit(-6.0f, 6.0f), unit(0.0f, 1.0f), pos(0.25f, 2.0f);
  std::vector<float> x, y, w;
  for (int64_t i = 0; i < rows * cols; ++i) {
    x.push_back(logit(rng));
    y.push_back(unit(rng));
  }
  for (int64_t j = 0; j < cols; ++j) w.push_back(pos(rng));
  // NaN and infinities travel through too (as many as the call has elements).
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (size_t i = 0; i < 3 && i < x.size(); ++i) x[i] = specials[i];
  c.x = narrow(f, x);
  c.y = narrow(f, y);
  c.w = narrow(f, w);
  c.xf = widen(f, c.x);
  c.yf = widen(f, c.y);
  c.wf = widen(f, c.w);
  return c;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_loss(const Format& f, ElementwiseLoss loss) {
  // (rows, cols) with a (cols,) weight broadcast over rows: a tiled half operand; sizes over
  // several chunks with a remainder.
  const int64_t rows = 211, cols = 97, n = rows * cols;
  HalfCall c = make_call(f, loss, rows, cols);
  const int64_t shape[2] = {rows, cols};
  const int64_t dense[2] = {cols, 1}, broadcast[2] = {0, 1}, transposed[2] = {1, rows};
  ElementwiseCall half;
  half.loss = loss;
  half.shape = Shape{2, shape};
  half.input = ConstView{c.x.data(), dense, f.stored};
  half.target = ConstView{c.y.data(), dense, f.stored};
  half.weight = ConstView{c.w.data(), broadcast, f.stored};
  ElementwiseCall single = half;
  single.input = ConstView{c.xf.data(), dense};
  single.target = ConstView{c.yf.data(), dense};
  single.weight = ConstView{c.wf.data(), broadcast};

  for (Reduction r : {Reduction::kSum, Reduction::kMean}) {
    EXPECT_TRUE(same_bits(fastloss::elementwise_forward(half, r, {}), fastloss::elementwise_forward(single, r, {})));
  }
  // Per-element losses and gradients: float32's rounded once. The half gradient is written
  // both in place and through a transposed (strided) view.
  std::vector<float> loss_f(n), grad_f(n), fused_f(n);
  fastloss::elementwise_forward(single, Reduction::kNone, MutableView{loss_f.data(), dense});
  fastloss::elementwise_backward(single, Reduction::kMean, {}, 1.0, MutableView{grad_f.data(), dense});
  const double fused_single =
      fastloss::elementwise_forward_backward(single, Reduction::kMean, MutableView{fused_f.data(), dense}, {});
  std::vector<uint16_t> loss_h(n), grad_h(n), fused_h = c.x;
  fastloss::elementwise_forward(half, Reduction::kNone, MutableView{loss_h.data(), dense, f.stored});
  fastloss::elementwise_backward(half, Reduction::kMean, {}, 1.0, MutableView{grad_h.data(), transposed, f.stored});
  ElementwiseCall in_place = half;
  in_place.input = ConstView{fused_h.data(), dense, f.stored};
  const double fused_half =
      fastloss::elementwise_forward_backward(in_place, Reduction::kMean, MutableView{fused_h.data(), dense, f.stored}, {});
  EXPECT_TRUE(same_bits(fused_half, fused_single));
  const std::vector<uint16_t> loss_r = narrow(f, loss_f), grad_r = narrow(f, grad_f), fused_r = narrow(f, fused_f);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t k = i * cols + j;
      ASSERT_EQ(loss_h[k], loss_r[k]) << k;
      ASSERT_EQ(grad_h[j * rows + i], grad_r[k]) << k;
      ASSERT_EQ(fused_h[k], fused_r[k]) << k;
    }
  }
  // A float32 gradient of the half call is float32's own.
  std::vector<float> grad_hf(n);
  fastloss::elementwise_backward(half, Reduction::kMean, {}, 1.0, MutableView{grad_hf.data(), dense});
  EXPECT_EQ(std::memcmp(grad_hf.data(), grad_f.data(), sizeof(float) * static_cast<size_t>(n)), 0);
}

const ElementwiseLoss kLosses[] = {ElementwiseLoss::mse_loss, ElementwiseLoss::l1_loss, ElementwiseLoss::huber_loss,
                                   ElementwiseLoss::binary_cross_entropy_with_logits,
                                   ElementwiseLoss::soft_margin_loss};

TEST_P(HalfTest, Float16LossesEqualFloat32OnUpcastValues) {
  for (ElementwiseLoss loss : kLosses) check_loss(kFloat16, loss);
}

TEST_P(HalfTest, BFloat16LossesEqualFloat32OnUpcastValues) {
  for (ElementwiseLoss loss : kLosses) check_loss(kBFloat16, loss);
}

TEST_P(HalfTest, HalfReductionIsBitwiseIdenticalForAnyThreadCount) {
  HalfCall c = make_call(kBFloat16, ElementwiseLoss::huber_loss, 3 * 8192 + 5, 17);
  const int64_t n = c.rows * c.cols - 3, unit = 1;
  ElementwiseCall call;
  call.loss = ElementwiseLoss::huber_loss;
  call.shape = Shape{1, &n};
  call.input = ConstView{c.x.data() + 3, &unit, LabelDType::kBFloat16};  // past the NaN and infinities
  call.target = ConstView{c.y.data(), &unit, LabelDType::kBFloat16};
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(1);
  const double serial = fastloss::elementwise_forward(call, Reduction::kMean, {});
  EXPECT_TRUE(std::isfinite(serial));
  for (int threads : {2, 3, 5}) {
    fastloss::set_num_threads(threads);
    EXPECT_TRUE(same_bits(serial, fastloss::elementwise_forward(call, Reduction::kMean, {}))) << threads;
  }
  fastloss::set_num_threads(before);
}

// The half tiles inside the kernels (elementwise_driver.hpp) against the float32 call on the
// widened values, at lengths around the tile (512), lane (16) and chunk (8192) boundaries:
// every operand slot half (pos_weight as aux, a half grad_output), both half results of the
// fused and the Hessian passes, a strided (gathered) half input, and half beside float32
// operands. Reductions bitwise equal, per-element results float32's rounded once.
void check_tiles(const Format& f, ElementwiseLoss loss, int64_t n) {
  HalfCall c = make_call(f, loss, 1, 2 * n);  // x and y of 2n elements; n of them used below
  std::vector<float> a32(static_cast<size_t>(n)), go32(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    a32[i] = 0.5f + static_cast<float>(i % 7) * 0.25f;
    go32[i] = 1.0f - static_cast<float>(i % 5) * 0.375f;
  }
  const std::vector<uint16_t> a = narrow(f, a32), go = narrow(f, go32);
  const std::vector<float> af = widen(f, a), gof = widen(f, go);
  const int64_t unit = 1, two = 2;
  const Shape shape{1, &n};
  ElementwiseCall half;
  half.loss = loss;
  half.shape = shape;
  half.input = ConstView{c.x.data(), &unit, f.stored};
  half.target = ConstView{c.y.data(), &unit, f.stored};
  half.weight = ConstView{c.x.data() + n, &unit, f.stored};
  if (loss == ElementwiseLoss::binary_cross_entropy_with_logits) half.aux = ConstView{a.data(), &unit, f.stored};
  ElementwiseCall single = half;
  single.input = ConstView{c.xf.data(), &unit};
  single.target = ConstView{c.yf.data(), &unit};
  single.weight = ConstView{c.xf.data() + n, &unit};
  if (half.aux.present()) single.aux = ConstView{af.data(), &unit};
  const size_t un = static_cast<size_t>(n);
  const auto rounded = [&](const std::vector<float>& v) { return narrow(f, v); };

  // kLossSum, and kLossSumGrad's sum and gradient.
  for (Reduction r : {Reduction::kSum, Reduction::kMean})
    EXPECT_TRUE(same_bits(fastloss::elementwise_forward(half, r, {}), fastloss::elementwise_forward(single, r, {}))) << n;
  std::vector<float> g32(un), l32(un), h32(un);
  std::vector<uint16_t> g16(un), l16(un), h16(un);
  EXPECT_TRUE(same_bits(
      fastloss::elementwise_forward_backward(half, Reduction::kSum, MutableView{g16.data(), &unit, f.stored}, {}),
      fastloss::elementwise_forward_backward(single, Reduction::kSum, MutableView{g32.data(), &unit}, {})))
      << n;
  ASSERT_EQ(g16, rounded(g32)) << n;
  // kLossGrad: two half results.
  fastloss::elementwise_forward_backward(half, Reduction::kNone, MutableView{g16.data(), &unit, f.stored},
                                         MutableView{l16.data(), &unit, f.stored});
  fastloss::elementwise_forward_backward(single, Reduction::kNone, MutableView{g32.data(), &unit},
                                         MutableView{l32.data(), &unit});
  ASSERT_EQ(g16, rounded(g32)) << n;
  ASSERT_EQ(l16, rounded(l32)) << n;
  // kGrad with a half grad_output.
  fastloss::elementwise_backward(half, Reduction::kNone, ConstView{go.data(), &unit, f.stored}, 0.0,
                                 MutableView{g16.data(), &unit, f.stored});
  fastloss::elementwise_backward(single, Reduction::kNone, ConstView{gof.data(), &unit}, 0.0,
                                 MutableView{g32.data(), &unit});
  ASSERT_EQ(g16, rounded(g32)) << n;
  // kGradHess: two half results.
  if (fastloss::has_hessian(loss)) {
    fastloss::elementwise_grad_hess(half, 1e-6, MutableView{g16.data(), &unit, f.stored},
                                    MutableView{h16.data(), &unit, f.stored});
    fastloss::elementwise_grad_hess(single, 1e-6, MutableView{g32.data(), &unit}, MutableView{h32.data(), &unit});
    ASSERT_EQ(g16, rounded(g32)) << n;
    ASSERT_EQ(h16, rounded(h32)) << n;
  }
  // A strided half input (gathered as stored), float32 targets beside half inputs, a float32
  // result of the half call.
  ElementwiseCall mixed = half;
  mixed.input = ConstView{c.x.data(), &two, f.stored};
  mixed.target = single.target;
  ElementwiseCall mixed_single = single;
  mixed_single.input = ConstView{c.xf.data(), &two};
  EXPECT_TRUE(same_bits(fastloss::elementwise_forward(mixed, Reduction::kSum, {}),
                        fastloss::elementwise_forward(mixed_single, Reduction::kSum, {})))
      << n;
  std::vector<float> gm(un);
  fastloss::elementwise_backward(mixed, Reduction::kMean, {}, 1.0, MutableView{gm.data(), &unit});
  fastloss::elementwise_backward(mixed_single, Reduction::kMean, {}, 1.0, MutableView{g32.data(), &unit});
  EXPECT_EQ(std::memcmp(gm.data(), g32.data(), sizeof(float) * un), 0) << n;  // bitwise: NaN included
}

TEST_P(HalfTest, HalfTilesEqualFloat32AtEveryBoundary) {
  for (int64_t n : {1, 15, 16, 17, 511, 512, 513, 1040, 8191, 8192, 8193, 8192 + 512 + 7}) {
    for (const Format* f : {&kFloat16, &kBFloat16}) {
      for (ElementwiseLoss loss : {ElementwiseLoss::mse_loss, ElementwiseLoss::huber_loss,
                                   ElementwiseLoss::binary_cross_entropy_with_logits})
        check_tiles(*f, loss, n);
    }
  }
}

// The row engine's half operands (class and row losses, softmax): each row widened as it is
// staged, results rounded as they are scattered; against float32 on the upcast values. Rows of
// `classes` laid out contiguously or with the class axis strided (a transposed input).
void check_class_losses(const Format& f, int64_t classes, bool transposed) {
  const int64_t rows = 53, n = rows * classes;
  HalfCall c = make_call(f, ElementwiseLoss::mse_loss, rows, classes);
  std::vector<int64_t> target(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) target[i] = (i * 7) % classes;
  const int64_t row_shape[1] = {rows};
  const int64_t row_stride[1] = {transposed ? 1 : classes}, class_stride = transposed ? rows : 1, unit[1] = {1};
  fastloss::ClassLossCall half;
  half.shape = fastloss::RowShape{Shape{1, row_shape}, classes};
  half.input = fastloss::RowView{ConstView{c.x.data(), row_stride, f.stored}, class_stride};
  half.index_target = ConstView{target.data(), unit};
  half.weight = c.w.data();
  half.weight_stored = f.stored;
  half.options.label_smoothing = 0.1;
  fastloss::ClassLossCall single = half;
  single.input = fastloss::RowView{ConstView{c.xf.data(), row_stride}, class_stride};
  single.weight = c.wf.data();
  single.weight_stored = LabelDType::kFloat;
  const std::vector<uint16_t> go = narrow(f, std::vector<float>(static_cast<size_t>(rows), 0.75f));
  const std::vector<float> go_f = widen(f, go);
  for (fastloss::ClassLoss loss : {fastloss::ClassLoss::kCrossEntropy, fastloss::ClassLoss::kNllLoss,
                                   fastloss::ClassLoss::kSoftmaxFocal}) {
    half.loss = single.loss = loss;
    half.target_weight_known = single.target_weight_known = false;
    EXPECT_TRUE(same_bits(fastloss::class_loss_forward(half, Reduction::kMean, {}),
                          fastloss::class_loss_forward(single, Reduction::kMean, {})));
    // Per-row losses, and gradients from a half per-row grad_output, rounded once.
    std::vector<float> loss_f(rows), grad_f(n), fused_f(n);
    std::vector<uint16_t> loss_h(rows), grad_h(n), fused_h(n);
    fastloss::class_loss_forward(single, Reduction::kNone, MutableView{loss_f.data(), unit});
    fastloss::class_loss_forward(half, Reduction::kNone, MutableView{loss_h.data(), unit, f.stored});
    const fastloss::MutableRowView grad_view_f{MutableView{grad_f.data(), row_stride}, class_stride};
    const fastloss::MutableRowView grad_view_h{MutableView{grad_h.data(), row_stride, f.stored}, class_stride};
    fastloss::class_loss_backward(single, Reduction::kNone, ConstView{go_f.data(), unit}, 0.0, grad_view_f);
    fastloss::class_loss_backward(half, Reduction::kNone, ConstView{go.data(), unit, f.stored}, 0.0, grad_view_h);
    const double fused_single = fastloss::class_loss_forward_backward(
        single, Reduction::kSum, fastloss::MutableRowView{MutableView{fused_f.data(), row_stride}, class_stride}, {});
    const double fused_half = fastloss::class_loss_forward_backward(
        half, Reduction::kSum, fastloss::MutableRowView{MutableView{fused_h.data(), row_stride, f.stored}, class_stride},
        {});
    EXPECT_TRUE(same_bits(fused_half, fused_single));
    EXPECT_EQ(loss_h, narrow(f, loss_f));
    EXPECT_EQ(grad_h, narrow(f, grad_f));
    EXPECT_EQ(fused_h, narrow(f, fused_f));
  }
  // softmax, written over its own half input (in place).
  std::vector<float> soft_f(n);
  std::vector<uint16_t> soft_h = c.x;
  fastloss::softmax(fastloss::DType::kFloat32, single.shape, single.input,
                    fastloss::MutableRowView{MutableView{soft_f.data(), row_stride}, class_stride}, true);
  fastloss::softmax(fastloss::DType::kFloat32, half.shape, fastloss::RowView{ConstView{soft_h.data(), row_stride, f.stored}, class_stride},
                    fastloss::MutableRowView{MutableView{soft_h.data(), row_stride, f.stored}, class_stride}, true);
  EXPECT_EQ(soft_h, narrow(f, soft_f));
  // A row loss with a half (C,) weight: multi_margin_loss.
  fastloss::RowLossCall margin;
  margin.loss = fastloss::RowLoss::kMultiMargin;
  margin.shape = half.shape;
  margin.inputs[0] = half.input;
  margin.target = ConstView{target.data(), unit};
  margin.class_weight = c.w.data();
  margin.class_weight_stored = f.stored;
  fastloss::RowLossCall margin_f = margin;
  margin_f.inputs[0] = single.input;
  margin_f.class_weight = c.wf.data();
  margin_f.class_weight_stored = LabelDType::kFloat;
  EXPECT_TRUE(same_bits(fastloss::row_loss_forward(margin, Reduction::kSum, {}),
                        fastloss::row_loss_forward(margin_f, Reduction::kSum, {})));
}

TEST_P(HalfTest, ClassAndRowLossesOfHalfRowsEqualFloat32) {
  for (const Format* f : {&kFloat16, &kBFloat16})
    for (int64_t classes : {2, 10, 64, 65, 300, 4500})  // tiles; rows of one and of three chunks
      for (bool transposed : {false, true}) check_class_losses(*f, classes, transposed);
}

FASTLOSS_INSTANTIATE_PER_TARGET(HalfTest);

}  // namespace
