// The interface between the CTC dispatcher (cpp/src/ctc.cc) and the per-target CTC kernels
// (ctc_kernels.cc). The dispatcher lays one sequence out contiguously: its extended labels'
// log-probabilities ("emissions", time x states, states = 2 L + 1 for L labels: blank,
// label 1, blank, ..., label L, blank) and which states may skip the state two before them;
// the kernels run the log-space alpha/beta recursions over the states (the vectorised axis).
//
// Plain data and function-pointer types only: included by per-target and baseline code alike.
#pragma once

#include <cstdint>

namespace fastloss {
namespace kernel_abi {

// The padding of a recursion row: alpha rows hold two -inf states before state 0 and beta
// rows two after the last, so the s - 1, s - 2 (s + 1, s + 2) reads need no bounds test.
inline constexpr int64_t kCtcPad = 2;

template <class T>
struct CtcSequence {
  int64_t time;    // the sequence's input length (>= 1)
  int64_t states;  // 2 L + 1
  // emit[t * states + s]: log_probs[t, extended label s].
  const T* emit;
  // skip[s + kCtcPad] = 1 where state s may come from state s - 2 (a label differing from
  // the one two states before), else 0; kCtcPad zeros before and after.
  const T* skip;
  // time rows of states + kCtcPad: forward writes alpha row t at alpha + t (states +
  // kCtcPad) (with keep_alpha; else only two rows, alternately); occupancy overwrites row
  // t's states with exp(alpha + beta + nll - emit), the share of row t's probability mass in
  // state s.
  T* alpha;
  T* beta;  // two rows of states + kCtcPad
};

template <class T>
struct CtcKernels {
  // The sequence's negative log-likelihood, torch's recursion: alpha[t][s] = lse(alpha[t-1]
  // [s], alpha[t-1][s-1], alpha[t-1][s-2] where skip[s]) + emit[t][s].
  T (*negative_log_likelihood)(const CtcSequence<T>& seq, bool keep_alpha);
  // From the kept alpha and the sequence's nll: the beta recursion (mirror of alpha), each
  // row's occupancy written over its alpha row.
  void (*occupancy)(const CtcSequence<T>& seq, T nll);
  // grad[c] = (exp(log_probs[c]) - poison(c)) * scale for c < classes, where poison(c) is
  // NaN where torch's exp(-inf + nll - log_probs[c]) is NaN (nll not finite, or log_probs[c]
  // -inf or NaN) and 0 elsewhere; the occupancies are subtracted afterwards.
  void (*gradient_row)(const T* log_probs, T* grad, int64_t classes, T nll, T scale);
};

struct CtcKernelFamily {
  CtcKernels<float> f32;
  CtcKernels<double> f64;
};

}  // namespace kernel_abi
}  // namespace fastloss
