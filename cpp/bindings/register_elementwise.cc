// Bindings of the elementwise losses (BCE, BCE-with-logits, MSE, ...): one prepared call for
// every loss, keyed by ElementwiseLoss, so a new loss needs no binding code beyond its shape
// rule below (if torch gives it one).
#include "pybind.hpp"

#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/elementwise.hpp"
#include "loss_call.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

// torch's shape rules and messages of each loss: which operands must match the input's
// shape exactly; the others broadcast.
void check_shapes(ElementwiseLoss loss, const FloatArray& input, const FloatArray& target, const FloatArray& weight,
                  const FloatArray& aux) {
  switch (loss) {
    case ElementwiseLoss::binary_cross_entropy:
      if (target.shape != input.shape) {
        throw py::value_error("Using a target size (" + shape_str(target.shape) +
                              ") that is different to the input size (" + shape_str(input.shape) +
                              ") is deprecated. Please ensure they have the same size.");
      }
      break;
    case ElementwiseLoss::binary_cross_entropy_with_logits:
    case ElementwiseLoss::sigmoid_focal_loss:
      if (target.shape != input.shape) {
        throw py::value_error("Target size (" + shape_str(target.shape) + ") must be the same as input size (" +
                              shape_str(input.shape) + ")");
      }
      break;
    case ElementwiseLoss::mse_loss:
    case ElementwiseLoss::l1_loss:
    case ElementwiseLoss::huber_loss:
      if (weight.present() && weight.shape != input.shape)
        throw py::value_error("Weights and input must have the same size: weight of shape " +
                              shape_str(weight.shape) + ", input of shape " + shape_str(input.shape));
      break;
    case ElementwiseLoss::margin_ranking_loss:
      if (input.shape.size() != aux.shape.size() || input.shape.size() != target.shape.size()) {
        throw py::value_error("margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                              "input1: " + shape_str(input.shape) + ", input2: " + shape_str(aux.shape) +
                              ", target: " + shape_str(target.shape) + " ");
      }
      break;
    default:
      break;
  }
}

// gaussian_nll_loss's var: the input's shape, that shape without its last dimension (one
// variance per row), or the input's shape with one dimension of 1 (torch's homoscedastic
// forms). Returns var's strides over the call's shape.
std::vector<int64_t> variance_strides(const FloatArray& var, const FloatArray& input, const std::vector<int64_t>& shape) {
  const std::vector<int64_t>& v = var.shape;
  const std::vector<int64_t>& x = input.shape;
  if (v == x) return broadcast_strides(var, shape, "var");
  if (!x.empty() && v == std::vector<int64_t>(x.begin(), x.end() - 1)) {
    FloatArray with_last = var;
    with_last.shape.push_back(1);
    with_last.strides.push_back(0);
    return broadcast_strides(with_last, shape, "var");
  }
  if (v.size() == x.size()) {
    int differing = 0;
    for (size_t d = 0; d < v.size(); ++d) differing += v[d] != x[d] ? (v[d] == 1 ? 1 : 2) : 0;
    if (differing == 1) return broadcast_strides(var, shape, "var");
  }
  throw py::value_error("var is of incorrect size: var of shape " + shape_str(v) + " for input of shape " +
                        shape_str(x));
}

// The target dtypes torch takes for the loss (ops.hpp's target_labels).
LabelRule label_rule(ElementwiseLoss loss) {
  const TargetLabels labels = target_labels(loss);
  return LabelRule{labels != TargetLabels::kFloat, labels == TargetLabels::kIntegerOrBool,
                   loss == ElementwiseLoss::margin_ranking_loss ? kBoolNegation : kBoolSubtraction};
}

class ElementwisePrepared : public PreparedLoss {
 public:
  ElementwisePrepared(ElementwiseLoss loss, const py::handle& input, const py::handle& target,
                      const py::handle& weight, const py::handle& aux, Reduction reduction,
                      const ElementwiseOptions& options) {
    const OperandNames names = operand_names(loss);
    input_ = storage_array(input, names.input);
    target_ = label_array(target, names.target, input_, label_rule(loss));
    weight_ = operand_array(weight, "weight", input_, /*allow_none=*/true);
    const bool has_aux = names.aux[0] != '\0';
    if (!aux.is_none() && !has_aux) throw py::value_error("this loss takes no auxiliary operand");
    // pos_weight is optional; the other losses' aux (var, input2) is not.
    const bool aux_optional = !has_aux || loss == ElementwiseLoss::binary_cross_entropy_with_logits;
    aux_ = operand_array(aux, has_aux ? names.aux : "aux", input_, aux_optional);
    check_shapes(loss, input_, target_, weight_, aux_);

    shape_ = broadcast_shapes(input_.shape, names.input, target_.shape, names.target);
    input_strides_ = broadcast_strides(input_, shape_, names.input);
    target_strides_ = broadcast_strides(target_, shape_, names.target);
    if (weight_.present()) weight_strides_ = broadcast_strides(weight_, shape_, "weight");
    if (aux_.present()) {
      aux_strides_ = loss == ElementwiseLoss::gaussian_nll_loss ? variance_strides(aux_, input_, shape_)
                                                                : broadcast_strides(aux_, shape_, names.aux);
    }
    call_.loss = loss;
    call_.dtype = input_.dtype;
    call_.shape = Shape{static_cast<int>(shape_.size()), shape_.data()};
    call_.input = ConstView{input_.data(), input_strides_.data(), input_.label};
    call_.target = ConstView{target_.data(), target_strides_.data(), target_.label};
    if (weight_.present()) call_.weight = ConstView{weight_.data(), weight_strides_.data(), weight_.label};
    if (aux_.present()) call_.aux = ConstView{aux_.data(), aux_strides_.data(), aux_.label};
    call_.options = options;
    check_values(names);

    dtype = input_.dtype;
    this->reduction = reduction;
    loss_shape = shape_;
    grad_shapes = {shape_};
    first_input = &input_;
    operands = {&input_, &target_, &weight_, &aux_};
  }

  double forward(MutableView loss_out) const override { return elementwise_forward(call_, reduction, loss_out); }
  ReducedLoss forward_parts() const override { return elementwise_forward_parts(call_, reduction); }
  void backward(ConstView grad_output, double scalar, std::vector<FloatArray>& grads) const override {
    elementwise_backward(call_, reduction, grad_output, scalar, grads[0].mutable_view());
  }
  double forward_backward(std::vector<FloatArray>& grads, MutableView loss_out) const override {
    return elementwise_forward_backward(call_, reduction, grads[0].mutable_view(), loss_out);
  }

  // (grad, hess) of the gradient-boosting objective, into `out` = (grad, hess) when given.
  py::tuple grad_hess(double hess_floor, const py::handle& out) const {
    if (!has_hessian(call_.loss)) throw py::value_error("this loss has no Hessian kernel");
    py::object grad_out = py::none(), hess_out = py::none();
    if (!out.is_none()) {
      if (!py::isinstance<py::tuple>(out) || py::len(out) != 2)
        throw py::type_error("out must be a tuple (grad, hess) of two arrays");
      grad_out = out[py::int_(0)];
      hess_out = out[py::int_(1)];
    }
    FloatArray grad = output_array(grad_out, shape_, dtype, operands, nullptr, &input_);
    std::vector<const FloatArray*> reads = operands;
    reads.push_back(&grad);  // hess may not overlap grad either
    FloatArray hess = output_array(hess_out, shape_, dtype, reads, nullptr, &input_);
    {
      py::gil_scoped_release release;  // pure C++ over buffers this call keeps alive
      elementwise_grad_hess(call_, hess_floor, grad.mutable_view(), hess.mutable_view());
    }
    return py::make_tuple(grad.finish(), hess.finish());
  }

 private:
  // The values the loss rejects, with torch's messages.
  void check_values(const OperandNames& names) const {
    if (value_check(call_.loss) == ValueCheck::kNone) return;
    InvalidValues bad;
    {
      py::gil_scoped_release release;  // a scan in C++ over buffers kept alive by this call
      bad = elementwise_invalid_values(call_);
    }
    if (bad.input > 0) throw py::value_error(std::string("all elements of ") + names.input + " should be between 0 and 1");
    if (bad.target > 0) throw py::value_error(std::string("all elements of ") + names.target + " should be between 0 and 1");
    if (bad.aux > 0) throw py::value_error(std::string(names.aux) + " has negative entry/entries");
  }

  FloatArray input_, target_, weight_, aux_;
  std::vector<int64_t> shape_, input_strides_, target_strides_, weight_strides_, aux_strides_;
  ElementwiseCall call_;
};

}  // namespace

void register_elementwise(py::module_& m) {
  py::native_enum<ElementwiseLoss> losses(m, "ElementwiseLoss", "enum.Enum", "The elementwise losses of the core.");
#define FASTLOSS_ENUM_VALUE(name, ...) losses.value(#name, ElementwiseLoss::name);
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_ENUM_VALUE)
#undef FASTLOSS_ENUM_VALUE
  losses.finalize();

  py::class_<ElementwiseOptions>(m, "ElementwiseOptions", "The scalar options of the elementwise losses.")
      .def(py::init([](double beta, double delta, bool log_input, bool full, double eps, bool var_gradient,
                       bool log_target, double margin, double alpha, double gamma) {
             return ElementwiseOptions{beta, delta, log_input, full, eps, var_gradient, log_target, margin, alpha, gamma};
           }),
           py::kw_only(), py::arg("beta") = 1.0, py::arg("delta") = 1.0, py::arg("log_input") = true,
           py::arg("full") = false, py::arg("eps") = 1e-8, py::arg("var_gradient") = false,
           py::arg("log_target") = false, py::arg("margin") = 1.0, py::arg("alpha") = 0.25, py::arg("gamma") = 2.0)
      .def_readonly("beta", &ElementwiseOptions::beta)
      .def_readonly("delta", &ElementwiseOptions::delta)
      .def_readonly("log_input", &ElementwiseOptions::log_input)
      .def_readonly("full", &ElementwiseOptions::full)
      .def_readonly("eps", &ElementwiseOptions::eps)
      .def_readonly("var_gradient", &ElementwiseOptions::var_gradient)
      .def_readonly("log_target", &ElementwiseOptions::log_target)
      .def_readonly("margin", &ElementwiseOptions::margin)
      .def_readonly("alpha", &ElementwiseOptions::alpha)
      .def_readonly("gamma", &ElementwiseOptions::gamma);

  LossBindings<ElementwisePrepared, ElementwiseLoss, const py::handle&, const py::handle&, const py::handle&,
               const py::handle&, Reduction, const ElementwiseOptions&>::
      define(m, "elementwise", py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
             py::arg("aux") = py::none(), py::arg("reduction") = Reduction::kMean,
             py::arg("options") = ElementwiseOptions{});

  m.def("elementwise_has_hessian", &has_hessian, py::arg("loss"),
        "Whether elementwise_grad_hess takes the loss.");
  m.def(
      "elementwise_grad_hess",
      [](ElementwiseLoss loss, const py::handle& input, const py::handle& target, const py::handle& weight,
         const py::handle& aux, const ElementwiseOptions& options, double hess_floor, const py::handle& out) {
        return ElementwisePrepared(loss, input, target, weight, aux, Reduction::kNone, options).grad_hess(hess_floor, out);
      },
      py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("aux") = py::none(), py::arg("options") = ElementwiseOptions{}, py::arg("hess_floor") = 0.0,
      py::arg("out") = py::none(),
      "(grad, hess) per element in one pass: weight * d loss / d input and weight * max(d2 loss / d input2, "
      "hess_floor); out = (grad, hess) to write into.");
}

}  // namespace bindings
}  // namespace fastloss
