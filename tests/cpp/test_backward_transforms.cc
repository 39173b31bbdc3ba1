// The gradients of softmax / log_softmax (from the output, as aten's _softmax_backward_data)
// and of sigmoid / log_sigmoid, on every supported SIMD target against long-double
// references: rows around the vector widths and the summation blocks, rows along a strided
// (staged) dimension, in place (out = grad_output), NaN and +-inf, and the same bits for any
// thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/class_losses.hpp"
#include "fastloss/threading.hpp"
#include "fastloss/unary.hpp"
#include "per_target.hpp"

namespace {

using fastloss::ConstView;
using fastloss::MutableRowView;
using fastloss::MutableView;
using fastloss::RowShape;
using fastloss::RowView;
using fastloss::Shape;
using fastloss::UnaryBackwardOp;
using fastloss_test::dtype_of;
using fastloss_test::expect_close;

constexpr long double kInf = std::numeric_limits<long double>::infinity();
constexpr long double kNaN = std::numeric_limits<long double>::quiet_NaN();

template <class T>
long double tolerance() {
  return sizeof(T) == 4 ? 2e-6L : 1e-14L;
}

class SoftmaxBackwardTest : public fastloss_test::PerTarget {};
FASTLOSS_INSTANTIATE_PER_TARGET(SoftmaxBackwardTest);
class SigmoidBackwardTest : public fastloss_test::PerTarget {};
FASTLOSS_INSTANTIATE_PER_TARGET(SigmoidBackwardTest);

// A (rows, length) problem laid out either as contiguous rows or transposed (the softmax
// dimension strided, so the row engine stages it through tiles).
template <class T>
struct SoftmaxCase {
  int64_t rows, length;
  bool transposed;
  std::vector<T> g, y;

  size_t at(int64_t r, int64_t c) const {
    return static_cast<size_t>(transposed ? c * rows + r : r * length + c);
  }
  int64_t row_stride() const { return transposed ? 1 : length; }
  int64_t elem_stride() const { return transposed ? rows : 1; }
};

template <class T>
SoftmaxCase<T> make_case(int64_t rows, int64_t length, bool transposed, bool log, uint32_t seed) {
  SoftmaxCase<T> c{rows, length, transposed, {}, {}};
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  c.g.resize(static_cast<size_t>(rows * length));
  c.y.resize(c.g.size());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<long double> x(static_cast<size_t>(length));
    long double m = -kInf, s = 0;
    for (auto& v : x) m = std::max(m, v = 3.0L * normal(gen));
    for (auto v : x) s += std::exp(v - m);
    for (int64_t k = 0; k < length; ++k) {
      const long double lp = x[k] - m - std::log(s);
      c.y[c.at(r, k)] = static_cast<T>(log ? lp : std::exp(lp));
      c.g[c.at(r, k)] = static_cast<T>(normal(gen));
    }
  }
  return c;
}

// The reference from the very T values the kernel reads: the row's sum (once per row: the
// emulated aarch64 run computes long double in software), then each element's gradient.
template <class T>
long double row_sum(const SoftmaxCase<T>& c, int64_t r, bool log) {
  long double sum = 0;
  for (int64_t j = 0; j < c.length; ++j) {
    const long double g = c.g[c.at(r, j)], y = c.y[c.at(r, j)];
    sum += log ? g : g * y;
  }
  return sum;
}

template <class T>
long double reference(const SoftmaxCase<T>& c, int64_t r, int64_t k, bool log, long double sum) {
  const long double g = c.g[c.at(r, k)], y = c.y[c.at(r, k)];
  return log ? g - std::exp(y) * sum : y * (g - sum);
}

template <class T>
std::vector<T> run_backward(const SoftmaxCase<T>& c, bool log, bool in_place) {
  std::vector<T> g = c.g;
  std::vector<T> out = in_place ? std::vector<T>{} : std::vector<T>(c.g.size(), T(7));
  T* dst = in_place ? g.data() : out.data();
  const int64_t extent[1] = {c.rows}, stride[1] = {c.row_stride()};
  const RowShape shape{Shape{1, extent}, c.length};
  fastloss::softmax_backward(dtype_of<T>(), shape, RowView{ConstView{g.data(), stride}, c.elem_stride()},
                             RowView{ConstView{c.y.data(), stride}, c.elem_stride()},
                             MutableRowView{MutableView{dst, stride}, c.elem_stride()}, log);
  return in_place ? g : out;
}

template <class T>
void check_softmax_backward(int64_t rows, int64_t length, bool transposed, bool log, bool in_place) {
  const SoftmaxCase<T> c = make_case<T>(rows, length, transposed, log, static_cast<uint32_t>(rows * 31 + length));
  const std::vector<T> got = run_backward(c, log, in_place);
  // The row's sum is of `length` terms: its rounding grows with sqrt(length) at most.
  const long double tol = tolerance<T>() * (1 + std::sqrt(static_cast<long double>(length)) / 8);
  for (int64_t r = 0; r < rows; ++r) {
    const long double sum = row_sum(c, r, log);
    for (int64_t k = 0; k < length; ++k)
      expect_close(reference(c, r, k, log, sum), got[c.at(r, k)], tol, log ? "log_softmax_backward" : "softmax_backward",
                   c.at(r, k));
  }
}

TEST_P(SoftmaxBackwardTest, MatchesLongDoubleOverLengthsLayoutsAndInPlace) {
  for (int64_t length : {1, 2, 7, 16, 17, 64, 255, 256, 257, 1000, 5000}) {
    for (bool log : {false, true}) {
      for (bool transposed : {false, true}) {
        for (bool in_place : {false, true}) {
          check_softmax_backward<float>(5, length, transposed, log, in_place);
          check_softmax_backward<double>(5, length, transposed, log, in_place);
        }
      }
    }
  }
}

TEST_P(SoftmaxBackwardTest, ManyRowsAcrossChunksAndThreads) {
  const int prev = fastloss::get_num_threads();
  for (bool log : {false, true}) {
    const SoftmaxCase<float> c = make_case<float>(3000, 37, false, log, 5);
    fastloss::set_num_threads(1);
    const std::vector<float> one = run_backward(c, log, false);
    fastloss::set_num_threads(4);
    const std::vector<float> four = run_backward(c, log, false);
    EXPECT_EQ(one, four);
    for (int64_t r = 0; r < c.rows; r += 97) {
      const long double sum = row_sum(c, r, log);
      for (int64_t k = 0; k < c.length; ++k) expect_close(reference(c, r, k, log, sum), one[c.at(r, k)], 1e-5L, "rows", 0);
    }
  }
  fastloss::set_num_threads(prev);
}

// NaN or inf in a row reaches every element through the sum, as in torch.
TEST_P(SoftmaxBackwardTest, NaNAndInfSpreadThroughTheRow) {
  for (bool log : {false, true}) {
    for (long double special : {kNaN, kInf, -kInf}) {
      SoftmaxCase<double> c = make_case<double>(2, 9, false, log, 3);
      c.g[4] = static_cast<double>(special);  // row 0 only
      const std::vector<double> got = run_backward(c, log, false);
      for (int64_t k = 0; k < c.length; ++k) {
        expect_close(reference(c, 0, k, log, row_sum(c, 0, log)), got[c.at(0, k)], tolerance<double>(), "special row",
                     c.at(0, k));
        EXPECT_TRUE(std::isfinite(got[c.at(1, k)])) << k;
      }
    }
  }
}

long double ref_sigmoid_backward(long double g, long double y) { return g * (1 - y) * y; }
long double ref_log_sigmoid_backward(long double g, long double x) {
  return std::isnan(x) ? kNaN : g / (1 + std::exp(x));  // g sigmoid(-x)
}

template <class T>
void check_unary_backward(UnaryBackwardOp op, long double (*ref)(long double, long double)) {
  std::mt19937 gen(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<T> g, v;
  const bool is_sigmoid = op == UnaryBackwardOp::sigmoid_backward;
  for (int i = 0; i < 1037; ++i) {
    g.push_back(static_cast<T>(normal(gen)));
    const long double x = 30.0L * normal(gen);
    v.push_back(static_cast<T>(is_sigmoid ? 1.0L / (1.0L + std::exp(-x)) : x));
  }
  // Specials in either operand (huge inputs for log_sigmoid; sigmoid's output is in [0, 1]).
  const std::vector<long double> specials = is_sigmoid ? std::vector<long double>{kNaN, kInf, -kInf, 0.0L, 1.0L}
                                                       : std::vector<long double>{kNaN, kInf, -kInf, 0.0L, -1e30L, 1e30L};
  for (long double s : specials) {
    g.push_back(static_cast<T>(1.5));
    v.push_back(static_cast<T>(s));
    g.push_back(static_cast<T>(s));
    v.push_back(static_cast<T>(is_sigmoid ? 0.25L : -3.0L));
  }
  for (bool in_place : {false, true}) {
    std::vector<T> grad = g, out(g.size(), T(7));
    T* dst = in_place ? grad.data() : out.data();
    const int64_t n = static_cast<int64_t>(g.size()), unit = 1;
    fastloss::unary_backward(op, dtype_of<T>(), Shape{1, &n}, ConstView{grad.data(), &unit},
                             ConstView{v.data(), &unit}, MutableView{dst, &unit});
    for (size_t i = 0; i < g.size(); ++i) {
      // The float product's rounding and log_sigmoid's sigmoid (2.5 ULP): a few ULP.
      expect_close(ref(g[i], v[i]), dst[i], sizeof(T) == 4 ? 1e-6L : 2e-15L, "unary_backward", i);
    }
  }
}

TEST_P(SigmoidBackwardTest, MatchesLongDoubleWithSpecialsAndInPlace) {
  check_unary_backward<float>(UnaryBackwardOp::sigmoid_backward, ref_sigmoid_backward);
  check_unary_backward<double>(UnaryBackwardOp::sigmoid_backward, ref_sigmoid_backward);
  check_unary_backward<float>(UnaryBackwardOp::log_sigmoid_backward, ref_log_sigmoid_backward);
  check_unary_backward<double>(UnaryBackwardOp::log_sigmoid_backward, ref_log_sigmoid_backward);
}

// grad_output broadcast along the rows (stride 0), as the bindings lay out a smaller operand.
TEST_P(SigmoidBackwardTest, BroadcastOperand) {
  const int64_t extents[2] = {3, 4}, full[2] = {4, 1}, row[2] = {0, 1};
  const std::vector<double> g = {1, 2, 3, 4};
  std::vector<double> y(12), out(12);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 0.05 * static_cast<double>(i + 1);
  fastloss::unary_backward(UnaryBackwardOp::sigmoid_backward, fastloss::DType::kFloat64, Shape{2, extents},
                           ConstView{g.data(), row}, ConstView{y.data(), full}, MutableView{out.data(), full});
  for (size_t i = 0; i < y.size(); ++i) EXPECT_DOUBLE_EQ(out[i], g[i % 4] * (1 - y[i]) * y[i]) << i;
}

}  // namespace
