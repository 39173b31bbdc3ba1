// Bindings of the softmax / cross-entropy family: softmax, log_softmax and the class losses
// (nll_loss, cross_entropy, softmax_focal_loss). Every argument is checked here, with
// torch's messages, before any work: errors leave `out` untouched.
#include "pybind.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/class_losses.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

std::string dims_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// `shape` without dimension `axis`, and `strides` likewise.
std::vector<int64_t> without_axis(const std::vector<int64_t>& v, size_t axis) {
  std::vector<int64_t> out;
  for (size_t d = 0; d < v.size(); ++d)
    if (d != axis) out.push_back(v[d]);
  return out;
}

// A class-index target array: int32 or int64 in native byte order, read in place.
struct IndexArray {
  py::array array;
  IndexDType dtype = IndexDType::kInt64;
  std::vector<int64_t> shape, strides;
};

IndexArray index_array(const py::array& a) {
  IndexArray t;
  t.array = a;
  const py::dtype dt = a.dtype();
  const bool native = dt.attr("isnative").cast<bool>();
  if (dt.kind() != 'i' || (dt.itemsize() != 4 && dt.itemsize() != 8) || !native) {
    throw py::type_error("target of class indices must have dtype int64 or int32, got " +
                         py::str(dt).cast<std::string>());
  }
  t.dtype = dt.itemsize() == 4 ? IndexDType::kInt32 : IndexDType::kInt64;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    t.shape.push_back(a.shape(d));
    t.strides.push_back(a.strides(d) / dt.itemsize());
  }
  return t;
}

// The class axis of an input: 0 for (C,), else 1 (torch's rule for the losses).
size_t class_axis_of(const FloatArray& input) { return input.shape.size() == 1 ? 0 : 1; }

// The operands of one class-loss call, checked, with the storage its views point into.
struct Prepared {
  FloatArray input, prob_target, weight, alpha;
  IndexArray index_target;
  std::vector<int64_t> rows, input_row_strides, prob_row_strides;
  Reduction reduction = Reduction::kMean;
  ClassLossCall call;
};

void prepare_target(Prepared& p, ClassLoss loss, const py::handle& target, size_t axis) {
  if (!py::isinstance<py::array>(target)) {
    throw py::type_error("target must be a numpy.ndarray, got " +
                         py::str(py::type::handle_of(target).attr("__name__")).cast<std::string>());
  }
  const py::array t = py::reinterpret_borrow<py::array>(target);
  std::vector<int64_t> t_shape(t.shape(), t.shape() + t.ndim());
  if (loss == ClassLoss::kCrossEntropy && t_shape == p.input.shape) {
    // Class probabilities (torch's rule: the target has the input's shape).
    if (t.dtype().kind() != 'f') {
      throw py::type_error("Expected floating point type for target with class probabilities, got " +
                           py::str(t.dtype()).cast<std::string>());
    }
    if (p.call.ignore_index >= 0)
      throw py::value_error("ignore_index is not supported for floating point target");
    p.prob_target = float_array(target, "target");
    require_dtype(p.prob_target, p.input.dtype, "target");
    p.prob_row_strides = without_axis(p.prob_target.strides, axis);
    p.call.prob_target = ClassView{ConstView{p.prob_target.data(), p.prob_row_strides.data()},
                                   p.prob_target.strides[axis]};
    return;
  }
  p.index_target = index_array(t);
  const std::vector<int64_t>& got = p.index_target.shape;
  if (got != p.rows) {
    if (p.input.shape.size() == 2 && got.size() == 1) {
      throw py::value_error("Expected input batch_size (" + std::to_string(p.input.shape[0]) +
                            ") to match target batch_size (" + std::to_string(got[0]) + ").");
    }
    throw py::value_error("Expected target size " + dims_str(p.rows) + ", got " + dims_str(got) +
                          " (input shape " + shape_str(p.input.shape) + ")");
  }
  p.call.index_target = ConstView{p.index_target.array.data(), p.index_target.strides.data()};
  p.call.index_dtype = p.index_target.dtype;
}

void prepare(Prepared& p, ClassLoss loss, const py::handle& input, const py::handle& target,
             const py::handle& weight, int64_t ignore_index, const std::string& reduction,
             double label_smoothing, const py::handle& alpha, double gamma) {
  p.input = float_array(input, "input");
  const size_t nd = p.input.shape.size();
  if (nd == 0) throw py::value_error("Expected 1 or more dimensions (got 0)");
  const size_t axis = class_axis_of(p.input);
  const int64_t classes = p.input.shape[axis];
  p.rows = without_axis(p.input.shape, axis);
  p.input_row_strides = without_axis(p.input.strides, axis);
  ClassLossCall& c = p.call;
  c.loss = loss;
  c.dtype = p.input.dtype;
  c.shape = ClassShape{Shape{static_cast<int>(p.rows.size()), p.rows.data()}, classes};
  c.input = ClassView{ConstView{p.input.data(), p.input_row_strides.data()}, p.input.strides[axis]};
  c.ignore_index = ignore_index;
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) {
    py::object got = py::float_(label_smoothing);
    throw py::value_error("label_smoothing must be between 0.0 and 1.0. Got: " +
                          py::str(got).cast<std::string>());
  }
  c.label_smoothing = label_smoothing;
  prepare_target(p, loss, target, axis);

  p.weight = float_array(weight, "weight", /*allow_none=*/true);
  if (p.weight.present()) {
    require_dtype(p.weight, p.input.dtype, "weight");
    if (p.weight.shape != std::vector<int64_t>{classes}) {
      throw py::value_error("weight tensor should be defined either for all " + std::to_string(classes) +
                            " classes or no classes but got weight tensor of shape: " +
                            dims_str(p.weight.shape));
    }
    c.weight = p.weight.data();
    c.weight_stride = p.weight.strides[0];
  }
  if (py::isinstance<py::array>(alpha)) {
    p.alpha = float_array(alpha, "alpha");
    require_dtype(p.alpha, p.input.dtype, "alpha");
    if (p.alpha.shape != std::vector<int64_t>{classes}) {
      throw py::value_error("alpha must be a scalar or have shape (" + std::to_string(classes) +
                            ",) (one value per class), got shape " + shape_str(p.alpha.shape));
    }
    c.alpha = p.alpha.data();
    c.alpha_stride = p.alpha.strides[0];
  } else if (!alpha.is_none()) {
    c.alpha_scalar = real_scalar(alpha, "alpha");
  }
  if (!(gamma >= 0.0) || std::isinf(gamma)) {
    throw py::value_error("gamma must be a finite number >= 0, got " +
                          py::str(py::float_(gamma)).cast<std::string>());
  }
  c.gamma = gamma;
  p.reduction = parse_reduction(reduction);

  if (!c.probability_targets()) {
    InvalidTarget bad;
    {
      py::gil_scoped_release release;  // O(rows) scan in C++ over buffers kept alive by p
      bad = find_invalid_target(c);
    }
    if (bad.row >= 0) throw py::index_error("Target " + std::to_string(bad.value) + " is out of bounds.");
  }
}

MutableView rows_view(FloatArray& a) { return MutableView{a.array.mutable_data(), a.strides.data()}; }

// The gradient array laid over the call's rows (same layout rules as the input).
struct ClassOutput {
  FloatArray array;
  std::vector<int64_t> row_strides;
  MutableClassView view;
};

void class_output(ClassOutput& o, Prepared& p, const py::handle& out, const FloatArray* grad_output) {
  o.array = output_array(out, p.input.shape, p.input.dtype,
                         {&p.input, &p.prob_target, &p.weight, &p.alpha, grad_output}, &p.input);
  const size_t axis = class_axis_of(p.input);
  o.row_strides = without_axis(o.array.strides, axis);
  o.view = MutableClassView{MutableView{o.array.array.mutable_data(), o.row_strides.data()},
                            o.array.strides[axis]};
}

py::object forward(ClassLoss loss, const py::handle& input, const py::handle& target,
                   const py::handle& weight, int64_t ignore_index, const std::string& reduction,
                   double label_smoothing, const py::handle& alpha, double gamma) {
  Prepared p;
  prepare(p, loss, input, target, weight, ignore_index, reduction, label_smoothing, alpha, gamma);
  if (p.reduction == Reduction::kNone) {
    FloatArray result = new_array(p.rows, p.call.dtype);
    {
      py::gil_scoped_release release;  // pure C++ over buffers kept alive above
      class_loss_forward(p.call, p.reduction, rows_view(result));
    }
    return result.array;
  }
  double value;
  {
    py::gil_scoped_release release;
    value = class_loss_forward(p.call, p.reduction, MutableView{});
  }
  return numpy_scalar(value, p.call.dtype);
}

py::array backward(ClassLoss loss, const py::handle& grad_output, const py::handle& input,
                   const py::handle& target, const py::handle& weight, int64_t ignore_index,
                   const std::string& reduction, double label_smoothing, const py::handle& alpha,
                   double gamma, const py::handle& out) {
  Prepared p;
  prepare(p, loss, input, target, weight, ignore_index, reduction, label_smoothing, alpha, gamma);
  FloatArray go;
  std::vector<int64_t> go_strides;
  double go_scalar = 0.0;
  if (p.reduction == Reduction::kNone) {
    go = float_array(grad_output, "grad_output");
    require_dtype(go, p.call.dtype, "grad_output");
    go_strides = broadcast_strides(go, p.rows, "grad_output");
  } else {
    if (py::isinstance<py::array>(grad_output) &&
        py::reinterpret_borrow<py::array>(grad_output).size() != 1) {
      throw py::value_error("grad_output must be a scalar for reduction='" + reduction + "'");
    }
    go_scalar = real_scalar(grad_output, "grad_output");
  }
  ClassOutput grad;
  class_output(grad, p, out, &go);
  {
    py::gil_scoped_release release;
    const ConstView go_view = go.present() ? ConstView{go.data(), go_strides.data()} : ConstView{};
    class_loss_backward(p.call, p.reduction, go_view, go_scalar, grad.view);
  }
  return grad.array.array;
}

py::tuple with_grad(ClassLoss loss, const py::handle& input, const py::handle& target,
                    const py::handle& weight, int64_t ignore_index, const std::string& reduction,
                    double label_smoothing, const py::handle& alpha, double gamma,
                    const py::handle& out) {
  Prepared p;
  prepare(p, loss, input, target, weight, ignore_index, reduction, label_smoothing, alpha, gamma);
  ClassOutput grad;
  class_output(grad, p, out, nullptr);
  FloatArray loss_values;
  if (p.reduction == Reduction::kNone) loss_values = new_array(p.rows, p.call.dtype);
  double value;
  {
    py::gil_scoped_release release;
    value = class_loss_forward_backward(p.call, p.reduction, grad.view,
                                        loss_values.present() ? rows_view(loss_values) : MutableView{});
  }
  if (p.reduction == Reduction::kNone) return py::make_tuple(loss_values.array, grad.array.array);
  return py::make_tuple(numpy_scalar(value, p.call.dtype), grad.array.array);
}

py::array apply_softmax(const py::handle& x, int64_t axis, bool log, const py::handle& out) {
  FloatArray in = float_array(x, "input");
  const int64_t nd = static_cast<int64_t>(in.shape.size());
  const int64_t lo = nd == 0 ? -1 : -nd, hi = nd == 0 ? 0 : nd - 1;
  if (axis < lo || axis > hi) {
    throw py::index_error("Dimension out of range (expected to be in range of [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "], but got " + std::to_string(axis) + ")");
  }
  // A 0-d array is one row of one class, as torch treats it.
  const size_t a = nd == 0 ? 0 : static_cast<size_t>(axis < 0 ? axis + nd : axis);
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in);
  const std::vector<int64_t> rows = nd == 0 ? std::vector<int64_t>{} : without_axis(in.shape, a);
  const std::vector<int64_t> in_rows = nd == 0 ? rows : without_axis(in.strides, a);
  const std::vector<int64_t> out_rows = nd == 0 ? rows : without_axis(result.strides, a);
  const ClassShape shape{Shape{static_cast<int>(rows.size()), rows.data()}, nd == 0 ? 1 : in.shape[a]};
  {
    py::gil_scoped_release release;
    softmax(in.dtype, shape, ClassView{ConstView{in.data(), in_rows.data()}, nd == 0 ? 1 : in.strides[a]},
            MutableClassView{MutableView{result.array.mutable_data(), out_rows.data()},
                             nd == 0 ? 1 : result.strides[a]},
            log);
  }
  return result.array;
}

}  // namespace

void register_cross_entropy(py::module_& m) {
  py::native_enum<ClassLoss> losses(m, "ClassLoss", "enum.Enum",
                                    "The losses over a class axis (targets are class indices or probabilities).");
  losses.value("nll_loss", ClassLoss::kNllLoss)
      .value("cross_entropy", ClassLoss::kCrossEntropy)
      .value("softmax_focal_loss", ClassLoss::kSoftmaxFocal)
      .finalize();

  m.def("softmax", &apply_softmax, py::arg("x"), py::arg("axis"), py::arg("log"),
        py::arg("out") = py::none(),
        "softmax (or log_softmax) along axis; out may be x itself.");
  m.def("class_loss_forward", &forward, py::arg("loss"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
        py::arg("label_smoothing") = 0.0, py::arg("alpha") = py::none(), py::arg("gamma") = 2.0,
        "Loss value: a NumPy scalar for 'mean'/'sum', an array for 'none'.");
  m.def("class_loss_backward", &backward, py::arg("loss"), py::arg("grad_output"), py::arg("input"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0, py::arg("alpha") = py::none(),
        py::arg("gamma") = 2.0, py::arg("out") = py::none(),
        "Gradient of the loss with respect to input.");
  m.def("class_loss_with_grad", &with_grad, py::arg("loss"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
        py::arg("label_smoothing") = 0.0, py::arg("alpha") = py::none(), py::arg("gamma") = 2.0,
        py::arg("out") = py::none(),
        "(loss, gradient) reading the input once; out may be the input array itself.");
}

}  // namespace bindings
}  // namespace fastloss
