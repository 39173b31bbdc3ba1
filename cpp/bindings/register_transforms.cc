// Bindings of the array transforms: the unary math functions (sigmoid, log_sigmoid, ...) and
// softmax / log_softmax along a dimension, and their gradients (sigmoid_backward,
// log_sigmoid_backward, softmax_backward). out may be the input (for a gradient: grad_output)
// itself.
#include "pybind.hpp"

#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/class_losses.hpp"
#include "fastloss/unary.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

py::object apply_unary(UnaryOp op, const py::handle& x, const py::handle& out) {
  const FloatArray in = storage_array(x, "input");
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in, &in);
  {
    py::gil_scoped_release release;  // pure C++ over buffers kept alive above
    unary(op, in.dtype, Shape{static_cast<int>(in.shape.size()), in.shape.data()}, in.view(), result.mutable_view());
  }
  return result.finish();
}

const char* backward_operand(UnaryBackwardOp op) {
  switch (op) {
#define FASTLOSS_OPERAND_CASE(name, operand) \
  case UnaryBackwardOp::name:                \
    return operand;
    FASTLOSS_UNARY_BACKWARD_OPS(FASTLOSS_OPERAND_CASE)
#undef FASTLOSS_OPERAND_CASE
    default:
      return "input";
  }
}

// grad_output and the op's operand broadcast against each other, as torch's binary ops.
py::object apply_unary_backward(UnaryBackwardOp op, const py::handle& grad_output, const py::handle& value,
                                const py::handle& out) {
  const char* name = backward_operand(op);
  const FloatArray go = storage_array(grad_output, "grad_output");
  const FloatArray v = operand_array(value, name, go, false, "grad_output's");
  const std::vector<int64_t> shape = broadcast_shapes(go.shape, "grad_output", v.shape, name);
  const std::vector<int64_t> go_strides = broadcast_strides(go, shape, "grad_output");
  const std::vector<int64_t> v_strides = broadcast_strides(v, shape, name);
  FloatArray result = output_array(out, shape, go.dtype, {&go, &v}, &go, &go);
  {
    py::gil_scoped_release release;
    unary_backward(op, go.dtype, Shape{static_cast<int>(shape.size()), shape.data()},
                   ConstView{go.data(), go_strides.data(), go.label}, ConstView{v.data(), v_strides.data(), v.label},
                   result.mutable_view());
  }
  return result.finish();
}

// output_array's checks of `out` for a result of the input's shape and dtype that Python
// computes itself (a gradient summed back over the dimensions the input was broadcast along):
// out may be the input itself but must overlap none of `operands`.
void check_out(const py::handle& out, const py::handle& input, const py::sequence& operands) {
  const FloatArray in = storage_array(input, "input");
  std::vector<FloatArray> others;
  for (const py::handle operand : operands) {
    if (!py::isinstance<py::array>(operand)) continue;
    FloatArray a;
    a.array = py::reinterpret_borrow<py::array>(operand);
    a.valid = true;
    others.push_back(a);
  }
  std::vector<const FloatArray*> reads{&in};
  for (const FloatArray& a : others) reads.push_back(&a);
  output_array(out, in.shape, in.dtype, reads, &in, &in);
}

// Arrays of one shape seen as rows along dimension `dim` (torch's range check and message);
// a 0-d array is one row of one element, as torch treats it.
class SoftmaxRows {
 public:
  SoftmaxRows(const std::vector<int64_t>& shape, int64_t dim) : shape_(shape) {
    const int64_t nd = static_cast<int64_t>(shape.size());
    const int64_t lo = nd == 0 ? -1 : -nd, hi = nd == 0 ? 0 : nd - 1;
    if (dim < lo || dim > hi) {
      throw py::index_error("Dimension out of range (expected to be in range of [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], but got " + std::to_string(dim) + ")");
    }
    scalar_ = nd == 0;
    axis_ = scalar_ ? 0 : static_cast<size_t>(dim < 0 ? dim + nd : dim);
    rows_ = scalar_ ? std::vector<int64_t>{} : without_axis(shape, axis_);
  }

  RowShape shape() const {
    return RowShape{Shape{static_cast<int>(rows_.size()), rows_.data()}, scalar_ ? 1 : shape_[axis_]};
  }

  // `a`'s row view (the row strides stay alive with this object).
  RowView view(const FloatArray& a) {
    const size_t k = keep(a);
    return RowView{ConstView{a.data(), strides_[k].data(), a.label}, scalar_ ? 1 : a.strides[axis_]};
  }
  MutableRowView mutable_view(FloatArray& a) {
    const size_t k = keep(a);
    return MutableRowView{MutableView{a.array.mutable_data(), strides_[k].data(), a.label},
                          scalar_ ? 1 : a.strides[axis_]};
  }

 private:
  size_t keep(const FloatArray& a) {
    strides_.push_back(scalar_ ? std::vector<int64_t>{} : without_axis(a.strides, axis_));
    return strides_.size() - 1;
  }

  std::vector<int64_t> shape_, rows_;
  std::vector<std::vector<int64_t>> strides_;
  size_t axis_ = 0;
  bool scalar_ = false;
};

// softmax (log_softmax) of `in` into `result` (which may be `in`).
void run_softmax(SoftmaxRows& rows, const FloatArray& in, FloatArray& result, bool log) {
  const RowView x = rows.view(in);
  const MutableRowView y = rows.mutable_view(result);
  py::gil_scoped_release release;
  softmax(in.dtype, rows.shape(), x, y, log);
}

// With `dtype` (None, or float32/float64 as Python checked it) other than the input's, the
// input (any real NumPy array) is cast into the result first, as torch's softmax(dtype=)
// casts before the op, and the softmax runs there in place.
py::object apply_softmax(const py::handle& x, int64_t dim, bool log, const py::handle& dtype, const py::handle& out) {
  if (!dtype.is_none() && py::isinstance<py::array>(x)) {
    const DType want = py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype)).itemsize() == 4
                           ? DType::kFloat32
                           : DType::kFloat64;
    const py::array source = py::reinterpret_borrow<py::array>(x);
    const char kind = source.dtype().kind();
    const bool same = kind == 'f' && source.itemsize() == dtype_size(want);
    if (!same) {
      if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        throw py::type_error(std::string("input must be a numpy.ndarray of real numbers to cast to ") +
                             dtype_name(want) + ", got dtype " + py::str(source.dtype()).cast<std::string>());
      }
      FloatArray original;  // for out's overlap check only
      original.array = source;
      original.valid = true;
      const std::vector<int64_t> shape(source.shape(), source.shape() + source.ndim());
      SoftmaxRows rows(shape, dim);  // the range check before any write
      FloatArray result = output_array(out, shape, want, {&original}, nullptr);
      py::module_::import("numpy").attr("copyto")(result.array, source);
      run_softmax(rows, result, result, log);
      return result.finish();
    }
  }
  const FloatArray in = storage_array(x, "input");
  SoftmaxRows rows(in.shape, dim);
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in, &in);
  run_softmax(rows, in, result, log);
  return result.finish();
}

// The gradient of softmax (log_softmax) along `dim` from grad_output and the forward's output
// (same shape and dtype); out may be grad_output.
py::object apply_softmax_backward(const py::handle& grad_output, const py::handle& output, int64_t dim, bool log,
                                  const py::handle& out) {
  const FloatArray go = storage_array(grad_output, "grad_output");
  const FloatArray y = operand_array(output, "output", go, false, "grad_output's");
  if (y.shape != go.shape) {
    throw py::value_error("output of shape " + shape_str(y.shape) + " must have grad_output's shape " +
                          shape_str(go.shape));
  }
  SoftmaxRows rows(go.shape, dim);
  FloatArray result = output_array(out, go.shape, go.dtype, {&go, &y}, &go, &go);
  const RowView g = rows.view(go), v = rows.view(y);
  const MutableRowView r = rows.mutable_view(result);
  {
    py::gil_scoped_release release;
    softmax_backward(go.dtype, rows.shape(), g, v, r, log);
  }
  return result.finish();
}

}  // namespace

void register_transforms(py::module_& m) {
  py::native_enum<UnaryOp> ops(m, "UnaryOp", "enum.Enum", "Unary array math functions.");
#define FASTLOSS_ENUM_VALUE(name) ops.value(#name, UnaryOp::name);
  FASTLOSS_UNARY_OPS(FASTLOSS_ENUM_VALUE)
#undef FASTLOSS_ENUM_VALUE
  ops.finalize();
  py::native_enum<UnaryBackwardOp> backward_ops(m, "UnaryBackwardOp", "enum.Enum", "Gradients of unary ops.");
#define FASTLOSS_ENUM_VALUE(name, operand) backward_ops.value(#name, UnaryBackwardOp::name);
  FASTLOSS_UNARY_BACKWARD_OPS(FASTLOSS_ENUM_VALUE)
#undef FASTLOSS_ENUM_VALUE
  backward_ops.finalize();
  m.def("unary", &apply_unary, py::arg("op"), py::arg("x"), py::arg("out") = py::none(),
        "op(x) elementwise; out may be x itself.");
  m.def("unary_backward", &apply_unary_backward, py::arg("op"), py::arg("grad_output"), py::arg("value"),
        py::arg("out") = py::none(), "The op's gradient from grad_output and value; out may be grad_output itself.");
  m.def("check_out", &check_out, py::arg("out"), py::arg("input"), py::arg("operands"),
        "ValueError/TypeError unless out can receive a result of the input's shape and dtype (it may be the input, "
        "but overlap none of operands).");
  m.def("softmax", &apply_softmax, py::arg("x"), py::arg("dim"), py::arg("log"), py::arg("dtype") = py::none(),
        py::arg("out") = py::none(), "softmax (or log_softmax) along dim, in dtype; out may be x itself.");
  m.def("softmax_backward", &apply_softmax_backward, py::arg("grad_output"), py::arg("output"), py::arg("dim"),
        py::arg("log"), py::arg("out") = py::none(),
        "The gradient of softmax (or log_softmax) from its output; out may be grad_output itself.");
}

}  // namespace bindings
}  // namespace fastloss
