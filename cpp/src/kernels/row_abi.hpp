// The interface between the row-loss dispatcher (cpp/src/row_losses.cc) and the per-target
// kernels (cpp/src/kernels/row_kernels.cc): cosine_embedding, multi_margin and
// triplet_margin, each over a block of rows of `dim` contiguous elements.
//
// Plain data and function-pointer types only, like abi.hpp: included by per-target and
// baseline code alike. The dispatcher gathers rows with a non-unit element stride into
// tiles first; per-row operands (labels, classes, weights, gradient scales, losses) come as
// contiguous arrays of the block's rows.
#pragma once

#include <cstdint>

namespace fastloss {
namespace kernel_abi {

template <class T>
struct RowBlock {
  int64_t rows;
  int64_t dim;
  const T* in[3];         // cosine: x1, x2; triplet: anchor, positive, negative; multi_margin: input
  int64_t in_stride[3];   // elements between consecutive rows of in[k]
  T* grad[3];             // gradients of in[k]: all null for the loss alone; grad[k] may be in[k]
  int64_t grad_stride[3];
  const double* label;    // cosine: the row's target (1, -1, or anything else: loss 0)
  const int64_t* cls;     // multi_margin: the row's target class, in [0, dim)
  const double* weight;   // multi_margin: the weight of the row's target class
  const double* scale;    // with gradients: d total / d row loss
  double* loss;           // out: each row's loss
};

// Scalar options. norm_p is triplet's p (finite > 0 or +inf); margin_p multi_margin's p.
struct RowOptions {
  double margin;
  double norm_p;
  double eps;
  bool swap;
  int margin_p;
};

template <class T>
struct RowKernels {
  void (*cosine_embedding)(const RowBlock<T>& block, const RowOptions& options);
  void (*multi_margin)(const RowBlock<T>& block, const RowOptions& options);
  void (*triplet_margin)(const RowBlock<T>& block, const RowOptions& options);
};

// One target's row kernels for both dtypes.
struct RowLossKernels {
  RowKernels<float> f32;
  RowKernels<double> f64;
};

}  // namespace kernel_abi
}  // namespace fastloss
