// Bindings of the array transforms: the unary math functions (sigmoid, log_sigmoid, ...) and
// softmax / log_softmax along an axis. out may be the input itself.
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
  const FloatArray in = float_array(x, "input");
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in);
  {
    py::gil_scoped_release release;  // pure C++ over buffers kept alive above
    unary(op, in.dtype, Shape{static_cast<int>(in.shape.size()), in.shape.data()}, in.view(), result.mutable_view());
  }
  return result.finish();
}

py::object apply_softmax(const py::handle& x, int64_t axis, bool log, const py::handle& out) {
  const FloatArray in = float_array(x, "input");
  const int64_t nd = static_cast<int64_t>(in.shape.size());
  const int64_t lo = nd == 0 ? -1 : -nd, hi = nd == 0 ? 0 : nd - 1;
  if (axis < lo || axis > hi) {
    throw py::index_error("Dimension out of range (expected to be in range of [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], but got " + std::to_string(axis) + ")");
  }
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in);
  // A 0-d array is one row of one class, as torch treats it.
  const size_t a = nd == 0 ? 0 : static_cast<size_t>(axis < 0 ? axis + nd : axis);
  const std::vector<int64_t> rows = nd == 0 ? std::vector<int64_t>{} : without_axis(in.shape, a);
  const std::vector<int64_t> in_rows = nd == 0 ? rows : without_axis(in.strides, a);
  const std::vector<int64_t> out_rows = nd == 0 ? rows : without_axis(result.strides, a);
  const RowShape shape{Shape{static_cast<int>(rows.size()), rows.data()}, nd == 0 ? 1 : in.shape[a]};
  {
    py::gil_scoped_release release;
    softmax(in.dtype, shape, RowView{ConstView{in.data(), in_rows.data()}, nd == 0 ? 1 : in.strides[a]},
            MutableRowView{MutableView{result.array.mutable_data(), out_rows.data()}, nd == 0 ? 1 : result.strides[a]},
            log);
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
  m.def("unary", &apply_unary, py::arg("op"), py::arg("x"), py::arg("out") = py::none(),
        "op(x) elementwise; out may be x itself.");
  m.def("softmax", &apply_softmax, py::arg("x"), py::arg("axis"), py::arg("log"), py::arg("out") = py::none(),
        "softmax (or log_softmax) along axis; out may be x itself.");
}

}  // namespace bindings
}  // namespace fastloss
