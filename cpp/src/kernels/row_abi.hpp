// The interface between the row engine (cpp/src/engine/rows.hpp) and the per-target row
// kernels: the class losses and softmax (class_kernels.cc) and the row-wise losses
// (row_kernels.cc). A kernel gets a block of whole rows, each a contiguous run of `length`
// elements, with the per-row operands beside them, and writes each row's loss.
//
// Plain data and function-pointer types only, like abi.hpp: included by per-target and
// baseline code alike.
#pragma once

#include <cstdint>

#include "fastloss/class_losses.hpp"
#include "fastloss/row_losses.hpp"

namespace fastloss {
namespace kernel_abi {

// Row operands of one block: class losses read the input (and the probability target),
// the row-wise losses up to three inputs.
inline constexpr int kRowOperands = 3;

// Half-precision rows of in[0] that the kernel widens itself (class losses and softmax): row
// r as stored at stored[r], to be widened into tile[r] (== in[0][r], the engine's tile) chunk
// by chunk as the row's log-sum-exp first reads it, so that reading memory overlaps the
// arithmetic instead of preceding it. stored == null: in[0] already holds T.
template <class T>
struct DeferredRows {
  const uint16_t* const* stored;
  T* const* tile;
  LabelDType type;
};

template <class T>
struct RowBlock {
  int64_t rows;
  int64_t length;  // elements per row: classes, or the embedding dimension
  // Row r of input k starts at in[k][r]; its elements are in_stride[k] apart (1 unless the
  // family asked the engine not to stage that input: nll_loss reads one element a row).
  const T* const* in[kRowOperands];
  int64_t in_stride[kRowOperands];
  // Contiguous output rows (gradients, softmax), or null arrays. out[k][r] may be in[k][r].
  T* const* out[kRowOperands];
  const int64_t* index;  // per row: a class index (class losses, multi_margin), or null
  // Row r's class list (multilabel_margin: `length` classes, the list ended by a -1), or null.
  const int64_t* const* class_rows;
  const double* label;   // per row: a label (cosine_embedding), or null
  const double* scale;   // per row, with outputs: d total / d row loss
  double* loss;          // per row: written by the kernel
  double* scratch;       // per-thread scratch, ClassKernels::scratch_doubles(length) long
  T* work;               // per-thread scratch of row_work_elements(loss, length) elements
  DeferredRows<T> deferred;
};

// The class losses' options as the kernels read them: weight and alpha contiguous (C
// elements of the input's type) or null.
struct ClassOptions {
  ClassLoss loss;
  bool want_loss;            // row losses are needed (a reduction or reduction='none')
  bool probability_targets;  // in[1] holds class probabilities; else index holds classes
  const void* weight;
  double weight_total;  // sum of the class weights (label smoothing's normaliser)
  const void* alpha;    // softmax_focal_loss: per-class alpha, else options.alpha
  // With out[1] (class-index cross_entropy and softmax_focal_loss, beside the gradient in
  // out[0]): the Hessian's diagonal, scale * max(d^2 loss / d x_c^2, hess_floor).
  double hess_floor;
  ClassLossOptions options;
};

template <class T>
struct ClassKernels {
  // Class losses over a block: each row's loss, with out[0] its gradient and with out[1] the
  // diagonal of its Hessian.
  void (*losses)(const RowBlock<T>& block, const ClassOptions& options);
  // out[0] = softmax (log_softmax when log) of in[0], row by row.
  void (*softmax)(const RowBlock<T>& block, bool log);
  // out[0] = the gradient of softmax (log_softmax when log) from grad_output in[0] and the
  // output in[1], row by row.
  void (*softmax_backward)(const RowBlock<T>& block, bool log);
};

// The row-wise losses' options as the kernels read them. class_weight: multi_margin's (C,)
// weight as float64, or null. multilabel_soft_margin reads its labels from in[1] and its
// optional weight from in[2]; multilabel_margin its class lists from class_rows.
struct RowOptions {
  RowLoss loss;
  bool want_loss;  // the row losses are used (a backward pass may skip what only they need)
  const double* class_weight;
  RowLossOptions options;
};

template <class T>
struct RowKernels {
  // Row-wise losses over a block: each row's loss, and with out[] the gradients of every
  // input.
  void (*losses)(const RowBlock<T>& block, const RowOptions& options);
};

// Elements of T of per-thread scratch a row-wise loss needs for rows of `length`:
// multilabel_margin keeps one row's target marks and hinge counts.
inline constexpr int64_t row_work_elements(RowLoss loss, int64_t length) {
  return loss == RowLoss::kMultilabelMargin ? length : 0;
}

// Doubles of per-thread scratch the class kernels need for rows of `length` classes: the
// maxima of the log-sum-exp chunks of one row.
inline constexpr int64_t kLogSumExpChunk = 2048;
inline constexpr int64_t class_scratch_doubles(int64_t length) { return (length + kLogSumExpChunk - 1) / kLogSumExpChunk; }

// Each family's object on one target: both float types.
struct ClassKernelFamily {
  ClassKernels<float> f32;
  ClassKernels<double> f64;
};
struct RowKernelFamily {
  RowKernels<float> f32;
  RowKernels<double> f64;
};

}  // namespace kernel_abi
}  // namespace fastloss
