// Dispatcher of the class losses and softmax (and its gradient): lays their operands over the row engine
// (engine/rows.hpp) and reduces what the per-target kernels (kernels/class_kernels.cc)
// compute. The input's class axis is the row; the other dimensions are the row dimensions.
#include "fastloss/class_losses.hpp"

#include <stdexcept>
#include <vector>

#include "dispatch_table.hpp"
#include "engine/rows.hpp"

namespace fastloss {
namespace {

// One class-loss call: its options as the kernels read them (weight and alpha contiguous).
template <class T>
class ClassLossRun {
 public:
  explicit ClassLossRun(const ClassLossCall& call) : call_(call) {
    weight_ = contiguous(call.weight, call.weight_stride, call.weight_stored);
    alpha_ = contiguous(call.alpha, call.alpha_stride, call.alpha_stored);
    options_.loss = call.loss;
    options_.probability_targets = call.probability_targets();
    options_.weight = weight_.empty() ? nullptr : weight_.data();
    options_.alpha = alpha_.empty() ? nullptr : alpha_.data();
    options_.options = call.options;
    // The sum of the class weights: only label smoothing reads it (an O(C) loop per call
    // otherwise, which dominated nll_loss over 1024 rows of 32000 classes).
    options_.weight_total = 0.0;
    if (call.options.label_smoothing > 0.0)
      for (int64_t c = 0; c < call.shape.length; ++c) options_.weight_total += weight_.empty() ? 1.0 : weight_[c];
  }

  // Sum of w[t] over non-ignored rows (index targets) or the row count (probabilities).
  double mean_denominator() const {
    if (call_.probability_targets()) return static_cast<double>(call_.shape.rows.numel());
    return call_.target_weight_known ? call_.target_weight_sum : scan().weight_sum;
  }

  rows::IndexScan scan() const {
    return rows::scan_indices<T>(call_.shape.rows, call_.index_target, call_.index_dtype, call_.shape.length,
                                 &call_.options.ignore_index, weight_.empty() ? nullptr : weight_.data());
  }

  // One pass: the row losses when want_loss (returned summed; written to loss_out when
  // present), the gradient when grad is present, scaled per row by grad_output or `scale`,
  // and with it the Hessian's diagonal when hess is present (floored at hess_floor).
  double run(bool want_loss, MutableRowView grad, ConstView grad_output, double scale, MutableView loss_out,
             MutableRowView hess = {}, double hess_floor = 0.0) {
    rows::Pass pass;
    pass.shape = call_.shape;
    pass.in[0] = call_.input;
    // nll_loss reads one element a row: no row to stage.
    pass.unstaged[0] = call_.loss == ClassLoss::kNllLoss;
    pass.kernel_widens_in0 = true;
    if (call_.probability_targets()) {
      pass.in[1] = call_.prob_target;
    } else {
      pass.index = call_.index_target;
      pass.index_dtype = call_.index_dtype;
    }
    pass.out[0] = grad;
    pass.out[1] = hess;
    pass.grad_output = grad_output;
    pass.scale = scale;
    pass.loss_out = loss_out;
    pass.scratch_doubles = kernel_abi::class_scratch_doubles(call_.shape.length);
    options_.want_loss = want_loss;
    options_.hess_floor = hess_floor;
    const kernel_abi::ClassKernels<T>& k = dispatch::for_type<T>(dispatch::class_kernels());
    return rows::run<T>(pass, [&](const kernel_abi::RowBlock<T>& block) { k.losses(block, options_); });
  }

 private:
  // A contiguous copy of a (C,) operand as T: O(C), and the kernels read it as a row.
  std::vector<T> contiguous(const void* data, int64_t stride, LabelDType stored) const {
    std::vector<T> out;
    if (data == nullptr) return out;
    out.resize(static_cast<size_t>(call_.shape.length));
    std::vector<uint16_t> halves;
    rows::read_stored(stored, data, stride, call_.shape.length, out.data(), halves);
    return out;
  }

  const ClassLossCall& call_;
  std::vector<T> weight_, alpha_;
  kernel_abi::ClassOptions options_{};
};

// One pass of the softmax family over rows: in[0] (and in[1]) read, out written, through the
// running target's entry `pick(kernels)` (softmax or softmax_backward); with widens_in0 the
// kernel widens half-precision rows of in0 itself (kernel_abi::DeferredRows: softmax's does).
template <class Pick>
void softmax_pass(DType dtype, const RowShape& shape, RowView in0, RowView in1, MutableRowView out, bool log,
                  bool widens_in0, const Pick& pick) {
  with_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    rows::Pass pass;
    pass.shape = shape;
    pass.in[0] = in0;
    pass.in[1] = in1;
    pass.out[0] = out;
    pass.scratch_doubles = kernel_abi::class_scratch_doubles(shape.length);
    pass.kernel_widens_in0 = widens_in0;
    const auto kernel = pick(dispatch::for_type<T>(dispatch::class_kernels()));
    rows::run<T>(pass, [&](const kernel_abi::RowBlock<T>& block) { kernel(block, log); });
    return 0;
  });
}

}  // namespace

void softmax(DType dtype, const RowShape& shape, RowView in, MutableRowView out, bool log) {
  softmax_pass(dtype, shape, in, RowView{}, out, log, true, [](const auto& k) { return k.softmax; });
}

void softmax_backward(DType dtype, const RowShape& shape, RowView grad_output, RowView output,
                      MutableRowView grad_input, bool log) {
  softmax_pass(dtype, shape, grad_output, output, grad_input, log, false,
               [](const auto& k) { return k.softmax_backward; });
}

InvalidTarget find_invalid_target(const ClassLossCall& call) {
  if (call.probability_targets()) return InvalidTarget{};
  return with_dtype(call.dtype, [&](auto zero) {
    const rows::IndexScan scan = ClassLossRun<decltype(zero)>(call).scan();
    return InvalidTarget{scan.bad_row, scan.bad_value, scan.weight_sum};
  });
}

double class_loss_forward(const ClassLossCall& call, Reduction reduction, MutableView loss_out) {
  if (reduction != Reduction::kNone) return class_loss_forward_parts(call, reduction).value();
  with_dtype(call.dtype, [&](auto zero) { return ClassLossRun<decltype(zero)>(call).run(true, {}, {}, 1.0, loss_out); });
  return 0.0;
}

ReducedLoss class_loss_forward_parts(const ClassLossCall& call, Reduction reduction) {
  return with_dtype(call.dtype, [&](auto zero) {
    ClassLossRun<decltype(zero)> run(call);
    const double total = run.run(true, {}, {}, 1.0, {});
    return ReducedLoss{total, reduction == Reduction::kMean ? run.mean_denominator() : 1.0};
  });
}

void class_loss_backward(const ClassLossCall& call, Reduction reduction, ConstView grad_output,
                         double grad_output_scalar, MutableRowView grad_input) {
  with_dtype(call.dtype, [&](auto zero) {
    ClassLossRun<decltype(zero)> run(call);
    if (reduction == Reduction::kNone) {
      run.run(false, grad_input, grad_output, 1.0, {});
    } else {
      const double scale =
          reduction == Reduction::kMean ? grad_output_scalar / run.mean_denominator() : grad_output_scalar;
      run.run(false, grad_input, {}, scale, {});
    }
    return 0;
  });
}

double class_loss_forward_backward(const ClassLossCall& call, Reduction reduction, MutableRowView grad_input,
                                   MutableView loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    ClassLossRun<decltype(zero)> run(call);
    // The mean's denominator comes from the targets alone (O(rows)), so the gradient can be
    // written in the same pass that computes the loss.
    const double denominator = reduction == Reduction::kMean ? run.mean_denominator() : 1.0;
    const bool none = reduction == Reduction::kNone;
    const double total = run.run(true, grad_input, {}, 1.0 / denominator, none ? loss_out : MutableView{});
    return none ? 0.0 : total / denominator;
  });
}

void class_loss_grad_hess(const ClassLossCall& call, ConstView sample_weight, double hess_floor, MutableRowView grad,
                          MutableRowView hess) {
  if (call.probability_targets() || call.loss == ClassLoss::kNllLoss)
    throw std::invalid_argument("class_loss_grad_hess takes class-index cross_entropy and softmax_focal_loss");
  with_dtype(call.dtype, [&](auto zero) {
    return ClassLossRun<decltype(zero)>(call).run(false, grad, sample_weight, 1.0, {}, hess, hess_floor);
  });
}

}  // namespace fastloss
