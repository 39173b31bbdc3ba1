// Bindings of the row-wise losses: cosine_embedding_loss, multi_margin_loss and
// triplet_margin_loss over 1-d (one row) or 2-d (rows, dim) inputs; the Python layer
// folds triplet's extra leading dimensions into rows. Every argument is checked here,
// with torch's messages, before any work: errors leave `out` untouched.
#include "pybind.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/row_losses.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

std::string dims_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Scalar options of every row loss (each reads its own).
struct RowOptionArgs {
  double margin;
  int margin_p;
  double norm_p;
  double eps;
  bool swap;
};

// The operands of one call, checked, with the storage its views point into.
struct Prepared {
  std::vector<FloatArray> inputs;
  FloatArray labels, weight;
  py::array classes;
  std::vector<int64_t> loss_shape;  // the shape of reduction='none''s result
  Reduction reduction = Reduction::kMean;
  RowLossCall call;
};

RowMatrix matrix_of(const FloatArray& a) {
  // A 1-d array is one row.
  if (a.shape.size() == 1) return RowMatrix{a.data(), 0, a.strides[0]};
  return RowMatrix{a.data(), a.strides[0], a.strides[1]};
}

// ValueError in torch's broadcasting words unless a and b have the same shape.
void require_same_shape(const FloatArray& a, const FloatArray& b) {
  if (a.shape == b.shape) return;
  const size_t n = std::max(a.shape.size(), b.shape.size());
  for (size_t k = 0; k < n; ++k) {
    const int64_t sa = k < a.shape.size() ? a.shape[a.shape.size() - 1 - k] : 1;
    const int64_t sb = k < b.shape.size() ? b.shape[b.shape.size() - 1 - k] : 1;
    if (sa != sb) {
      throw py::value_error("The size of tensor a (" + std::to_string(sa) + ") must match the size of tensor b (" +
                            std::to_string(sb) + ") at non-singleton dimension " + std::to_string(n - 1 - k));
    }
  }
}

void prepare_cosine(Prepared& p, const py::handle& target) {
  const FloatArray& x1 = p.inputs[0];
  const FloatArray& x2 = p.inputs[1];
  p.labels = float_array(target, "target");
  require_dtype(p.labels, x1.dtype, "target");
  const size_t t_dim = p.labels.shape.size();
  if (t_dim > 1) throw py::value_error("0D or 1D target tensor expected, multi-target not supported");
  if (x1.shape.size() != t_dim + 1 || x2.shape.size() != t_dim + 1) {
    throw py::value_error(std::to_string(t_dim) + "D target tensor expects " + std::to_string(t_dim + 1) +
                          "D input tensors, but found inputs with sizes " + dims_str(x1.shape) + " and " +
                          dims_str(x2.shape) + ".");
  }
  require_same_shape(x1, x2);
  if (t_dim == 1 && p.labels.shape[0] != x1.shape[0]) {
    throw py::value_error("The size of tensor a (" + std::to_string(x1.shape[0]) +
                          ") must match the size of tensor b (" + std::to_string(p.labels.shape[0]) +
                          ") at non-singleton dimension 0");
  }
  p.call.target = RowVector{p.labels.data(), t_dim == 1 ? p.labels.strides[0] : 0};
}

void prepare_multi_margin(Prepared& p, const py::handle& target, const py::handle& weight) {
  const FloatArray& x = p.inputs[0];
  const size_t nd = x.shape.size();
  if (!((nd == 2 && x.shape[1] != 0) || (nd == 1 && x.shape[0] != 0) || nd == 0)) {
    throw py::value_error("Expected non-empty vector or matrix with optional 0-dim batch size, but got: " +
                          dims_str(x.shape));
  }
  p.call.rows = nd <= 1 ? 1 : x.shape[0];
  p.call.dim = nd == 0 ? 1 : x.shape[nd - 1];
  if (!py::isinstance<py::array>(target)) throw py::type_error("target must be a numpy.ndarray");
  p.classes = py::reinterpret_borrow<py::array>(target);
  const py::dtype dt = p.classes.dtype();
  if (dt.kind() != 'i' || dt.itemsize() != 8 || !dt.attr("isnative").cast<bool>())
    throw py::type_error("target must have dtype int64, got " + py::str(dt).cast<std::string>());
  std::vector<int64_t> t_shape(p.classes.shape(), p.classes.shape() + p.classes.ndim());
  if (p.classes.ndim() > 1 || p.classes.size() != p.call.rows) {
    throw py::value_error("multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                          "samples (batch size). Expected target size [" + std::to_string(p.call.rows) +
                          "], but got " + dims_str(t_shape) + ". Input has shape " + dims_str(x.shape) + ".");
  }
  p.call.target = RowVector{p.classes.data(), p.classes.ndim() == 1 ? p.classes.strides(0) / 8 : 0};
  p.weight = float_array(weight, "weight", /*allow_none=*/true);
  if (p.weight.present()) {
    require_dtype(p.weight, x.dtype, "weight");
    if (p.weight.shape.size() != 1) throw py::value_error("weight must be one-dimensional");
    if (p.weight.shape[0] != p.call.dim) {
      throw py::value_error("inconsistent weight size, expected " + std::to_string(p.call.dim) + " but got " +
                            dims_str(p.weight.shape));
    }
    p.call.weight = RowVector{p.weight.data(), p.weight.strides[0]};
  }
  p.loss_shape = nd == 2 ? std::vector<int64_t>{x.shape[0]} : std::vector<int64_t>{};
  InvalidClass bad;
  {
    py::gil_scoped_release release;  // O(rows) scan over buffers kept alive by p
    bad = find_invalid_class(p.call);
  }
  if (bad.row >= 0) throw py::index_error("target out of range");
}

void prepare_triplet(Prepared& p) {
  const FloatArray& a = p.inputs[0];
  const size_t a_dim = a.shape.size(), p_dim = p.inputs[1].shape.size(), n_dim = p.inputs[2].shape.size();
  if (a_dim != p_dim || p_dim != n_dim) {
    throw py::value_error("The anchor, positive, and negative tensors are expected to have the same number of "
                          "dimensions, but got: anchor " + std::to_string(a_dim) + "D, positive " +
                          std::to_string(p_dim) + "D, and negative " + std::to_string(n_dim) + "D inputs");
  }
  if (a_dim < 1 || a_dim > 2) throw py::value_error("triplet_margin_loss expects 1-d or 2-d inputs here");
  require_same_shape(a, p.inputs[1]);
  require_same_shape(a, p.inputs[2]);
  if (!(p.call.norm_p > 0.0)) {
    throw py::value_error("triplet_margin_loss supports p > 0, got " + py::str(py::float_(p.call.norm_p)).cast<std::string>());
  }
}

void prepare(Prepared& p, RowLoss loss, const py::sequence& inputs, const py::handle& target,
             const py::handle& weight, const std::string& reduction, const RowOptionArgs& o) {
  const int count = row_loss_inputs(loss);
  if (static_cast<int>(py::len(inputs)) != count) throw py::value_error("wrong number of inputs");
  static const char* const kNames[3][3] = {
      {"input1", "input2", ""}, {"input", "", ""}, {"anchor", "positive", "negative"}};
  for (int k = 0; k < count; ++k) {
    p.inputs.push_back(float_array(inputs[k], kNames[static_cast<int>(loss)][k]));
    if (k > 0) require_dtype(p.inputs[k], p.inputs[0].dtype, kNames[static_cast<int>(loss)][k]);
  }
  RowLossCall& c = p.call;
  c.loss = loss;
  c.dtype = p.inputs[0].dtype;
  c.margin = o.margin;
  c.margin_p = o.margin_p;
  c.norm_p = o.norm_p;
  c.eps = o.eps;
  c.swap = o.swap;
  p.reduction = parse_reduction(reduction);
  if (loss == RowLoss::kMultiMargin) {
    if (o.margin_p != 1 && o.margin_p != 2) throw py::value_error("only p == 1 and p == 2 supported");
    prepare_multi_margin(p, target, weight);
  } else {
    if (loss == RowLoss::kCosineEmbedding) prepare_cosine(p, target);
    else prepare_triplet(p);
    const FloatArray& x = p.inputs[0];
    c.rows = x.shape.size() == 2 ? x.shape[0] : 1;
    c.dim = x.shape.back();
    p.loss_shape = x.shape.size() == 2 ? std::vector<int64_t>{x.shape[0]} : std::vector<int64_t>{};
  }
  for (int k = 0; k < count; ++k) {
    // A 0-d multi_margin input is one row of one class.
    c.inputs[k] = p.inputs[k].shape.empty() ? RowMatrix{p.inputs[k].data(), 0, 1} : matrix_of(p.inputs[k]);
  }
}

MutableRowVector loss_view(FloatArray& a) {
  return MutableRowVector{a.array.mutable_data(), a.strides.empty() ? 0 : a.strides[0]};
}

// The gradient arrays: grads[0] is `out` when given (it may be inputs[0] itself).
struct Gradients {
  std::vector<FloatArray> arrays;
  MutableRowMatrix views[3];
};

void gradients(Gradients& g, Prepared& p, const py::handle& out, const FloatArray* grad_output) {
  std::vector<const FloatArray*> operands;
  for (const FloatArray& a : p.inputs) operands.push_back(&a);
  operands.push_back(&p.labels);
  operands.push_back(&p.weight);
  if (grad_output != nullptr) operands.push_back(grad_output);
  for (size_t k = 0; k < p.inputs.size(); ++k) {
    g.arrays.push_back(k == 0 ? output_array(out, p.inputs[0].shape, p.call.dtype, operands, &p.inputs[0])
                              : new_array(p.inputs[k].shape, p.call.dtype));
    const FloatArray& a = g.arrays.back();
    const RowMatrix m = a.shape.empty() ? RowMatrix{a.data(), 0, 1} : matrix_of(a);
    g.views[k] = MutableRowMatrix{g.arrays.back().array.mutable_data(), m.row_stride, m.col_stride};
  }
}

py::tuple arrays_of(const Gradients& g) {
  py::tuple t(g.arrays.size());
  for (size_t k = 0; k < g.arrays.size(); ++k) t[k] = g.arrays[k].array;
  return t;
}

RowOptionArgs options(double margin, int margin_p, double norm_p, double eps, bool swap) {
  return RowOptionArgs{margin, margin_p, norm_p, eps, swap};
}

py::object forward(RowLoss loss, const py::sequence& inputs, const py::handle& target, const py::handle& weight,
                   const std::string& reduction, double margin, int margin_p, double norm_p, double eps, bool swap) {
  Prepared p;
  prepare(p, loss, inputs, target, weight, reduction, options(margin, margin_p, norm_p, eps, swap));
  if (p.reduction == Reduction::kNone) {
    FloatArray result = new_array(p.loss_shape, p.call.dtype);
    {
      py::gil_scoped_release release;  // pure C++ over buffers kept alive above
      row_loss_forward(p.call, p.reduction, loss_view(result));
    }
    return result.array;
  }
  double value;
  {
    py::gil_scoped_release release;
    value = row_loss_forward(p.call, p.reduction, MutableRowVector{});
  }
  return numpy_scalar(value, p.call.dtype);
}

py::tuple backward(RowLoss loss, const py::handle& grad_output, const py::sequence& inputs, const py::handle& target,
                   const py::handle& weight, const std::string& reduction, double margin, int margin_p,
                   double norm_p, double eps, bool swap, const py::handle& out) {
  Prepared p;
  prepare(p, loss, inputs, target, weight, reduction, options(margin, margin_p, norm_p, eps, swap));
  FloatArray go;
  RowVector go_view;
  double go_scalar = 0.0;
  if (p.reduction == Reduction::kNone) {
    go = float_array(grad_output, "grad_output");
    require_dtype(go, p.call.dtype, "grad_output");
    const std::vector<int64_t> strides = broadcast_strides(go, p.loss_shape, "grad_output");
    go_view = RowVector{go.data(), strides.empty() ? 0 : strides[0]};
  } else {
    if (py::isinstance<py::array>(grad_output) && py::reinterpret_borrow<py::array>(grad_output).size() != 1)
      throw py::value_error("grad_output must be a scalar for reduction='" + reduction + "'");
    go_scalar = real_scalar(grad_output, "grad_output");
  }
  Gradients g;
  gradients(g, p, out, &go);
  {
    py::gil_scoped_release release;
    row_loss_backward(p.call, p.reduction, go_view, go_scalar, g.views);
  }
  return arrays_of(g);
}

py::tuple with_grad(RowLoss loss, const py::sequence& inputs, const py::handle& target, const py::handle& weight,
                    const std::string& reduction, double margin, int margin_p, double norm_p, double eps, bool swap,
                    const py::handle& out) {
  Prepared p;
  prepare(p, loss, inputs, target, weight, reduction, options(margin, margin_p, norm_p, eps, swap));
  Gradients g;
  gradients(g, p, out, nullptr);
  FloatArray loss_values;
  if (p.reduction == Reduction::kNone) loss_values = new_array(p.loss_shape, p.call.dtype);
  double value;
  {
    py::gil_scoped_release release;
    value = row_loss_forward_backward(p.call, p.reduction, g.views,
                                      loss_values.present() ? loss_view(loss_values) : MutableRowVector{});
  }
  py::object loss_obj = p.reduction == Reduction::kNone ? py::object(loss_values.array) : numpy_scalar(value, p.call.dtype);
  return py::make_tuple(loss_obj) + arrays_of(g);
}

}  // namespace

void register_row_losses(py::module_& m) {
  py::native_enum<RowLoss> losses(m, "RowLoss", "enum.Enum", "The row-wise losses.");
  losses.value("cosine_embedding_loss", RowLoss::kCosineEmbedding)
      .value("multi_margin_loss", RowLoss::kMultiMargin)
      .value("triplet_margin_loss", RowLoss::kTripletMargin)
      .finalize();
  m.def("row_loss_forward", &forward, py::arg("loss"), py::arg("inputs"), py::arg("target") = py::none(),
        py::arg("weight") = py::none(), py::arg("reduction") = "mean", py::arg("margin") = 0.0,
        py::arg("margin_p") = 1, py::arg("norm_p") = 2.0, py::arg("eps") = 1e-6, py::arg("swap") = false,
        "Loss value: a NumPy scalar for 'mean'/'sum', an array for 'none'.");
  m.def("row_loss_backward", &backward, py::arg("loss"), py::arg("grad_output"), py::arg("inputs"),
        py::arg("target") = py::none(), py::arg("weight") = py::none(), py::arg("reduction") = "mean",
        py::arg("margin") = 0.0, py::arg("margin_p") = 1, py::arg("norm_p") = 2.0, py::arg("eps") = 1e-6,
        py::arg("swap") = false, py::arg("out") = py::none(),
        "Gradients with respect to every input; out (for the first) may be the first input itself.");
  m.def("row_loss_with_grad", &with_grad, py::arg("loss"), py::arg("inputs"), py::arg("target") = py::none(),
        py::arg("weight") = py::none(), py::arg("reduction") = "mean", py::arg("margin") = 0.0,
        py::arg("margin_p") = 1, py::arg("norm_p") = 2.0, py::arg("eps") = 1e-6, py::arg("swap") = false,
        py::arg("out") = py::none(),
        "(loss, *gradients) in one pass; out (for the first gradient) may be the first input itself.");
}

}  // namespace bindings
}  // namespace fastloss
