#include "arrays.hpp"

#include <algorithm>

namespace fastloss {
namespace bindings {
namespace {

std::string type_description(const py::handle& obj) {
  if (py::isinstance<py::array>(obj)) {
    return "numpy.ndarray of dtype " + py::str(py::reinterpret_borrow<py::array>(obj).dtype()).cast<std::string>();
  }
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// [lowest, highest) byte addresses an array touches; empty arrays touch nothing.
std::pair<uintptr_t, uintptr_t> byte_span(const FloatArray& a) {
  uintptr_t lo = reinterpret_cast<uintptr_t>(a.data());
  uintptr_t hi = lo;
  const int64_t item = dtype_size(a.dtype);
  for (size_t d = 0; d < a.shape.size(); ++d) {
    if (a.shape[d] == 0) return {0, 0};
    const int64_t extent = (a.shape[d] - 1) * a.strides[d] * item;
    if (extent < 0) lo += extent; else hi += extent;
  }
  return {lo, hi + static_cast<uintptr_t>(item)};
}

bool overlaps(const FloatArray& a, const FloatArray& b) {
  const auto sa = byte_span(a), sb = byte_span(b);
  return sa.first < sb.second && sb.first < sa.second;
}

bool same_view(const FloatArray& a, const FloatArray& b) {
  return a.data() == b.data() && a.shape == b.shape && a.strides == b.strides && a.dtype == b.dtype;
}

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::kFloat32 ? "float32" : "float64"; }

FloatArray float_array(const py::handle& obj, const char* name, bool allow_none) {
  FloatArray a;
  if (obj.is_none() && allow_none) return a;
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of float32 or float64, got " +
                         type_description(obj));
  }
  a.array = py::reinterpret_borrow<py::array>(obj);
  a.valid = true;
  const py::dtype dt = a.array.dtype();
  const char kind = dt.kind();
  const bool native = dt.attr("isnative").cast<bool>();
  if (kind != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8) || !native) {
    throw py::type_error(std::string(name) +
                         " must be a numpy.ndarray of float32 or float64 (native byte order), got " +
                         type_description(obj));
  }
  a.dtype = dt.itemsize() == 4 ? DType::kFloat32 : DType::kFloat64;
  const int64_t item = dt.itemsize();
  const int nd = static_cast<int>(a.array.ndim());
  bool whole_elements = true;
  for (int d = 0; d < nd; ++d) whole_elements = whole_elements && a.array.strides(d) % item == 0;
  if (!whole_elements) {
    // Strides that are not whole elements (fields of a structured array): the one case that
    // is copied, since no element-strided view can describe it.
    a.array = py::reinterpret_steal<py::array>(
        py::module_::import("numpy").attr("ascontiguousarray")(a.array).release());
  }
  for (int d = 0; d < nd; ++d) {
    a.shape.push_back(a.array.shape(d));
    a.strides.push_back(a.array.strides(d) / item);
  }
  return a;
}

void require_dtype(const FloatArray& a, DType expected, const char* name) {
  if (a.dtype != expected) {
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name(expected) +
                         " (the input's dtype), got " + dtype_name(a.dtype));
  }
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::vector<int64_t> broadcast_strides(const FloatArray& a, const std::vector<int64_t>& shape,
                                       const char* name) {
  const size_t nd = shape.size();
  if (a.shape.size() > nd) {
    throw py::value_error(std::string(name) + " of shape " + shape_str(a.shape) +
                          " cannot be broadcast to shape " + shape_str(shape));
  }
  std::vector<int64_t> strides(nd, 0);
  const size_t offset = nd - a.shape.size();
  for (size_t d = 0; d < a.shape.size(); ++d) {
    const int64_t extent = a.shape[d];
    if (extent == shape[offset + d]) {
      strides[offset + d] = a.strides[d];
    } else if (extent != 1) {
      throw py::value_error(std::string(name) + " of shape " + shape_str(a.shape) +
                            " cannot be broadcast to shape " + shape_str(shape));
    }
  }
  return strides;
}

std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const char* a_name,
                                      const std::vector<int64_t>& b, const char* b_name) {
  const size_t nd = std::max(a.size(), b.size());
  std::vector<int64_t> out(nd, 1);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t ea = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    const int64_t eb = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (ea != eb && ea != 1 && eb != 1) {
      throw py::value_error(std::string(b_name) + " of shape " + shape_str(b) + " cannot be broadcast against " +
                            a_name + " of shape " + shape_str(a));
    }
    out[i] = ea == 1 ? eb : ea;
  }
  return out;
}

FloatArray new_array(const std::vector<int64_t>& shape, DType dtype) {
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  py::array arr = dtype == DType::kFloat32 ? py::array(py::array_t<float>(dims))
                                           : py::array(py::array_t<double>(dims));
  return float_array(arr, "out");
}

FloatArray output_array(const py::handle& out, const std::vector<int64_t>& shape, DType dtype,
                        const std::vector<const FloatArray*>& inputs, const FloatArray* may_alias) {
  if (out.is_none()) return new_array(shape, dtype);
  FloatArray o = float_array(out, "out");
  require_dtype(o, dtype, "out");
  if (o.shape != shape) {
    throw py::value_error("out must have shape " + shape_str(shape) + ", got " + shape_str(o.shape));
  }
  if (!o.array.writeable()) throw py::value_error("out must be writeable (got a read-only array)");
  for (const FloatArray* in : inputs) {
    if (in == nullptr || !in->present()) continue;
    if (may_alias != nullptr && in == may_alias && same_view(o, *in)) continue;
    if (overlaps(o, *in)) {
      throw py::value_error(
          "out overlaps an operand it would overwrite; only out=input (the very same array) is "
          "supported for an in-place gradient");
    }
  }
  return o;
}

double real_scalar(const py::handle& obj, const char* name) {
  if (!py::hasattr(obj, "__float__")) {
    throw py::type_error(std::string(name) + " must be a real number, got " + type_description(obj));
  }
  return py::reinterpret_borrow<py::object>(obj).attr("__float__")().cast<double>();
}

py::object numpy_scalar(double value, DType dtype) {
  return py::module_::import("numpy").attr(dtype_name(dtype))(value);
}

Reduction parse_reduction(const std::string& reduction) {
  if (reduction == "none") return Reduction::kNone;
  if (reduction == "mean") return Reduction::kMean;
  if (reduction == "sum") return Reduction::kSum;
  throw py::value_error(reduction + " is not a valid value for reduction");
}

}  // namespace bindings
}  // namespace fastloss
