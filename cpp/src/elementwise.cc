#include "fastloss/elementwise.hpp"

#include <stdexcept>

#include "dispatch_table.hpp"
#include "engine/elements.hpp"

namespace fastloss {

namespace {

using kernel_abi::Mode;
using kernel_abi::Sums;

constexpr int kLosses = static_cast<int>(ElementwiseLoss::kCount);

kernel_abi::BlockKernelFn block_kernel(ElementwiseLoss loss, DType dtype) {
  const kernel_abi::ElementwiseKernel& k = *dispatch::elementwise_kernels().losses[static_cast<int>(loss)];
  return dtype == DType::kFloat32 ? k.f32 : k.f64;
}

// How a block of `view` reaches the kernel: as stored when half (HalfBlocks::kStored, the
// kernel converts it tile by tile), else as the call's float type (labels converted).
template <class View>
LabelDType half_storage(const View& view) {
  return view.present() && is_half(view.stored) ? view.stored : LabelDType::kFloat;
}

// One pass of `mode` over the call's shape; grad_output (the kGradOutput slot), out and
// second_out (kGradHess's and kLossGrad's second output) are optional. Returns the chunk
// results summed in index order when `reduce` is set.
Sums run_pass(const ElementwiseCall& call, Mode mode, ConstView grad_output, MutableView out,
              double scale, bool reduce, MutableView second_out = {}, double hess_floor = 0.0) {
  const ConstView inputs[kernel_abi::kNumSlots] = {call.input, call.target, call.weight,
                                                   call.aux, grad_output};
  const kernel_abi::BlockKernelFn kernel = block_kernel(call.loss, call.dtype);
  const kernel_abi::Params params{scale, call.options, hess_floor};
  const MutableView outputs[2] = {out, second_out};
  return run_blocks(call.shape, call.dtype, kernel_abi::kNumSlots, inputs, 2, outputs, reduce,
                    [&](const void* const* in_blocks, void* const* out_blocks, int64_t n) {
                      kernel_abi::Block block{};
                      for (int s = 0; s < kernel_abi::kNumSlots; ++s) {
                        block.in[s] = in_blocks[s];
                        block.stored[s] = half_storage(inputs[s]);
                      }
                      block.out = out_blocks[0];
                      block.second_out = out_blocks[1];
                      block.out_stored = half_storage(out);
                      block.second_out_stored = half_storage(second_out);
                      block.n = n;
                      return kernel(mode, block, params);
                    },
                    HalfBlocks::kStored);
}

// The denominator of a reduction: sum(weight) for MSE/L1's weighted mean, numel for the
// others' mean, the first extent for kBatchMean, 1 for kSum.
double denominator(const ElementwiseCall& call, Reduction reduction) {
  switch (reduction) {
    case Reduction::kMean:
      if (call.weight.present() && mean_divides_by_weight_sum(call.loss))
        return run_pass(call, Mode::kWeightSum, {}, {}, 1.0, true).weight;
      return static_cast<double>(call.shape.numel());
    case Reduction::kBatchMean:
      return call.shape.ndim == 0 ? 1.0 : static_cast<double>(call.shape.extents[0]);
    case Reduction::kSum:
    case Reduction::kNone:
      break;
  }
  return 1.0;
}

// The reduced loss from one kLossSum pass (which also summed the weights), undivided.
ReducedLoss reduce_total(const ElementwiseCall& call, Reduction reduction, const Sums& sums) {
  if (reduction == Reduction::kMean && call.weight.present() && mean_divides_by_weight_sum(call.loss))
    return ReducedLoss{sums.loss, sums.weight};
  return ReducedLoss{sums.loss, reduction == Reduction::kSum ? 1.0 : denominator(call, reduction)};
}

}  // namespace

bool mean_divides_by_weight_sum(ElementwiseLoss loss) {
  static const bool kByWeight[kLosses] = {
#define FASTLOSS_WEIGHT_RULE(name, by_weight_sum, ...) by_weight_sum,
      FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_WEIGHT_RULE)
#undef FASTLOSS_WEIGHT_RULE
  };
  return kByWeight[static_cast<int>(loss)];
}

OperandNames operand_names(ElementwiseLoss loss) {
  static const OperandNames kNames[kLosses] = {
#define FASTLOSS_OPERAND_NAMES(name, by_weight_sum, input, target, aux, ...) {input, target, aux},
      FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_OPERAND_NAMES)
#undef FASTLOSS_OPERAND_NAMES
  };
  return kNames[static_cast<int>(loss)];
}

ValueCheck value_check(ElementwiseLoss loss) {
  static const ValueCheck kChecks[kLosses] = {
#define FASTLOSS_VALUE_CHECK(name, by_weight_sum, input, target, aux, check, ...) ValueCheck::check,
      FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_VALUE_CHECK)
#undef FASTLOSS_VALUE_CHECK
  };
  return kChecks[static_cast<int>(loss)];
}

TargetLabels target_labels(ElementwiseLoss loss) {
  static const TargetLabels kLabels[kLosses] = {
#define FASTLOSS_TARGET_LABELS(name, by_weight_sum, input, target, aux, check, labels) TargetLabels::labels,
      FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_TARGET_LABELS)
#undef FASTLOSS_TARGET_LABELS
  };
  return kLabels[static_cast<int>(loss)];
}

double elementwise_forward(const ElementwiseCall& call, Reduction reduction, MutableView out) {
  if (reduction == Reduction::kNone) {
    run_pass(call, Mode::kLoss, {}, out, 1.0, false);
    return 0.0;
  }
  return elementwise_forward_parts(call, reduction).value();
}

ReducedLoss elementwise_forward_parts(const ElementwiseCall& call, Reduction reduction) {
  return reduce_total(call, reduction, run_pass(call, Mode::kLossSum, {}, {}, 1.0, true));
}

void elementwise_backward(const ElementwiseCall& call, Reduction reduction, ConstView grad_output,
                          double grad_output_scalar, MutableView grad_input) {
  if (reduction == Reduction::kNone) {
    run_pass(call, Mode::kGrad, grad_output, grad_input, 1.0, false);
    return;
  }
  run_pass(call, Mode::kGrad, {}, grad_input, grad_output_scalar / denominator(call, reduction), false);
}

double elementwise_forward_backward(const ElementwiseCall& call, Reduction reduction, MutableView grad_input,
                                    MutableView loss_out) {
  if (reduction == Reduction::kNone) {
    // One pass; grad_input may be the input itself (each element is read before it is written).
    run_pass(call, Mode::kLossGrad, {}, grad_input, 1.0, false, loss_out);
    return 0.0;
  }
  const double d = denominator(call, reduction);
  const Sums sums = run_pass(call, Mode::kLossSumGrad, {}, grad_input, 1.0 / d, true);
  return reduction == Reduction::kSum ? sums.loss : sums.loss / d;
}

bool has_hessian(ElementwiseLoss loss) {
  return dispatch::elementwise_kernels().losses[static_cast<int>(loss)]->has_hessian;
}

void elementwise_grad_hess(const ElementwiseCall& call, double hess_floor, MutableView grad, MutableView hess) {
  if (!has_hessian(call.loss)) throw std::invalid_argument("this loss has no Hessian kernel");
  run_pass(call, Mode::kGradHess, {}, grad, 1.0, false, hess, hess_floor);
}

InvalidValues elementwise_invalid_values(const ElementwiseCall& call) {
  InvalidValues bad;
  switch (value_check(call.loss)) {
    case ValueCheck::kInputAndTarget: {
      const Sums counts = run_pass(call, Mode::kInvalidCount, {}, {}, 1.0, true);
      bad.input = static_cast<int64_t>(counts.loss);
      bad.target = static_cast<int64_t>(counts.weight);
      break;
    }
    case ValueCheck::kAux:
      if (call.aux.present()) bad.aux = static_cast<int64_t>(run_pass(call, Mode::kInvalidAuxCount, {}, {}, 1.0, true).loss);
      break;
    case ValueCheck::kNone:
      break;
  }
  return bad;
}

}  // namespace fastloss
