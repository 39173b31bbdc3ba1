// Bindings of the elementwise losses (BCE, BCE-with-logits, MSE, ...): one generic set of
// functions keyed by ElementwiseLoss, so a new loss needs no binding code.
#include "pybind.hpp"

#include <array>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/elementwise.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

const char* aux_name(ElementwiseLoss loss) {
  static const char* const kNames[] = {
#define FASTLOSS_AUX_NAME(name, by_weight_sum, aux) aux,
      FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_AUX_NAME)
#undef FASTLOSS_AUX_NAME
  };
  return kNames[static_cast<int>(loss)];
}

// The operands of one call, broadcast to their common shape. Keeps arrays and strides alive
// for the views in `call`.
struct Prepared {
  FloatArray input, target, weight, aux;
  std::vector<int64_t> shape;
  std::vector<int64_t> input_strides, target_strides, weight_strides, aux_strides;
  ElementwiseCall call;
};

void prepare(Prepared& p, ElementwiseLoss loss, const py::handle& input, const py::handle& target,
             const py::handle& weight, const py::handle& aux, const std::vector<double>& params) {
  p.input = float_array(input, "input");
  p.target = float_array(target, "target");
  require_dtype(p.target, p.input.dtype, "target");
  p.weight = float_array(weight, "weight", /*allow_none=*/true);
  if (p.weight.present()) require_dtype(p.weight, p.input.dtype, "weight");
  const char* aux_label = aux_name(loss);
  if (!aux.is_none() && aux_label[0] == '\0')
    throw py::value_error("this loss takes no auxiliary operand");
  p.aux = float_array(aux, aux_label, /*allow_none=*/true);
  if (p.aux.present()) require_dtype(p.aux, p.input.dtype, aux_label);
  if (params.size() > 4) throw py::value_error("at most 4 loss parameters");

  p.shape = broadcast_shapes(p.input.shape, "input", p.target.shape, "target");
  p.input_strides = broadcast_strides(p.input, p.shape, "input");
  p.target_strides = broadcast_strides(p.target, p.shape, "target");
  if (p.weight.present()) p.weight_strides = broadcast_strides(p.weight, p.shape, "weight");
  if (p.aux.present()) p.aux_strides = broadcast_strides(p.aux, p.shape, aux_label);

  ElementwiseCall& c = p.call;
  c.loss = loss;
  c.dtype = p.input.dtype;
  c.shape = Shape{static_cast<int>(p.shape.size()), p.shape.data()};
  c.input = ConstView{p.input.data(), p.input_strides.data()};
  c.target = ConstView{p.target.data(), p.target_strides.data()};
  if (p.weight.present()) c.weight = ConstView{p.weight.data(), p.weight_strides.data()};
  if (p.aux.present()) c.aux = ConstView{p.aux.data(), p.aux_strides.data()};
  for (size_t i = 0; i < params.size(); ++i) c.params[i] = params[i];
}

MutableView view_of(FloatArray& a) { return MutableView{a.array.mutable_data(), a.strides.data()}; }

py::object forward(ElementwiseLoss loss, const py::handle& input, const py::handle& target,
                   const py::handle& weight, const py::handle& aux, const std::string& reduction,
                   const std::vector<double>& params, const py::handle& out) {
  Prepared p;
  prepare(p, loss, input, target, weight, aux, params);
  const Reduction r = parse_reduction(reduction);
  if (r == Reduction::kNone) {
    FloatArray result =
        output_array(out, p.shape, p.call.dtype, {&p.input, &p.target, &p.weight, &p.aux}, nullptr);
    {
      py::gil_scoped_release release;  // pure C++ over buffers kept alive above
      elementwise_forward(p.call, r, view_of(result));
    }
    return result.array;
  }
  if (!out.is_none()) throw py::value_error("out is only used with reduction='none'");
  double value;
  {
    py::gil_scoped_release release;
    value = elementwise_forward(p.call, r, MutableView{});
  }
  return numpy_scalar(value, p.call.dtype);
}

py::array backward(ElementwiseLoss loss, const py::handle& grad_output, const py::handle& input,
                   const py::handle& target, const py::handle& weight, const py::handle& aux,
                   const std::string& reduction, const std::vector<double>& params,
                   const py::handle& out) {
  Prepared p;
  prepare(p, loss, input, target, weight, aux, params);
  const Reduction r = parse_reduction(reduction);
  FloatArray go;
  std::vector<int64_t> go_strides;
  double go_scalar = 0.0;
  if (r == Reduction::kNone) {
    go = float_array(grad_output, "grad_output");
    require_dtype(go, p.call.dtype, "grad_output");
    go_strides = broadcast_strides(go, p.shape, "grad_output");
  } else {
    if (py::isinstance<py::array>(grad_output) &&
        py::reinterpret_borrow<py::array>(grad_output).size() != 1) {
      throw py::value_error("grad_output must be a scalar for reduction='" + reduction + "'");
    }
    go_scalar = real_scalar(grad_output, "grad_output");
  }
  FloatArray result = output_array(out, p.shape, p.call.dtype,
                                   {&p.input, &p.target, &p.weight, &p.aux, &go}, &p.input);
  {
    py::gil_scoped_release release;
    const ConstView go_view = go.present() ? ConstView{go.data(), go_strides.data()} : ConstView{};
    elementwise_backward(p.call, r, go_view, go_scalar, view_of(result));
  }
  return result.array;
}

py::tuple with_grad(ElementwiseLoss loss, const py::handle& input, const py::handle& target,
                    const py::handle& weight, const py::handle& aux, const std::string& reduction,
                    const std::vector<double>& params, const py::handle& out) {
  Prepared p;
  prepare(p, loss, input, target, weight, aux, params);
  const Reduction r = parse_reduction(reduction);
  FloatArray grad = output_array(out, p.shape, p.call.dtype,
                                 {&p.input, &p.target, &p.weight, &p.aux}, &p.input);
  FloatArray loss_values;
  if (r == Reduction::kNone) loss_values = new_array(p.shape, p.call.dtype);
  double value;
  {
    py::gil_scoped_release release;
    value = elementwise_forward_backward(
        p.call, r, view_of(grad), loss_values.present() ? view_of(loss_values) : MutableView{});
  }
  if (r == Reduction::kNone) return py::make_tuple(loss_values.array, grad.array);
  return py::make_tuple(numpy_scalar(value, p.call.dtype), grad.array);
}

int64_t invalid_count(ElementwiseLoss loss, const py::handle& input, const py::handle& target) {
  Prepared p;
  prepare(p, loss, input, target, py::none(), py::none(), {});
  py::gil_scoped_release release;
  return elementwise_invalid_count(p.call);
}

}  // namespace

void register_elementwise(py::module_& m) {
  py::native_enum<ElementwiseLoss> losses(m, "ElementwiseLoss", "enum.Enum",
                                          "The elementwise losses of the core.");
#define FASTLOSS_ENUM_VALUE(name, ...) losses.value(#name, ElementwiseLoss::name);
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_ENUM_VALUE)
#undef FASTLOSS_ENUM_VALUE
  losses.finalize();

  m.def("elementwise_forward", &forward, py::arg("loss"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("aux") = py::none(),
        py::arg("reduction") = "mean", py::arg("params") = std::vector<double>{},
        py::arg("out") = py::none(),
        "Loss value: a NumPy scalar for 'mean'/'sum', an array for 'none'.");
  m.def("elementwise_backward", &backward, py::arg("loss"), py::arg("grad_output"),
        py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("aux") = py::none(), py::arg("reduction") = "mean",
        py::arg("params") = std::vector<double>{}, py::arg("out") = py::none(),
        "Gradient of the loss with respect to input.");
  m.def("elementwise_with_grad", &with_grad, py::arg("loss"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("aux") = py::none(),
        py::arg("reduction") = "mean", py::arg("params") = std::vector<double>{},
        py::arg("out") = py::none(),
        "(loss, gradient) from one pass; out may be the input array itself.");
  m.def("elementwise_invalid_count", &invalid_count, py::arg("loss"), py::arg("input"),
        py::arg("target"), "Number of elements whose values the loss rejects.");
}

}  // namespace bindings
}  // namespace fastloss
