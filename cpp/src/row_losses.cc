// Dispatcher of the row-wise losses: lays their operands over the row engine
// (engine/rows.hpp) and reduces what the per-target kernels (kernels/row_kernels.cc)
// compute. The rows of every input are the engine's rows, one row dimension of `rows`.
#include "fastloss/row_losses.hpp"

#include <vector>

#include "dispatch_table.hpp"
#include "engine/rows.hpp"

namespace fastloss {
namespace {

template <class T>
const kernel_abi::RowKernels<T>& row_kernels() {
  if constexpr (sizeof(T) == 4)
    return dispatch::row_kernels().f32;
  else
    return dispatch::row_kernels().f64;
}

// The row dimension (extent `rows`) and each operand's stride along it: the views below
// point into these, so a RowPass lives as long as the pass it builds.
struct RowPass {
  explicit RowPass(const RowLossCall& call) : row_count(call.rows) {
    pass.rows = Shape{1, &row_count};
    pass.length = call.dim;
    for (int k = 0; k < row_loss_inputs(call.loss); ++k) {
      strides[k] = call.inputs[k].row_stride;
      pass.in[k] = rows::Matrix{call.inputs[k].data, &strides[k], call.inputs[k].col_stride};
    }
    target_stride = call.target.stride;
    if (call.loss == RowLoss::kCosineEmbedding) pass.label = rows::Vector{call.target.data, &target_stride};
    if (call.loss == RowLoss::kMultiMargin) pass.index = rows::Vector{call.target.data, &target_stride};
  }
  void set_outputs(const MutableRowMatrix* grads, int inputs) {
    for (int k = 0; grads != nullptr && k < inputs; ++k) {
      out_strides[k] = grads[k].row_stride;
      pass.out[k] = rows::MutableMatrix{grads[k].data, &out_strides[k], grads[k].col_stride};
    }
  }
  void set_grad_output(RowVector grad_output) {
    grad_output_stride = grad_output.stride;
    pass.grad_output = rows::Vector{grad_output.data, &grad_output_stride};
  }
  void set_loss_out(MutableRowVector loss_out) {
    loss_stride = loss_out.stride;
    pass.loss_out = rows::MutableVector{loss_out.data, &loss_stride};
  }

  int64_t row_count;
  int64_t strides[kernel_abi::kRowOperands] = {}, out_strides[kernel_abi::kRowOperands] = {};
  int64_t target_stride = 0, grad_output_stride = 0, loss_stride = 0;
  rows::Pass pass;
};

// Runs one pass and returns the sum of the row losses.
template <class T>
double run_rows(const RowLossCall& call, RowPass& rp) {
  // multi_margin's (C,) weight as float64: O(C), read once per row.
  std::vector<double> class_weight;
  if (call.weight.present()) {
    const T* w = static_cast<const T*>(call.weight.data);
    for (int64_t c = 0; c < call.dim; ++c) class_weight.push_back(static_cast<double>(w[c * call.weight.stride]));
  }
  const kernel_abi::RowOptions options{call.loss,  call.margin, call.margin_p, call.norm_p,
                                       call.eps,   call.swap,   class_weight.empty() ? nullptr : class_weight.data()};
  const kernel_abi::RowKernels<T>& k = row_kernels<T>();
  return rows::run<T>(rp.pass, [&](const kernel_abi::RowBlock<T>& block) { k.losses(block, options); });
}

template <class F>
auto with_dtype(DType dtype, F&& f) {
  return dtype == DType::kFloat32 ? f(float{}) : f(double{});
}

double mean_denominator(const RowLossCall& call, Reduction reduction) {
  return reduction == Reduction::kMean ? static_cast<double>(call.rows) : 1.0;
}

}  // namespace

InvalidClass find_invalid_class(const RowLossCall& call) {
  if (call.loss != RowLoss::kMultiMargin) return InvalidClass{};
  const int64_t rows = call.rows;
  const int64_t stride = call.target.stride;
  const rows::IndexScan scan = rows::scan_indices<double>(Shape{1, &rows}, rows::Vector{call.target.data, &stride},
                                                          IndexDType::kInt64, call.dim, nullptr, nullptr);
  return InvalidClass{scan.bad_row, scan.bad_value};
}

double row_loss_forward(const RowLossCall& call, Reduction reduction, MutableRowVector loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    RowPass rp(call);
    if (reduction == Reduction::kNone) rp.set_loss_out(loss_out);
    const double total = run_rows<decltype(zero)>(call, rp);
    return reduction == Reduction::kNone ? 0.0 : total / mean_denominator(call, reduction);
  });
}

void row_loss_backward(const RowLossCall& call, Reduction reduction, RowVector grad_output,
                       double grad_output_scalar, const MutableRowMatrix* grads) {
  with_dtype(call.dtype, [&](auto zero) {
    RowPass rp(call);
    rp.set_outputs(grads, row_loss_inputs(call.loss));
    if (reduction == Reduction::kNone)
      rp.set_grad_output(grad_output);
    else
      rp.pass.scale = grad_output_scalar / mean_denominator(call, reduction);
    run_rows<decltype(zero)>(call, rp);
    return 0;
  });
}

double row_loss_forward_backward(const RowLossCall& call, Reduction reduction, const MutableRowMatrix* grads,
                                 MutableRowVector loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    RowPass rp(call);
    rp.set_outputs(grads, row_loss_inputs(call.loss));
    rp.pass.scale = 1.0 / mean_denominator(call, reduction);
    if (reduction == Reduction::kNone) rp.set_loss_out(loss_out);
    const double total = run_rows<decltype(zero)>(call, rp);
    return reduction == Reduction::kNone ? 0.0 : total / mean_denominator(call, reduction);
  });
}

}  // namespace fastloss
