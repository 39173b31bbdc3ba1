// The interface between the cross-entropy dispatcher (cpp/src/cross_entropy.cc) and the
// per-target row kernels (cpp/src/kernels/softmax_kernels.cc).
//
// Plain data and function-pointer types only, like abi.hpp: included by per-target and
// baseline code alike. Every kernel works on one contiguous row of `n` classes; the
// dispatcher gathers strided rows into contiguous tiles first.
#pragma once

#include <cstdint>

namespace fastloss {
namespace kernel_abi {

// The soft-target weights of one row: v_c = w_c * (alpha * y_c + beta), with y_c = 0 when
// y is null and w_c = 1 when w is null. One form covers probability targets
// (alpha = 1 - smoothing, beta = smoothing / C) and the smoothing term of class-index
// targets (y null, beta = smoothing / C).
struct SoftTarget {
  const void* y;
  const void* w;
  double alpha;
  double beta;
};

// What one cross_entropy_row call does besides returning sum_c v_c (lse - x_c).
struct RowGrad {
  void* out;      // null: no gradient; else out_c = p_scale * p_c - v_scale * v_c
  double p_scale;
  double v_scale;
};

// Classes per step of the online log-sum-exp: a chunk (8 KiB of float32) stays in L1
// between its max pass and its exp-sum pass, so a row is read from memory once.
inline constexpr int64_t kLogSumExpChunk = 2048;

inline constexpr int64_t log_sum_exp_chunks(int64_t n) { return (n + kLogSumExpChunk - 1) / kLogSumExpChunk; }

// log(sum_c exp(x_c)) = max + log_sum, kept in two parts: log p_c = (x_c - max) - log_sum
// stays exact for huge logits (1e30 + log 3 would round to 1e30).
struct LogSumExp {
  double max;
  double log_sum;
};

template <class T>
struct SoftmaxRowKernel {
  // The row's log-sum-exp by an online max and sum over cache-sized chunks: one read of x.
  // NaN for rows that are all -inf or contain +inf or NaN, as torch.
  LogSumExp (*log_sum_exp)(const T* x, int64_t n);
  // The same log-sum-exp (bit for bit), also writing out_c = exp(x_c - M_k), M_k the max of
  // chunk k (log_sum_exp_chunks(n) of them, written to chunk_max). out may be x.
  LogSumExp (*exp_row)(const T* x, int64_t n, T* out, double* chunk_max);
  // Turns exp_row's output into a gradient without another exp per element:
  // out_c = p_scale * p_c - v_scale * v_c (v.y must be null).
  void (*exp_row_to_grad)(T* out, int64_t n, const LogSumExp& lse, const double* chunk_max,
                          const SoftTarget& v, double p_scale, double v_scale);
  // out_c = log p_c; out may be x. (softmax itself is exp_row + exp_row_to_grad.)
  void (*log_softmax)(const T* x, int64_t n, const LogSumExp& lse, T* out);
  // sum_c v_c.
  double (*target_mass)(const SoftTarget& v, int64_t n);
  // sum_c v_c (-log p_c) when want_loss (else 0), and the gradient row when grad.out is
  // set (p_c for exp(x_c - lse)); grad.out may be x.
  double (*cross_entropy_row)(const T* x, int64_t n, const LogSumExp& lse, const SoftTarget& v,
                              bool want_loss, const RowGrad& grad);
};

// One target's row kernels for both dtypes.
struct SoftmaxKernels {
  SoftmaxRowKernel<float> f32;
  SoftmaxRowKernel<double> f64;
};

}  // namespace kernel_abi
}  // namespace fastloss
