// Dispatcher of the row-wise losses: lays their operands over the row engine
// (engine/rows.hpp) and reduces what the per-target kernels (kernels/row_kernels.cc)
// compute.
#include "fastloss/row_losses.hpp"

#include <vector>

#include "dispatch_table.hpp"
#include "engine/rows.hpp"

namespace fastloss {
namespace {

// One pass over the call's rows: the row losses when want_loss, the gradients in `grads`
// (null: none), each row's scale from grad_output or `scale`, each row's loss to loss_out when present. Returns the sum
// of the row losses.
template <class T>
double run_rows(const RowLossCall& call, bool want_loss, const MutableRowView* grads, ConstView grad_output,
                double scale, MutableView loss_out) {
  rows::Pass pass;
  pass.shape = call.shape;
  const int inputs = row_loss_inputs(call.loss);
  for (int k = 0; k < inputs; ++k) {
    pass.in[k] = call.inputs[k];
    if (grads != nullptr) pass.out[k] = grads[k];
  }
  switch (call.loss) {
    case RowLoss::kCosineEmbedding:
      pass.label = call.target;
      break;
    case RowLoss::kMultiMargin:
      pass.index = call.target;
      pass.index_dtype = call.target_dtype;
      break;
    case RowLoss::kMultilabelSoftMargin:
      pass.in[1] = call.target_rows;
      pass.in[2] = call.weight_rows;
      break;
    case RowLoss::kMultilabelMargin:
      pass.class_rows = call.class_rows;
      pass.index_dtype = call.target_dtype;
      pass.work_elements = kernel_abi::row_work_elements(call.loss, call.shape.length);
      break;
    case RowLoss::kTripletMargin:
      break;
  }
  pass.grad_output = grad_output;
  pass.scale = scale;
  pass.loss_out = loss_out;
  // multi_margin's (C,) weight as float64: O(C), read once per row.
  std::vector<double> class_weight;
  if (call.class_weight != nullptr) {
    std::vector<T> weight(static_cast<size_t>(call.shape.length));
    std::vector<uint16_t> halves;
    rows::read_stored(call.class_weight_stored, call.class_weight, call.class_weight_stride, call.shape.length,
                      weight.data(), halves);
    class_weight.assign(weight.begin(), weight.end());
  }
  const kernel_abi::RowOptions options{call.loss, want_loss, class_weight.empty() ? nullptr : class_weight.data(),
                                       call.options};
  const kernel_abi::RowKernels<T>& k = dispatch::for_type<T>(dispatch::row_kernels());
  return rows::run<T>(pass, [&](const kernel_abi::RowBlock<T>& block) { k.losses(block, options); });
}

double mean_denominator(const RowLossCall& call, Reduction reduction) {
  return reduction == Reduction::kMean ? static_cast<double>(call.shape.rows.numel()) : 1.0;
}

}  // namespace

InvalidClass find_invalid_class(const RowLossCall& call) {
  if (call.loss == RowLoss::kMultiMargin) {
    const rows::IndexScan scan = rows::scan_indices<double>(call.shape.rows, call.target, call.target_dtype,
                                                            call.shape.length, nullptr, nullptr);
    return InvalidClass{scan.bad_row, scan.bad_value};
  }
  if (call.loss == RowLoss::kMultilabelMargin) {
    // Every element of every list, those after its -1 included; -1 is skipped as an ignored class.
    const int64_t terminator = -1;
    const rows::IndexScan scan = rows::scan_indices<double>(
        call.shape.rows, call.class_rows.rows, call.target_dtype, call.shape.length, &terminator, nullptr,
        call.shape.length, call.class_rows.elem_stride);
    return InvalidClass{scan.bad_row, scan.bad_value};
  }
  return InvalidClass{};
}

double row_loss_forward(const RowLossCall& call, Reduction reduction, MutableView loss_out) {
  if (reduction != Reduction::kNone) return row_loss_forward_parts(call, reduction).value();
  with_dtype(call.dtype, [&](auto zero) { return run_rows<decltype(zero)>(call, true, nullptr, {}, 1.0, loss_out); });
  return 0.0;
}

ReducedLoss row_loss_forward_parts(const RowLossCall& call, Reduction reduction) {
  return with_dtype(call.dtype, [&](auto zero) {
    const double total = run_rows<decltype(zero)>(call, true, nullptr, {}, 1.0, {});
    return ReducedLoss{total, mean_denominator(call, reduction)};
  });
}

void row_loss_backward(const RowLossCall& call, Reduction reduction, ConstView grad_output,
                       double grad_output_scalar, const MutableRowView* grads) {
  with_dtype(call.dtype, [&](auto zero) {
    if (reduction == Reduction::kNone)
      run_rows<decltype(zero)>(call, false, grads, grad_output, 1.0, {});
    else
      run_rows<decltype(zero)>(call, false, grads, {}, grad_output_scalar / mean_denominator(call, reduction), {});
    return 0;
  });
}

double row_loss_forward_backward(const RowLossCall& call, Reduction reduction, const MutableRowView* grads,
                                 MutableView loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    const bool none = reduction == Reduction::kNone;
    const double total = run_rows<decltype(zero)>(call, true, grads, {}, 1.0 / mean_denominator(call, reduction),
                                                  none ? loss_out : MutableView{});
    return none ? 0.0 : total / mean_denominator(call, reduction);
  });
}

}  // namespace fastloss
