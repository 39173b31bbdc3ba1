// Dispatcher of ctc_loss: lays each sequence out for the per-target kernels
// (kernels/ctc_kernels.cc) — its extended labels, their emissions gathered from log_probs,
// the recursion rows — runs them, scatters the state occupancies into the gradient, and
// reduces. Threads take whole sequences.
#include "fastloss/ctc.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "dispatch_table.hpp"
#include "engine/labels.hpp"
#include "parallel.hpp"

namespace fastloss {
namespace {

using kernel_abi::kCtcPad;

int64_t label_at(const CtcCall& call, int64_t sequence, int64_t i) {
  const int64_t offset = call.target_offsets[sequence] + i * call.target_stride;
  return with_indices(call.target_dtype, call.targets, [&](const auto* labels) -> int64_t { return labels[offset]; });
}

// What a pass computes besides the losses, and how each sequence's gradient is scaled:
// grad_output[b] (reduction='none' backward), or `scale` divided by the sequence's target
// length (at least 1) for 'mean', or `scale` alone.
struct GradientPlan {
  bool wanted = false;
  MutableView grad;
  ConstView grad_output;  // one stride
  double scale = 1.0;
  bool per_length = false;
};

// One sequence's buffers, sized for it.
template <class T>
struct SequenceScratch {
  std::vector<int64_t> labels;
  std::vector<T> emit, skip, alpha, beta, row;
};

template <class T>
class SequencePass {
 public:
  SequencePass(const CtcCall& call, const GradientPlan& plan)
      : call_(call), plan_(plan), kernels_(dispatch::for_type<T>(dispatch::ctc_kernels())) {}

  // Sequence b's loss (zero_infinity applied), and its gradient when planned.
  T run(int64_t b) const {
    const int64_t time = call_.input_lengths[b], labels = call_.target_lengths[b];
    if (time == 0) {  // no frame: only the empty target has a path (torch's -0 and +inf)
      const T nll = labels == 0 ? -T(0) : std::numeric_limits<T>::infinity();
      if (plan_.wanted) zero_rows(b, 0);
      return finished(nll);
    }
    SequenceScratch<T> s;
    kernel_abi::CtcSequence<T> seq = lay_out(b, time, labels, s);
    const T nll = kernels_.negative_log_likelihood(seq, plan_.wanted);
    if (plan_.wanted) {
      if (call_.zero_infinity && nll == std::numeric_limits<T>::infinity()) {
        zero_rows(b, 0);
      } else {
        kernels_.occupancy(seq, nll);
        write_gradient(b, seq, s, nll);
      }
    }
    return finished(nll);
  }

 private:
  T finished(T nll) const {
    return call_.zero_infinity && nll == std::numeric_limits<T>::infinity() ? T(0) : nll;
  }

  const T* log_probs(int64_t t, int64_t b) const {
    return static_cast<const T*>(call_.log_probs) + t * call_.log_prob_strides[0] + b * call_.log_prob_strides[1];
  }
  T* grad_row(int64_t t, int64_t b) const {
    const int64_t* st = plan_.grad.strides;
    return static_cast<T*>(plan_.grad.data) + t * st[0] + b * st[1];
  }

  // The extended labels (blank, l1, blank, ..., lL, blank), which states may skip one, the
  // emissions of the first `time` frames and the recursion rows.
  kernel_abi::CtcSequence<T> lay_out(int64_t b, int64_t time, int64_t labels, SequenceScratch<T>& s) const {
    const int64_t states = 2 * labels + 1, width = states + kCtcPad;
    s.labels.assign(static_cast<size_t>(states), call_.blank);
    for (int64_t i = 0; i < labels; ++i) s.labels[static_cast<size_t>(2 * i + 1)] = label_at(call_, b, i);
    s.skip.assign(static_cast<size_t>(states + 2 * kCtcPad), T(0));
    for (int64_t st = 3; st < states; st += 2)  // a label may follow the previous one directly unless equal
      s.skip[static_cast<size_t>(st + kCtcPad)] =
          static_cast<T>(s.labels[static_cast<size_t>(st)] != s.labels[static_cast<size_t>(st - 2)]);
    s.emit.resize(static_cast<size_t>(time * states));
    const int64_t class_stride = call_.log_prob_strides[2];
    for (int64_t t = 0; t < time; ++t) {
      const T* lp = log_probs(t, b);
      T* e = s.emit.data() + t * states;
      for (int64_t st = 0; st < states; ++st) e[st] = lp[s.labels[static_cast<size_t>(st)] * class_stride];
    }
    s.alpha.resize(static_cast<size_t>((plan_.wanted ? time : 2) * width));
    s.beta.resize(static_cast<size_t>(plan_.wanted ? 2 * width : 0));
    return kernel_abi::CtcSequence<T>{time, states, s.emit.data(), s.skip.data(), s.alpha.data(), s.beta.data()};
  }

  T gradient_scale(int64_t b) const {
    if (plan_.grad_output.present()) {
      return static_cast<const T*>(plan_.grad_output.data)[b * plan_.grad_output.strides[0]];
    }
    const double length = std::max<int64_t>(call_.target_lengths[b], 1);
    return static_cast<T>(plan_.per_length ? plan_.scale / length : plan_.scale);
  }

  // Rows t < time: torch's (exp(log_probs) - sum of the occupancies of each class's states)
  // times the scale; rows from `time` on are 0. Rows with a class stride other than 1 are
  // computed in a buffer.
  void write_gradient(int64_t b, const kernel_abi::CtcSequence<T>& seq, SequenceScratch<T>& s, T nll) const {
    const T scale = gradient_scale(b);
    const int64_t classes = call_.classes, width = seq.states + kCtcPad;
    const int64_t lp_stride = call_.log_prob_strides[2], grad_stride = plan_.grad.strides[2];
    if (lp_stride != 1 || grad_stride != 1) s.row.resize(static_cast<size_t>(2 * classes));
    for (int64_t t = 0; t < seq.time; ++t) {
      const T* lp = log_probs(t, b);
      if (lp_stride != 1) {
        for (int64_t c = 0; c < classes; ++c) s.row[static_cast<size_t>(classes + c)] = lp[c * lp_stride];
        lp = s.row.data() + classes;
      }
      T* g = grad_stride == 1 ? grad_row(t, b) : s.row.data();
      kernels_.gradient_row(lp, g, classes, nll, scale);
      const T* occupancy = seq.alpha + t * width + kCtcPad;
      for (int64_t st = 0; st < seq.states; ++st) g[s.labels[static_cast<size_t>(st)]] -= occupancy[st] * scale;
      if (grad_stride != 1) {
        T* home = grad_row(t, b);
        for (int64_t c = 0; c < classes; ++c) home[c * grad_stride] = g[c];
      }
    }
    zero_rows(b, seq.time);
  }

  void zero_rows(int64_t b, int64_t from) const {
    const int64_t grad_stride = plan_.grad.strides[2];
    for (int64_t t = from; t < call_.time; ++t) {
      T* g = grad_row(t, b);
      for (int64_t c = 0; c < call_.classes; ++c) g[c * grad_stride] = T(0);
    }
  }

  const CtcCall& call_;
  const GradientPlan& plan_;
  const kernel_abi::CtcKernels<T>& kernels_;
};

// Every sequence's loss (written to loss_out when present), reduced: the sum, or for kMean
// the mean of loss / max(target length, 1), added in index order (undivided: the mean's
// denominator is the batch size).
template <class T>
ReducedLoss run(const CtcCall& call, Reduction reduction, MutableView loss_out, const GradientPlan& plan) {
  std::vector<double> losses(static_cast<size_t>(call.batch));
  const SequencePass<T> pass(call, plan);
  parallel::for_each_chunk(call.batch, parallel::threads_for(call.batch, 1), [&](int64_t b) {
    const T loss = pass.run(b);
    losses[static_cast<size_t>(b)] = static_cast<double>(loss);
    if (loss_out.present()) static_cast<T*>(loss_out.data)[b * loss_out.strides[0]] = loss;
  });
  double total = 0.0;
  for (int64_t b = 0; b < call.batch; ++b) {
    const double length = reduction == Reduction::kMean ? std::max<int64_t>(call.target_lengths[b], 1) : 1;
    total += losses[static_cast<size_t>(b)] / length;
  }
  return ReducedLoss{total, reduction == Reduction::kMean ? static_cast<double>(call.batch) : 1.0};
}

GradientPlan reduced_plan(const CtcCall& call, Reduction reduction, double scale) {
  GradientPlan plan;
  plan.wanted = true;
  plan.per_length = reduction == Reduction::kMean;
  plan.scale = plan.per_length ? scale / static_cast<double>(call.batch) : scale;
  return plan;
}

}  // namespace

InvalidCtcTarget find_invalid_ctc_target(const CtcCall& call) {
  for (int64_t b = 0; b < call.batch; ++b) {
    for (int64_t i = 0; i < call.target_lengths[b]; ++i) {
      const int64_t label = label_at(call, b, i);
      if (label < 0 || label >= call.classes) return InvalidCtcTarget{b, label};
    }
  }
  return InvalidCtcTarget{};
}

double ctc_loss_forward(const CtcCall& call, Reduction reduction, MutableView loss_out) {
  const ReducedLoss parts =
      with_dtype(call.dtype, [&](auto zero) { return run<decltype(zero)>(call, reduction, loss_out, GradientPlan{}); });
  return reduction == Reduction::kNone ? 0.0 : parts.value();
}

ReducedLoss ctc_loss_forward_parts(const CtcCall& call, Reduction reduction) {
  return with_dtype(call.dtype, [&](auto zero) { return run<decltype(zero)>(call, reduction, {}, GradientPlan{}); });
}

void ctc_loss_backward(const CtcCall& call, Reduction reduction, ConstView grad_output, double grad_output_scalar,
                       MutableView grad) {
  GradientPlan plan = reduced_plan(call, reduction, grad_output_scalar);
  if (reduction == Reduction::kNone) plan.grad_output = grad_output;
  plan.grad = grad;
  with_dtype(call.dtype, [&](auto zero) { return run<decltype(zero)>(call, reduction, MutableView{}, plan); });
}

double ctc_loss_forward_backward(const CtcCall& call, Reduction reduction, MutableView grad, MutableView loss_out) {
  GradientPlan plan = reduced_plan(call, reduction, 1.0);
  plan.grad = grad;
  return with_dtype(call.dtype, [&](auto zero) {
    const ReducedLoss parts = run<decltype(zero)>(call, reduction, loss_out, plan);
    return reduction == Reduction::kNone ? 0.0 : parts.value();
  });
}

}  // namespace fastloss
