// Connectionist temporal classification (ctc_loss): the negative log-likelihood of each
// sequence's target labels over all alignments to its input frames, torch's CPU algorithm
// (log-space alpha/beta recursions in the input's type) with its special cases: an input
// length of 0 gives -0 for an empty target and +inf otherwise; zero_infinity turns +inf
// losses and their gradients into 0.
//
// log_probs is (time, batch, classes) with any element strides (an unbatched (time,
// classes) input has a batch of one, stride 0). Sequence b reads target_lengths[b] labels
// from targets at target_offsets[b], target_stride apart. Lengths and offsets are the
// caller's to validate (the bindings do, with torch's messages); labels in [0, classes) are
// checked by find_invalid_ctc_target, which the caller runs first.
//
// Threads take whole sequences; each sequence's loss is kept in float64 by index and the
// reductions add them in index order, so results are bitwise identical for any thread count.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

struct CtcCall {
  DType dtype = DType::kFloat32;
  int64_t time = 0, batch = 0, classes = 0;
  const void* log_probs = nullptr;
  int64_t log_prob_strides[3] = {0, 0, 0};  // time, batch, class
  const void* targets = nullptr;
  IndexDType target_dtype = IndexDType::kInt64;
  int64_t target_stride = 1;
  const int64_t* target_offsets = nullptr;  // batch entries
  const int64_t* input_lengths = nullptr;   // batch entries, each in [0, time]
  const int64_t* target_lengths = nullptr;  // batch entries, each >= 0
  int64_t blank = 0;
  bool zero_infinity = false;
};

// The first sequence (in index order) holding a label outside [0, classes), with that
// label; sequence = -1 when every label is valid.
struct InvalidCtcTarget {
  int64_t sequence = -1;
  int64_t value = 0;
};
InvalidCtcTarget find_invalid_ctc_target(const CtcCall& call);

// The loss (kMean: each sequence's loss divided by its target length, at least 1, then
// averaged; kSum). Reduction::kNone writes each sequence's loss to loss_out (one stride:
// between sequences) and returns 0.
double ctc_loss_forward(const CtcCall& call, Reduction reduction, MutableView loss_out);

// The reduced forward (kMean, kSum) before its division.
ReducedLoss ctc_loss_forward_parts(const CtcCall& call, Reduction reduction);

// grad (laid out like log_probs: three strides) = d loss / d log_probs. For kNone
// grad_output holds each sequence's scale (one stride), else grad_output_scalar applies.
// grad may be log_probs itself (same layout).
void ctc_loss_backward(const CtcCall& call, Reduction reduction, ConstView grad_output, double grad_output_scalar,
                       MutableView grad);

// Forward and backward (grad_output = 1) in one pass over the sequences.
double ctc_loss_forward_backward(const CtcCall& call, Reduction reduction, MutableView grad, MutableView loss_out);

}  // namespace fastloss
