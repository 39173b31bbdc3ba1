#include "loss_call.hpp"

namespace fastloss {
namespace bindings {
namespace {

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone: return "none";
    case Reduction::kMean: return "mean";
    case Reduction::kSum: return "sum";
    case Reduction::kBatchMean: break;
  }
  return "batchmean";
}

// The gradient arrays: the first is `out` when given (it may be the first input itself).
std::vector<FloatArray> gradient_arrays(const PreparedLoss& call, const py::handle& out,
                                        const std::vector<const FloatArray*>& reads) {
  std::vector<FloatArray> grads;
  for (size_t k = 0; k < call.grad_shapes.size(); ++k) {
    grads.push_back(k == 0 ? output_array(out, call.grad_shapes[0], call.dtype, reads, call.first_input, call.first_input)
                           : new_array_like(call.grad_shapes[k], *call.first_input));
  }
  return grads;
}

py::tuple finished(const std::vector<FloatArray>& arrays) {
  py::tuple t(arrays.size());
  for (size_t k = 0; k < arrays.size(); ++k) t[k] = arrays[k].finish();
  return t;
}

const std::vector<int64_t>& losses_shape(const PreparedLoss& call) {
  return call.returned_shape ? *call.returned_shape : call.loss_shape;
}

// Element strides over loss_shape of an array of losses_shape: its own, or for a single
// sample of another shape any strides of loss_shape's rank.
std::vector<int64_t> strides_over_loss_shape(const PreparedLoss& call, const std::vector<int64_t>& strides) {
  return call.returned_shape ? std::vector<int64_t>(call.loss_shape.size(), 0) : strides;
}

MutableView losses_view(const PreparedLoss& call, FloatArray& losses, std::vector<int64_t>& strides) {
  strides = strides_over_loss_shape(call, losses.strides);
  return MutableView{losses.array.mutable_data(), strides.data(), losses.label};
}

}  // namespace

py::object loss_forward(const PreparedLoss& call, const py::handle& out) {
  if (call.reduction == Reduction::kNone) {
    FloatArray losses = output_array(out, losses_shape(call), call.dtype, call.operands, nullptr, call.first_input);
    std::vector<int64_t> strides;
    const MutableView view = losses_view(call, losses, strides);
    {
      py::gil_scoped_release release;  // pure C++ over buffers the call keeps alive
      call.forward(view);
    }
    return losses.finish();
  }
  if (!out.is_none()) throw py::value_error("out is only used with reduction='none'");
  double value;
  {
    py::gil_scoped_release release;
    value = call.forward({});
  }
  return numpy_scalar(value, call.dtype);
}

py::tuple loss_forward_parts(const PreparedLoss& call) {
  if (call.reduction == Reduction::kNone) throw py::value_error("forward_parts needs a reduction, not 'none'");
  ReducedLoss parts;
  {
    py::gil_scoped_release release;
    parts = call.forward_parts();
  }
  return py::make_tuple(parts.sum, parts.denominator);
}

py::tuple loss_backward(const PreparedLoss& call, const py::handle& grad_output, const py::handle& out) {
  FloatArray go;
  std::vector<int64_t> go_strides;
  double go_scalar = 0.0;
  if (call.reduction == Reduction::kNone) {
    go = operand_array(grad_output, "grad_output", *call.first_input);
    go_strides = strides_over_loss_shape(call, broadcast_strides(go, losses_shape(call), "grad_output"));
  } else {
    if (py::isinstance<py::array>(grad_output) && py::reinterpret_borrow<py::array>(grad_output).size() != 1) {
      throw py::value_error(std::string("grad_output must be a scalar for reduction='") + reduction_name(call.reduction) +
                            "'");
    }
    go_scalar = real_scalar(grad_output, "grad_output");
  }
  std::vector<const FloatArray*> reads = call.operands;
  reads.push_back(&go);
  std::vector<FloatArray> grads = gradient_arrays(call, out, reads);
  {
    py::gil_scoped_release release;
    call.backward(go.present() ? ConstView{go.data(), go_strides.data(), go.label} : ConstView{}, go_scalar, grads);
  }
  return finished(grads);
}

py::tuple loss_with_grad(const PreparedLoss& call, const py::handle& out) {
  std::vector<FloatArray> grads = gradient_arrays(call, out, call.operands);
  FloatArray losses;
  std::vector<int64_t> strides;
  MutableView view{};
  if (call.reduction == Reduction::kNone) {
    losses = new_array_like(losses_shape(call), *call.first_input);
    view = losses_view(call, losses, strides);
  }
  double value;
  {
    py::gil_scoped_release release;
    value = call.forward_backward(grads, view);
  }
  const py::object loss = call.reduction == Reduction::kNone ? py::object(losses.array) : numpy_scalar(value, call.dtype);
  return py::make_tuple(loss) + finished(grads);
}

}  // namespace bindings
}  // namespace fastloss

namespace fastloss {
namespace bindings {

void register_reduction(py::module_& m) {
  py::native_enum<Reduction>(m, "Reduction", "enum.Enum", "How a loss reduces its elements (or rows).")
      .value("none", Reduction::kNone)
      .value("mean", Reduction::kMean)
      .value("sum", Reduction::kSum)
      .value("batchmean", Reduction::kBatchMean)
      .finalize();
}

}  // namespace bindings
}  // namespace fastloss
