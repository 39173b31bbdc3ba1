// The accuracy contracts of kernels/math.hpp, enforced on every supported SIMD target
// through the same vectorized array loops the losses use (fastloss::unary), against long
// double references. The bounds below are the ones the header documents.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/unary.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::DType;
using fastloss::MutableView;
using fastloss::Shape;
using fastloss::UnaryOp;

struct Contract {
  UnaryOp op;
  const char* name;
  double max_ulp_float;
  double max_ulp_double;
  long double (*reference)(long double);
  double lo, hi;  // the sweep's main range
};

long double ref_sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double ref_log_sigmoid(long double x) { return std::min(x, 0.0L) - std::log1p(std::exp(-std::fabs(x))); }
long double ref_softplus(long double x) { return std::max(x, 0.0L) + std::log1p(std::exp(-std::fabs(x))); }
long double ref_exp(long double x) { return std::exp(x); }
long double ref_log(long double x) { return std::log(x); }
long double ref_log1p(long double x) { return std::log1p(x); }
long double ref_expm1(long double x) { return std::expm1(x); }

const Contract kContracts[] = {
    {UnaryOp::exp, "exp", 1.5, 1.5, ref_exp, -750, 720},
    {UnaryOp::log, "log", 1, 1, ref_log, 0, 1e6},
    {UnaryOp::log1p, "log1p", 2, 2, ref_log1p, -1, 1e3},
    {UnaryOp::expm1, "expm1", 2.5, 2.5, ref_expm1, -50, 50},
    {UnaryOp::sigmoid, "sigmoid", 2.5, 2.5, ref_sigmoid, -120, 120},
    {UnaryOp::log_sigmoid, "log_sigmoid", 2.5, 2.5, ref_log_sigmoid, -200, 200},
    {UnaryOp::softplus, "softplus", 2, 2, ref_softplus, -200, 200},
};

template <class T>
std::vector<T> apply_op(UnaryOp op, const std::vector<T>& in, size_t offset = 0) {
  // offset > 0 shifts both pointers off their natural alignment.
  std::vector<T> padded(in.size() + offset), out(in.size() + offset);
  std::copy(in.begin(), in.end(), padded.begin() + static_cast<long>(offset));
  const int64_t n = static_cast<int64_t>(in.size()), unit = 1;
  fastloss::unary(op, sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64, Shape{1, &n},
                  ConstView{padded.data() + offset, &unit}, MutableView{out.data() + offset, &unit});
  return std::vector<T>(out.begin() + static_cast<long>(offset), out.end());
}

// Error of `got` in units of the last place of the correctly rounded reference (for a
// subnormal reference, in units of the smallest subnormal).
template <class T>
double ulp_error(T got, long double reference) {
  const T rounded = static_cast<T>(reference);
  if (std::isnan(reference)) return std::isnan(got) ? 0.0 : 1e300;
  if (std::isinf(rounded) || std::isinf(got)) return rounded == got ? 0.0 : 1e300;
  const T magnitude = std::fabs(rounded);
  const T next = std::nextafter(magnitude, std::numeric_limits<T>::infinity());
  const long double ulp = static_cast<long double>(next) - static_cast<long double>(magnitude);
  return static_cast<double>(std::fabs(static_cast<long double>(got) - reference) / ulp);
}

// The arguments where each function changes regime: its reduction boundaries, its clamps,
// the thresholds where results overflow, turn subnormal or round to a constant.
template <class T>
std::vector<T> critical_points(UnaryOp op) {
  const bool f32 = sizeof(T) == 4;
  const T tiny = std::numeric_limits<T>::min(), huge = std::numeric_limits<T>::max();
  const T ln2_half = T(0.34657359027997265), sqrt_half = T(0.70710678118654752);
  // exp(x) overflows above, turns subnormal below, rounds to 0 below; our clamps.
  const T exp_over = f32 ? T(88.7228394) : T(709.782712893384);
  const T exp_sub = f32 ? T(-87.3365479) : T(-708.396418532264);
  const T exp_zero = f32 ? T(-103.972084) : T(-745.133219101941);
  const T exp_clamp_lo = f32 ? T(-105) : T(-746), exp_clamp_hi = f32 ? T(89) : T(710);
  switch (op) {
    case UnaryOp::exp:
      return {T(0), ln2_half, -ln2_half, exp_over, exp_sub, exp_zero, exp_clamp_lo, exp_clamp_hi, tiny};
    case UnaryOp::log:
      return {T(1), sqrt_half, 2 * sqrt_half, tiny, std::numeric_limits<T>::denorm_min(), huge};
    case UnaryOp::log1p:
      return {T(0), T(-1), sqrt_half - 1, 2 * sqrt_half - 1, T(1), huge};
    case UnaryOp::expm1:
      return {T(0), ln2_half, -ln2_half, f32 ? T(-30) : T(-60), f32 ? T(20) : T(40), exp_over, tiny};
    default:  // sigmoid, log_sigmoid, softplus: through exp(-|x|)
      return {T(0), exp_over, -exp_over, exp_sub, -exp_sub, exp_zero, -exp_zero, T(1e30), T(-1e30),
              huge, -huge, tiny};
  }
}

// The random part of the sweep is divided by this. A build whose tests run under an emulator
// sets it (tests/cpp/CMakeLists.txt): there the long double references dominate the test's
// time (aarch64's long double is quad precision, computed in software).
#ifndef FASTLOSS_TEST_SWEEP_DIVISOR
#define FASTLOSS_TEST_SWEEP_DIVISOR 1
#endif
constexpr int kRandomArgs = 1000000 / FASTLOSS_TEST_SWEEP_DIVISOR;

// Appends 4096 consecutive representable numbers on each side of each point.
template <class T>
void add_neighbours(std::vector<T>& xs, const std::vector<T>& points) {
  const T inf = std::numeric_limits<T>::infinity();
  for (T point : points) {
    T up = point, down = point;
    for (int i = 0; i < 4096; ++i) {
      xs.push_back(up);
      xs.push_back(down);
      up = std::nextafter(up, inf);
      down = std::nextafter(down, -inf);
    }
  }
}

// Over a million arguments per function and dtype: uniform over the main range, uniform
// near 0, log-uniform magnitudes across the binades (kRandomArgs of them together), and
// 4096 consecutive representable numbers on each side of every critical point (every float
// there).
template <class T>
std::vector<T> sweep(const Contract& c, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> xs;
  const double max_exponent = sizeof(T) == 4 ? 38.0 : 307.0;
  std::uniform_real_distribution<double> wide(c.lo, c.hi), narrow(-1.0, 1.0),
      exponent(-max_exponent, max_exponent);
  for (int i = 0; i < kRandomArgs / 2; ++i) xs.push_back(static_cast<T>(wide(rng)));
  for (int i = 0; i < kRandomArgs / 5; ++i) xs.push_back(static_cast<T>(narrow(rng)));
  for (int i = 0; i < kRandomArgs * 3 / 10; ++i) {
    const T v = static_cast<T>(std::pow(10.0, exponent(rng)));
    xs.push_back(i % 2 ? -v : v);
  }
  add_neighbours(xs, critical_points<T>(c.op));
  return xs;
}

class MathTest : public fastloss_test::PerTarget {};

template <class T>
void check_contract(const Contract& c) {
  const std::vector<T> xs = sweep<T>(c, 99);
  const std::vector<T> got = apply_op(c.op, xs);
  const double bound = sizeof(T) == 4 ? c.max_ulp_float : c.max_ulp_double;
  double worst = 0.0;
  T worst_x = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const long double ref = c.reference(static_cast<long double>(xs[i]));
    const double e = ulp_error(got[i], ref);
    if (e > worst) {
      worst = e;
      worst_x = xs[i];
    }
  }
  std::printf("[ measured ] %-12s %-6s max %.3f ULP (contract %.1f) over %zu arguments\n", c.name,
              sizeof(T) == 4 ? "float" : "double", worst, bound, xs.size());
  EXPECT_LE(worst, bound) << c.name << (sizeof(T) == 4 ? " float" : " double") << " worst at x="
                          << static_cast<double>(worst_x);
}

TEST_P(MathTest, EveryFunctionMeetsItsUlpContract) {
  for (const Contract& c : kContracts) {
    check_contract<float>(c);
    check_contract<double>(c);
  }
}

template <class T>
void check_specials() {
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T huge = std::numeric_limits<T>::max(), tiny = std::numeric_limits<T>::min();
  const T denorm = std::numeric_limits<T>::denorm_min();
  const T log_denorm = static_cast<T>(std::log(static_cast<long double>(denorm)));
  const T log_tiny = static_cast<T>(std::log(static_cast<long double>(tiny)));
  // The largest argument whose exp is finite when correctly rounded.
  const T exp_last_finite = sizeof(T) == 4 ? T(0x1.62e42ep+6) : T(0x1.62e42fefa39efp+9);
  const T exp_last_finite_next = std::nextafter(exp_last_finite, inf);
  struct Case {
    UnaryOp op;
    T x;
    T expected;
  };
  const Case cases[] = {
      {UnaryOp::exp, -inf, T(0)},          {UnaryOp::exp, inf, inf},
      {UnaryOp::exp, T(0), T(1)},          {UnaryOp::exp, T(-1000), T(0)},
      {UnaryOp::exp, T(1000), inf},        {UnaryOp::log, T(0), -inf},
      {UnaryOp::log, -T(0), -inf},         {UnaryOp::log, inf, inf},
      {UnaryOp::log, T(1), T(0)},          {UnaryOp::log1p, T(-1), -inf},
      {UnaryOp::log1p, inf, inf},          {UnaryOp::log1p, T(0), T(0)},
      {UnaryOp::expm1, -inf, T(-1)},       {UnaryOp::expm1, inf, inf},
      {UnaryOp::expm1, T(0), T(0)},        {UnaryOp::sigmoid, -inf, T(0)},
      {UnaryOp::sigmoid, inf, T(1)},       {UnaryOp::sigmoid, T(0), T(0.5)},
      {UnaryOp::log_sigmoid, -inf, -inf},  {UnaryOp::log_sigmoid, inf, T(0)},
      {UnaryOp::softplus, -inf, T(0)},     {UnaryOp::softplus, inf, inf},
      {UnaryOp::exp, -T(0), T(1)},         {UnaryOp::exp, denorm, T(1)},
      {UnaryOp::exp, -denorm, T(1)},       {UnaryOp::exp, exp_last_finite_next, inf},
      {UnaryOp::expm1, huge, inf},         {UnaryOp::expm1, -huge, T(-1)},
      {UnaryOp::expm1, denorm, denorm},    {UnaryOp::expm1, -denorm, -denorm},
      {UnaryOp::log1p, denorm, denorm},    {UnaryOp::log1p, -denorm, -denorm},
      {UnaryOp::log, denorm, log_denorm},  {UnaryOp::log, tiny, log_tiny},
      {UnaryOp::sigmoid, -T(0), T(0.5)},   {UnaryOp::sigmoid, huge, T(1)},
      {UnaryOp::sigmoid, -huge, T(0)},     {UnaryOp::log_sigmoid, huge, T(0)},
      {UnaryOp::log_sigmoid, -huge, -huge}, {UnaryOp::softplus, huge, huge},
      {UnaryOp::softplus, -huge, T(0)},
  };
  for (const Case& c : cases) {
    const T got = apply_op(c.op, std::vector<T>{c.x})[0];
    EXPECT_EQ(got, c.expected) << static_cast<int>(c.op) << " at " << static_cast<double>(c.x);
  }
  EXPECT_TRUE(std::isfinite(apply_op(UnaryOp::exp, std::vector<T>{exp_last_finite})[0]));
  // Signed zeros are kept where the function is odd at 0.
  for (UnaryOp op : {UnaryOp::log1p, UnaryOp::expm1}) EXPECT_TRUE(std::signbit(apply_op(op, std::vector<T>{-T(0)})[0]));
  // NaN in, NaN out; domain errors give NaN.
  for (const Contract& c : kContracts) EXPECT_TRUE(std::isnan(apply_op(c.op, std::vector<T>{nan})[0])) << c.name;
  for (T x : {T(-2), -inf}) {
    EXPECT_TRUE(std::isnan(apply_op(UnaryOp::log, std::vector<T>{x})[0]));
    EXPECT_TRUE(std::isnan(apply_op(UnaryOp::log1p, std::vector<T>{x})[0]));
  }
  // The stable forms stay finite for every finite input.
  for (UnaryOp op : {UnaryOp::log_sigmoid, UnaryOp::softplus, UnaryOp::sigmoid}) {
    for (T x : {std::numeric_limits<T>::max(), -std::numeric_limits<T>::max(), T(1e30), T(-1e30)})
      EXPECT_TRUE(std::isfinite(apply_op(op, std::vector<T>{x})[0])) << static_cast<int>(op) << " at " << static_cast<double>(x);
  }
}

TEST_P(MathTest, SpecialValuesAreExact) {
  check_specials<float>();
  check_specials<double>();
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Arguments for a restricted-domain form: uniform over [lo, hi], log-uniform magnitudes of
// hi's or lo's sign, and each point's neighbours (add_neighbours), those in [lo, hi].
template <class T>
std::vector<T> domain_sweep(double lo, double hi, double magnitude_sign, const std::vector<T>& points) {
  std::mt19937_64 rng(7);
  const double max_exponent = sizeof(T) == 4 ? 45.0 : 323.0;
  std::uniform_real_distribution<double> wide(lo, hi), exponent(-max_exponent, std::log10(std::max(-lo, hi)));
  std::vector<T> xs;
  for (int i = 0; i < kRandomArgs / 2; ++i) xs.push_back(static_cast<T>(wide(rng)));
  for (int i = 0; i < kRandomArgs / 2; ++i) xs.push_back(static_cast<T>(magnitude_sign * std::pow(10.0, exponent(rng))));
  add_neighbours(xs, points);
  std::vector<T> kept;
  for (T x : xs)
    if (x >= static_cast<T>(lo) && x <= static_cast<T>(hi)) kept.push_back(x);
  return kept;
}

// exp_nonpositive is exp bitwise wherever 2^k is normal, and +0 below (where exp's result is
// subnormal); log_unit is log bitwise on (0, 1] and below -100 at ±0. Their
// accuracy is then exp's and log's contract.
template <class T>
void check_restricted_forms() {
  const bool f32 = sizeof(T) == 4;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T tiny = std::numeric_limits<T>::min();
  const double k_edge = f32 ? -126.5 * 0.6931471805599453 : -1022.5 * 0.6931471805599453;
  const T subnormal_edge = f32 ? T(-87.3365479) : T(-708.396418532264);
  const std::vector<T> xs = domain_sweep<T>(f32 ? -104.0 : -746.0, 0.0, -1.0,
                                            {T(0), T(-0.34657359), subnormal_edge, static_cast<T>(k_edge)});
  const std::vector<T> got = apply_op(UnaryOp::exp_nonpositive, xs), exp = apply_op(UnaryOp::exp, xs);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (same_bits(got[i], exp[i])) continue;
    ASSERT_TRUE(xs[i] < static_cast<T>(k_edge + 0.5) && same_bits(got[i], T(0)) && exp[i] < tiny)
        << "exp_nonpositive(" << static_cast<double>(xs[i]) << ") = " << got[i] << ", exp " << exp[i];
  }
  const std::vector<T> specials = apply_op(UnaryOp::exp_nonpositive, std::vector<T>{T(0), -T(0), -inf, nan, T(-1e30)});
  EXPECT_EQ(specials[0], T(1));
  EXPECT_EQ(specials[1], T(1));
  EXPECT_TRUE(same_bits(specials[2], T(0)));
  EXPECT_TRUE(std::isnan(specials[3]));
  EXPECT_TRUE(same_bits(specials[4], T(0)));

  const std::vector<T> unit = domain_sweep<T>(0.0, 1.0, 1.0,
                                              {T(1), T(0.70710678118654752), tiny, std::numeric_limits<T>::denorm_min()});
  const std::vector<T> log_unit = apply_op(UnaryOp::log_unit, unit), log = apply_op(UnaryOp::log, unit);
  for (size_t i = 0; i < unit.size(); ++i) {
    if (unit[i] == T(0)) continue;
    ASSERT_TRUE(same_bits(log_unit[i], log[i]))
        << "log_unit(" << static_cast<double>(unit[i]) << ") = " << log_unit[i] << ", log " << log[i];
  }
  for (T zero : {T(0), -T(0)}) {
    const T at_zero = apply_op(UnaryOp::log_unit, std::vector<T>{zero})[0];
    EXPECT_TRUE(std::isfinite(at_zero) && at_zero < T(-100)) << at_zero;
  }
  EXPECT_TRUE(same_bits(apply_op(UnaryOp::log_unit, std::vector<T>{T(1)})[0], T(0)));
}

TEST_P(MathTest, RestrictedDomainFormsAreTheGeneralFunctionsBitwise) {
  check_restricted_forms<float>();
  check_restricted_forms<double>();
}

template <class T>
void check_tails_and_alignment() {
  // Every length up to three 512-bit vectors + 1, at two alignments: the peeled head, the
  // remainder loop and unaligned loads give bit for bit what the aligned vector body gives
  // for the same arguments, and meet the contracts.
  constexpr size_t kBodyStart = 1024;  // far inside the vector body of a long array
  for (const Contract& c : kContracts) {
    const double bound = sizeof(T) == 4 ? c.max_ulp_float : c.max_ulp_double;
    for (size_t n = 0; n <= 3 * 64 / sizeof(T) + 1; ++n) {
      for (size_t offset : {0, 1}) {
        std::vector<T> xs(n);
        for (size_t i = 0; i < n; ++i) xs[i] = static_cast<T>(0.37 * static_cast<double>(i) - 5.0 + 1e-3 * offset);
        if (c.op == UnaryOp::log || c.op == UnaryOp::log1p)
          for (T& x : xs) x = std::fabs(x);
        std::vector<T> long_input(2 * kBodyStart + n, T(0.5));
        std::copy(xs.begin(), xs.end(), long_input.begin() + kBodyStart);
        const std::vector<T> body = apply_op(c.op, long_input);
        const std::vector<T> got = apply_op(c.op, xs, offset);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(same_bits(got[i], body[kBodyStart + i]))
              << c.name << " n=" << n << " offset=" << offset << " i=" << i << ": " << got[i]
              << " vs " << body[kBodyStart + i];
          ASSERT_LE(ulp_error(got[i], c.reference(xs[i])), bound) << c.name << " n=" << n << " i=" << i;
        }
      }
    }
  }
}

TEST_P(MathTest, TailsAndUnalignedPointers) {
  check_tails_and_alignment<float>();
  check_tails_and_alignment<double>();
}

TEST_P(MathTest, InPlaceApplication) {
  std::vector<float> xs = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f, 40.0f, -40.0f};
  const std::vector<float> expected = apply_op(UnaryOp::sigmoid, xs);
  const int64_t n = static_cast<int64_t>(xs.size()), unit = 1;
  fastloss::unary(UnaryOp::sigmoid, DType::kFloat32, Shape{1, &n}, ConstView{xs.data(), &unit},
                  MutableView{xs.data(), &unit});
  EXPECT_EQ(xs, expected);
}

FASTLOSS_INSTANTIATE_PER_TARGET(MathTest);

}  // namespace
