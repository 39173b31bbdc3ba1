// The row-wise losses (cosine_embedding, multi_margin, triplet_margin, multilabel_soft_margin,
// multilabel_margin) on every supported SIMD target against long-double references: per-row losses, every
// input's gradient from backward and from the fused pass, the reductions, every option,
// contiguous and strided rows, row lengths around the vector widths, several row dimensions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "fastloss/row_losses.hpp"
#include "per_target.hpp"

namespace {

using fastloss::DType;
using fastloss::ConstView;
using fastloss::MutableRowView;
using fastloss::MutableView;
using fastloss::Reduction;
using fastloss::RowLoss;
using fastloss::RowLossCall;
using fastloss::RowShape;
using fastloss::RowView;
using fastloss::Shape;
using LD = long double;
using Rows = std::vector<std::vector<LD>>;  // [input][row * dim + i]

struct Reference {
  std::vector<LD> loss;  // per row
  Rows grad;             // d row loss / d inputs
};

LD sign(LD x) { return (x > 0) - (x < 0); }

struct Options {
  double margin = 0.0;
  int margin_p = 1;
  double norm_p = 2.0;
  double eps = 1e-6;
  bool swap = false;
  bool weighted = false;
};

Reference cosine_reference(const Rows& x, const std::vector<LD>& label, int64_t rows, int64_t dim, const Options& o) {
  Reference ref{std::vector<LD>(rows), Rows(2, std::vector<LD>(rows * dim))};
  for (int64_t r = 0; r < rows; ++r) {
    LD dot = 0, s1 = 1e-12L, s2 = 1e-12L;
    for (int64_t i = 0; i < dim; ++i) {
      const LD a = x[0][r * dim + i], b = x[1][r * dim + i];
      dot += a * b;
      s1 += a * a;
      s2 += b * b;
    }
    const LD denom = std::sqrt(s1 * s2), cos = dot / denom;
    const LD c = label[r] == 1 ? -1 : (label[r] == -1 && cos >= o.margin ? 1 : 0);
    ref.loss[r] = label[r] == 1 ? 1 - cos : (label[r] == -1 ? std::max<LD>(0, cos - o.margin) : 0);
    for (int64_t i = 0; i < dim; ++i) {
      const LD a = x[0][r * dim + i], b = x[1][r * dim + i];
      ref.grad[0][r * dim + i] = c * (b / denom - cos * a / s1);
      ref.grad[1][r * dim + i] = c * (a / denom - cos * b / s2);
    }
  }
  return ref;
}

Reference multi_margin_reference(const Rows& x, const std::vector<int64_t>& cls, const std::vector<LD>& weight,
                                 int64_t rows, int64_t dim, const Options& o) {
  Reference ref{std::vector<LD>(rows), Rows(1, std::vector<LD>(rows * dim))};
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t y = cls[r];
    const LD w = o.weighted ? weight[y] : 1;
    for (int64_t j = 0; j < dim; ++j) {
      if (j == y) continue;
      const LD z = o.margin - x[0][r * dim + y] + x[0][r * dim + j];
      if (z <= 0) continue;
      ref.loss[r] += w * (o.margin_p == 2 ? z * z : z) / dim;
      const LD g = w * (o.margin_p == 2 ? 2 * z : 1) / dim;
      ref.grad[0][r * dim + j] += g;
      ref.grad[0][r * dim + y] -= g;
    }
  }
  return ref;
}

// ||a - b + eps||_p of one row and its gradient with respect to a.
LD distance(const LD* a, const LD* b, int64_t dim, const Options& o, std::vector<LD>* grad) {
  std::vector<LD> u(dim);
  LD acc = 0, max = 0;
  for (int64_t i = 0; i < dim; ++i) {
    u[i] = a[i] - b[i] + static_cast<LD>(o.eps);
    acc += std::pow(std::fabs(u[i]), static_cast<LD>(o.norm_p));
    max = std::max(max, std::fabs(u[i]));
  }
  const bool inf = std::isinf(o.norm_p);
  const LD d = inf ? max : std::pow(acc, 1 / static_cast<LD>(o.norm_p));
  int64_t ties = 0;
  for (int64_t i = 0; i < dim; ++i) ties += std::fabs(u[i]) == max;
  grad->assign(dim, 0);
  for (int64_t i = 0; i < dim; ++i) {
    if (inf) (*grad)[i] = std::fabs(u[i]) == max ? sign(u[i]) / ties : 0;
    else if (d > 0) (*grad)[i] = sign(u[i]) * std::pow(std::fabs(u[i]), static_cast<LD>(o.norm_p) - 1) /
                                 std::pow(d, static_cast<LD>(o.norm_p) - 1);
  }
  return d;
}

Reference triplet_reference(const Rows& x, int64_t rows, int64_t dim, const Options& o) {
  Reference ref{std::vector<LD>(rows), Rows(3, std::vector<LD>(rows * dim))};
  for (int64_t r = 0; r < rows; ++r) {
    const LD* a = &x[0][r * dim];
    const LD* p = &x[1][r * dim];
    const LD* n = &x[2][r * dim];
    std::vector<LD> h_ap, h_an, h_pn;
    const LD d_ap = distance(a, p, dim, o, &h_ap), d_an = distance(a, n, dim, o, &h_an);
    const LD d_pn = distance(p, n, dim, o, &h_pn);
    LD w_an = 1, w_pn = 0;
    if (o.swap) {
      w_an = d_an < d_pn ? 1 : (d_an == d_pn ? 0.5L : 0);
      w_pn = 1 - w_an;
    }
    const LD hinge = o.margin + d_ap - (o.swap ? std::min(d_an, d_pn) : d_an);
    ref.loss[r] = std::max<LD>(0, hinge);
    const LD s = hinge >= 0 ? 1 : 0;
    for (int64_t i = 0; i < dim; ++i) {
      ref.grad[0][r * dim + i] = s * (h_ap[i] - w_an * h_an[i]);
      ref.grad[1][r * dim + i] = s * (-h_ap[i] - w_pn * h_pn[i]);
      ref.grad[2][r * dim + i] = s * (w_an * h_an[i] + w_pn * h_pn[i]);
    }
  }
  return ref;
}

// -(1/C) sum_c w_c (y log sigmoid(x) + (1 - y) log sigmoid(-x)); d/dx = w_c (sigmoid(x) - y) / C.
Reference multilabel_reference(const Rows& x, const std::vector<LD>& labels, const std::vector<LD>& weight,
                               int64_t rows, int64_t dim, const Options& o) {
  Reference ref{std::vector<LD>(rows), Rows(1, std::vector<LD>(rows * dim))};
  const auto log_sigmoid = [](LD v) { return -std::log1p(std::exp(-v)); };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < dim; ++c) {
      const LD v = x[0][r * dim + c], y = labels[r * dim + c], w = o.weighted ? weight[c] : 1;
      ref.loss[r] -= w * (y * log_sigmoid(v) + (1 - y) * log_sigmoid(-v)) / dim;
      ref.grad[0][r * dim + c] = w * (1 / (1 + std::exp(-v)) - y) / dim;
    }
  return ref;
}

// (1/C) sum_j sum_{i not listed} max(0, 1 - x[y_j] + x[i]) over the row's list y (ended by
// -1); d/dx[i] = (1/C) #{j : hinge open} for non-targets, minus the hinges y_j opens for y_j.
Reference multilabel_margin_reference(const Rows& x, const std::vector<int64_t>& lists, int64_t rows, int64_t dim) {
  Reference ref{std::vector<LD>(rows), Rows(1, std::vector<LD>(rows * dim))};
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* list = &lists[r * dim];
    const LD* v = &x[0][r * dim];
    LD* g = &ref.grad[0][r * dim];
    int64_t k = 0;
    while (k < dim && list[k] >= 0) ++k;
    std::vector<bool> target(dim, false);
    for (int64_t j = 0; j < k; ++j) target[list[j]] = true;
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < dim; ++i) {
        const LD z = 1 - v[list[j]] + v[i];
        if (target[i] || !(z > 0)) continue;
        ref.loss[r] += z / dim;
        g[i] += 1.0L / dim;
        g[list[j]] -= 1.0L / dim;
      }
  }
  return ref;
}

using fastloss_test::dtype_of;

// Relative tolerance on values of magnitude ~1: the kernels sum in float64 but compute
// terms in T.
template <class T>
LD tolerance() { return sizeof(T) == 4 ? 2e-5L : 1e-12L; }

struct Layout {
  std::string name;
  int64_t col_stride;
};

template <class T>
void check_loss(RowLoss loss, const Options& o, int64_t rows, int64_t dim, const Layout& layout, uint32_t seed) {
  SCOPED_TRACE(std::to_string(static_cast<int>(loss)) + " dim=" + std::to_string(dim) + " " + layout.name);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> value(-2.0, 2.0);
  const int inputs = fastloss::row_loss_inputs(loss);
  const int64_t cs = layout.col_stride;
  // Storage with cs elements between neighbours of a row (and 1 of padding between rows).
  const int64_t row_stride = dim * cs + 1;
  std::vector<std::vector<T>> store(inputs, std::vector<T>(rows * row_stride));
  Rows x(inputs, std::vector<LD>(rows * dim));
  for (int k = 0; k < inputs; ++k)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < dim; ++i) {
        const T v = static_cast<T>(value(rng));
        store[k][r * row_stride + i * cs] = v;
        x[k][r * dim + i] = v;
      }
  std::vector<T> labels(rows), weight(dim);
  std::vector<int64_t> cls(rows);
  std::vector<LD> label_ld(rows), weight_ld(dim);
  for (int64_t r = 0; r < rows; ++r) {
    labels[r] = static_cast<T>(r % 3 == 0 ? 1 : (r % 3 == 1 ? -1 : 0));
    label_ld[r] = labels[r];
    cls[r] = static_cast<int64_t>(rng() % dim);
  }
  for (int64_t c = 0; c < dim; ++c) weight_ld[c] = weight[c] = static_cast<T>(0.5 + (c % 4) * 0.25);
  // multilabel_soft_margin's labels in [0, 1], laid out like the input.
  std::vector<T> label_rows(rows * row_stride);
  std::vector<LD> label_rows_ld(rows * dim);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) {
      const T y = static_cast<T>(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
      label_rows[r * row_stride + i * cs] = y;
      label_rows_ld[r * dim + i] = y;
    }
  const int64_t broadcast = 0;  // the (C,) weight repeats along the rows
  // multilabel_margin's class lists (some with a class twice), laid out like the input.
  std::vector<int64_t> lists(rows * dim), list_store(rows * row_stride, -7);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t k = static_cast<int64_t>(rng() % (dim + 1));
    for (int64_t i = 0; i < dim; ++i) {
      lists[r * dim + i] = i < k ? static_cast<int64_t>((r % 2 == 0 ? i * 7 + r : rng()) % dim)
                                 : (i == k ? -1 : static_cast<int64_t>(rng() % dim));
      list_store[r * row_stride + i * cs] = lists[r * dim + i];
    }
  }

  const int64_t unit = 1;
  RowLossCall call;
  call.loss = loss;
  call.dtype = dtype_of<T>();
  call.shape = RowShape{Shape{1, &rows}, dim};
  for (int k = 0; k < inputs; ++k) call.inputs[k] = RowView{ConstView{store[k].data(), &row_stride}, cs};
  if (loss == RowLoss::kCosineEmbedding) call.target = ConstView{labels.data(), &unit};
  if (loss == RowLoss::kMultiMargin) call.target = ConstView{cls.data(), &unit};
  if (loss == RowLoss::kMultilabelMargin) call.class_rows = RowView{ConstView{list_store.data(), &row_stride}, cs};
  if (loss == RowLoss::kMultilabelSoftMargin) {
    call.target_rows = RowView{ConstView{label_rows.data(), &row_stride}, cs};
    if (o.weighted) call.weight_rows = RowView{ConstView{weight.data(), &broadcast}, 1};
  } else if (o.weighted) {
    call.class_weight = weight.data();
  }
  call.options = fastloss::RowLossOptions{o.margin, o.margin_p, o.norm_p, o.eps, o.swap};
  ASSERT_EQ(fastloss::find_invalid_class(call).row, -1);

  const Reference ref =
      loss == RowLoss::kCosineEmbedding ? cosine_reference(x, label_ld, rows, dim, o)
      : loss == RowLoss::kMultiMargin   ? multi_margin_reference(x, cls, weight_ld, rows, dim, o)
      : loss == RowLoss::kMultilabelSoftMargin ? multilabel_reference(x, label_rows_ld, weight_ld, rows, dim, o)
      : loss == RowLoss::kMultilabelMargin     ? multilabel_margin_reference(x, lists, rows, dim)
                                               : triplet_reference(x, rows, dim, o);
  const LD tol = tolerance<T>();
  LD total = 0;
  for (LD l : ref.loss) total += l;

  std::vector<T> loss_rows(rows, T(-7));
  fastloss::row_loss_forward(call, Reduction::kNone, MutableView{loss_rows.data(), &unit});
  for (int64_t r = 0; r < rows; ++r) EXPECT_NEAR(loss_rows[r], ref.loss[r], tol * (1 + std::fabs(ref.loss[r]))) << r;
  EXPECT_NEAR(fastloss::row_loss_forward(call, Reduction::kSum, {}), total, tol * (1 + std::fabs(total)) * rows);
  EXPECT_NEAR(fastloss::row_loss_forward(call, Reduction::kMean, {}), total / rows, tol * (1 + std::fabs(total)));

  // Gradients, written with the inputs' layout: backward with per-row grad_output, and fused.
  std::vector<T> grad_output(rows);
  for (int64_t r = 0; r < rows; ++r) grad_output[r] = static_cast<T>(0.5 + r);
  std::vector<std::vector<T>> grads(inputs, std::vector<T>(rows * row_stride, T(0)));
  MutableRowView views[3];
  for (int k = 0; k < inputs; ++k) views[k] = MutableRowView{MutableView{grads[k].data(), &row_stride}, cs};
  auto expect_grads = [&](const std::vector<LD>& row_scale, const char* what) {
    for (int k = 0; k < inputs; ++k)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < dim; ++i) {
          const LD want = row_scale[r] * ref.grad[k][r * dim + i];
          ASSERT_NEAR(grads[k][r * row_stride + i * cs], want, tol * (1 + std::fabs(want)) * 4)
              << what << " input " << k << " row " << r << " i " << i;
        }
  };
  fastloss::row_loss_backward(call, Reduction::kNone, ConstView{grad_output.data(), &unit}, 0.0, views);
  expect_grads(std::vector<LD>(grad_output.begin(), grad_output.end()), "backward none");
  fastloss::row_loss_backward(call, Reduction::kSum, {}, 3.0, views);
  expect_grads(std::vector<LD>(rows, 3.0L), "backward sum");
  const double fused = fastloss::row_loss_forward_backward(call, Reduction::kMean, views, {});
  EXPECT_NEAR(fused, total / rows, tol * (1 + std::fabs(total)));
  expect_grads(std::vector<LD>(rows, 1.0L / rows), "fused mean");
}

class RowLosses : public fastloss_test::PerTarget {};

const std::vector<int64_t> kDims = {1, 3, 8, 17, 64, 300};
const std::vector<Layout> kLayouts = {{"contiguous", 1}, {"strided", 3}};

template <class T>
void check_all(RowLoss loss, const std::vector<Options>& options) {
  uint32_t seed = 1;
  // multi_margin also on 40 rows: its tiles of 16 rows (full, then a partial one).
  const std::vector<int64_t> row_counts =
      loss == RowLoss::kMultiMargin ? std::vector<int64_t>{7, 40} : std::vector<int64_t>{7};
  for (const Options& o : options)
    for (int64_t dim : kDims)
      for (const Layout& layout : kLayouts)
        for (int64_t rows : row_counts) check_loss<T>(loss, o, rows, dim, layout, seed++);
}

TEST_P(RowLosses, CosineEmbedding) {
  std::vector<Options> options;
  for (double margin : {0.0, 0.3, -0.5}) options.push_back(Options{margin});
  check_all<float>(RowLoss::kCosineEmbedding, options);
  check_all<double>(RowLoss::kCosineEmbedding, options);
}

TEST_P(RowLosses, MultiMargin) {
  std::vector<Options> options;
  for (int p : {1, 2})
    for (double margin : {1.0, 0.25})
      for (bool weighted : {false, true}) {
        Options o;
        o.margin = margin;
        o.margin_p = p;
        o.weighted = weighted;
        options.push_back(o);
      }
  check_all<float>(RowLoss::kMultiMargin, options);
  check_all<double>(RowLoss::kMultiMargin, options);
}

TEST_P(RowLosses, TripletMargin) {
  std::vector<Options> options;
  for (double p : {1.0, 2.0, 3.0, 1.5, HUGE_VAL})
    for (bool swap : {false, true})
      for (double margin : {1.0, 4.0}) {
        Options o;
        o.margin = margin;
        o.norm_p = p;
        o.swap = swap;
        options.push_back(o);
      }
  check_all<float>(RowLoss::kTripletMargin, options);
  check_all<double>(RowLoss::kTripletMargin, options);
}

TEST_P(RowLosses, MultilabelSoftMargin) {
  std::vector<Options> options(2);
  options[1].weighted = true;
  check_all<float>(RowLoss::kMultilabelSoftMargin, options);
  check_all<double>(RowLoss::kMultilabelSoftMargin, options);
}

TEST_P(RowLosses, MultilabelMargin) {
  check_all<float>(RowLoss::kMultilabelMargin, {Options{}});
  check_all<double>(RowLoss::kMultilabelMargin, {Options{}});
}

// Rows over two row dimensions in a transposed layout give, row for row and bit for bit, the
// losses and gradients of the same rows laid out as one dimension.
TEST_P(RowLosses, RowsOverSeveralDimensionsMatchOneDimension) {
  const int64_t a = 3, b = 4, dim = 5;
  std::vector<double> store[3];
  std::mt19937 rng(5);
  for (auto& v : store) {
    v.resize(a * b * dim);
    for (double& e : v) e = std::uniform_real_distribution<double>(-2, 2)(rng);
  }
  // Row (i, j) of the 2-d layout lives at i * dim + j * a * dim (the (b, a, dim) array
  // transposed); the 1-d layout lists the same rows in (i, j) order.
  const int64_t extents[2] = {a, b}, strides[2] = {dim, a * dim};
  std::vector<double> flat[3];
  for (int k = 0; k < 3; ++k)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j)
        for (int64_t c = 0; c < dim; ++c) flat[k].push_back(store[k][i * dim + j * a * dim + c]);
  const int64_t rows = a * b, flat_stride = dim, unit = 1, loss_strides[2] = {b, 1};
  RowLossCall nd, one;
  nd.loss = one.loss = RowLoss::kTripletMargin;
  nd.dtype = one.dtype = DType::kFloat64;
  nd.shape = RowShape{Shape{2, extents}, dim};
  one.shape = RowShape{Shape{1, &rows}, dim};
  std::vector<double> nd_grads[3], one_grads[3];
  MutableRowView nd_views[3], one_views[3];
  for (int k = 0; k < 3; ++k) {
    nd.inputs[k] = RowView{ConstView{store[k].data(), strides}, 1};
    one.inputs[k] = RowView{ConstView{flat[k].data(), &flat_stride}, 1};
    nd_grads[k].assign(a * b * dim, 0.0);
    one_grads[k].assign(a * b * dim, 0.0);
    nd_views[k] = MutableRowView{MutableView{nd_grads[k].data(), strides}, 1};
    one_views[k] = MutableRowView{MutableView{one_grads[k].data(), &flat_stride}, 1};
  }
  std::vector<double> nd_loss(rows), one_loss(rows);
  EXPECT_EQ(fastloss::row_loss_forward_backward(nd, Reduction::kSum, nd_views, {}),
            fastloss::row_loss_forward_backward(one, Reduction::kSum, one_views, {}));
  fastloss::row_loss_forward(nd, Reduction::kNone, MutableView{nd_loss.data(), loss_strides});
  fastloss::row_loss_forward(one, Reduction::kNone, MutableView{one_loss.data(), &unit});
  EXPECT_EQ(nd_loss, one_loss);
  for (int k = 0; k < 3; ++k)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j)
        for (int64_t c = 0; c < dim; ++c)
          ASSERT_EQ(nd_grads[k][i * dim + j * a * dim + c], one_grads[k][(i * b + j) * dim + c]) << k;
}

// Zero rows: cosine's epsilon keeps cos = 0 (loss 1 for label 1) with a zero gradient;
// triplet's zero distance has a zero gradient.
TEST_P(RowLosses, ZeroRows) {
  std::vector<double> zeros(4, 0.0), labels = {1.0}, grad1(4, 5.0), grad2(4, 5.0);
  const int64_t one = 1, row_stride = 4, unit = 1;
  RowLossCall call;
  call.loss = RowLoss::kCosineEmbedding;
  call.dtype = DType::kFloat64;
  call.shape = RowShape{Shape{1, &one}, 4};
  call.inputs[0] = call.inputs[1] = RowView{ConstView{zeros.data(), &row_stride}, 1};
  call.target = ConstView{labels.data(), &unit};
  MutableRowView views[3] = {{MutableView{grad1.data(), &row_stride}, 1}, {MutableView{grad2.data(), &row_stride}, 1}, {}};
  EXPECT_EQ(fastloss::row_loss_forward_backward(call, Reduction::kSum, views, {}), 1.0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(grad1[i], 0.0);
}

TEST_P(RowLosses, InvalidClass) {
  std::vector<double> x(6, 0.0);
  std::vector<int64_t> cls = {0, 2, 3};
  const int64_t rows = 3, row_stride = 2, unit = 1;
  RowLossCall call;
  call.loss = RowLoss::kMultiMargin;
  call.dtype = DType::kFloat64;
  call.shape = RowShape{Shape{1, &rows}, 2};
  call.inputs[0] = RowView{ConstView{x.data(), &row_stride}, 1};
  call.target = ConstView{cls.data(), &unit};
  const fastloss::InvalidClass bad = fastloss::find_invalid_class(call);
  EXPECT_EQ(bad.row, 1);
  EXPECT_EQ(bad.value, 2);
}

// multilabel_margin: every element must be -1 or a class, after a row's -1 too; the first bad
// one is reported by its flat index.
TEST_P(RowLosses, InvalidClassList) {
  std::vector<double> x(6, 0.0);
  std::vector<int64_t> lists = {0, -1, 2, 1, -1, -2};
  const int64_t rows = 2, row_stride = 3, unit = 1;
  RowLossCall call;
  call.loss = RowLoss::kMultilabelMargin;
  call.dtype = DType::kFloat64;
  call.shape = RowShape{Shape{1, &rows}, 3};
  call.inputs[0] = RowView{ConstView{x.data(), &row_stride}, 1};
  call.class_rows = RowView{ConstView{lists.data(), &row_stride}, unit};
  fastloss::InvalidClass bad = fastloss::find_invalid_class(call);
  EXPECT_EQ(bad.row, 5);
  EXPECT_EQ(bad.value, -2);
  lists[5] = 0;
  EXPECT_EQ(fastloss::find_invalid_class(call).row, -1);
  lists[2] = 3;
  bad = fastloss::find_invalid_class(call);
  EXPECT_EQ(bad.row, 2);
  EXPECT_EQ(bad.value, 3);
}

FASTLOSS_INSTANTIATE_PER_TARGET(RowLosses);

}  // namespace
