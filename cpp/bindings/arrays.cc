#include "arrays.hpp"

#include <algorithm>
#include <cstdlib>

namespace fastloss {
namespace bindings {

LabelDType half_storage(const py::dtype& dt) {
  if (dt.itemsize() != 2 || !dt.attr("isnative").cast<bool>()) return LabelDType::kFloat;
  if (dt.kind() == 'f') return LabelDType::kFloat16;
  return dt.attr("name").cast<std::string>() == "bfloat16" ? LabelDType::kBFloat16 : LabelDType::kFloat;
}

namespace {

std::string type_description(const py::handle& obj) {
  if (py::isinstance<py::array>(obj)) {
    return "numpy.ndarray of dtype " + py::str(py::reinterpret_borrow<py::array>(obj).dtype()).cast<std::string>();
  }
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// The array's extents and byte strides.
struct ByteLayout {
  std::vector<int64_t> shape, strides;
  int64_t itemsize;
};

ByteLayout byte_layout(const py::array& a) {
  ByteLayout l{{}, {}, static_cast<int64_t>(a.itemsize())};
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    l.shape.push_back(a.shape(d));
    l.strides.push_back(a.strides(d));
  }
  return l;
}

// [lowest, highest) byte addresses an array touches; empty arrays touch nothing.
std::pair<uintptr_t, uintptr_t> byte_span(const py::array& a) {
  const ByteLayout l = byte_layout(a);
  uintptr_t lo = reinterpret_cast<uintptr_t>(a.data());
  uintptr_t hi = lo;
  for (size_t d = 0; d < l.shape.size(); ++d) {
    if (l.shape[d] == 0) return {0, 0};
    const int64_t extent = (l.shape[d] - 1) * l.strides[d];
    if (extent < 0)
      lo += extent;
    else
      hi += extent;
  }
  return {lo, hi + static_cast<uintptr_t>(l.itemsize)};
}

bool overlaps(const py::array& a, const py::array& b) {
  const auto sa = byte_span(a), sb = byte_span(b);
  return sa.first < sb.second && sb.first < sa.second;
}

bool same_view(const FloatArray& a, const FloatArray& b) {
  return a.data() == b.data() && a.shape == b.shape && a.strides == b.strides && a.dtype == b.dtype &&
         a.label == b.label;
}

// Element offsets past which an exact overlap check enumerates no further.
constexpr int64_t kMaxEnumeratedElements = int64_t{1} << 22;

// Whether two elements of the array share a byte. Sufficient test first: sorted by stride,
// every stride clears the span of the smaller ones (every C, Fortran, sliced or transposed
// layout passes it); a repeated element (stride 0) fails at once; other layouts are
// enumerated. ValueError for an irregular layout too large to enumerate.
bool has_internal_overlap(const ByteLayout& l) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, extent) of extents above 1
  int64_t numel = 1;
  for (size_t d = 0; d < l.shape.size(); ++d) {
    numel *= l.shape[d];
    if (l.shape[d] > 1) dims.emplace_back(std::llabs(l.strides[d]), l.shape[d]);
  }
  if (numel == 0) return false;
  std::sort(dims.begin(), dims.end());
  int64_t span = l.itemsize;
  bool separated = true;
  for (const auto& [stride, extent] : dims) {
    if (stride == 0) return true;
    separated = separated && stride >= span;
    span += (extent - 1) * stride;
  }
  if (separated) return false;
  if (numel > kMaxEnumeratedElements) {
    throw py::value_error("out has a layout too irregular to show that no two of its elements share memory; "
                          "pass an array whose strides do not interleave");
  }
  std::vector<int64_t> offsets{0};
  for (const auto& [stride, extent] : dims) {
    const size_t n = offsets.size();
    for (int64_t i = 1; i < extent; ++i)
      for (size_t k = 0; k < n; ++k) offsets.push_back(offsets[k] + i * stride);
  }
  std::sort(offsets.begin(), offsets.end());
  for (size_t k = 1; k < offsets.size(); ++k)
    if (offsets[k] - offsets[k - 1] < l.itemsize) return true;
  return false;
}

void check_float_dtype(const py::array& a, const py::handle& obj, const char* name) {
  const py::dtype dt = a.dtype();
  const bool native = dt.attr("isnative").cast<bool>();
  if (dt.kind() != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8) || !native) {
    // A half-precision array where a function takes none yet says so.
    const char* why = half_storage(dt) != LabelDType::kFloat
                          ? " (this function takes no float16 or bfloat16 input: its docstring and the README's "
                            "\"Half precision\" say why)"
                          : "";
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of float32 or float64 (native byte order), got " +
                         type_description(obj) + why);
  }
}

bool whole_element_strides(const py::array& a) {
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.strides(d) % a.itemsize() != 0) return false;
  return true;
}

// `a`, or a contiguous copy of it where its strides are not whole elements (a field of a
// structured array), which no element-strided view can describe.
py::array element_strided(const py::array& a) {
  if (whole_element_strides(a)) return a;
  return py::reinterpret_steal<py::array>(py::module_::import("numpy").attr("ascontiguousarray")(a).release());
}

// Shape and element strides of an array whose strides are whole elements.
void set_layout(FloatArray& f) {
  const int64_t item = static_cast<int64_t>(f.array.itemsize());
  f.shape.clear();
  f.strides.clear();
  for (py::ssize_t d = 0; d < f.array.ndim(); ++d) {
    f.shape.push_back(f.array.shape(d));
    f.strides.push_back(f.array.strides(d) / item);
  }
}

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::kFloat32 ? "float32" : "float64"; }

py::object FloatArray::finish() const {
  if (write_back) {
    py::module_::import("numpy").attr("copyto")(write_back, array);
    return write_back;
  }
  return array;
}

FloatArray float_array(const py::handle& obj, const char* name, bool allow_none) {
  FloatArray a;
  if (obj.is_none() && allow_none) return a;
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of float32 or float64, got " +
                         type_description(obj));
  }
  a.array = py::reinterpret_borrow<py::array>(obj);
  check_float_dtype(a.array, obj, name);
  a.valid = true;
  a.dtype = a.array.itemsize() == 4 ? DType::kFloat32 : DType::kFloat64;
  a.array = element_strided(a.array);
  set_layout(a);
  return a;
}

namespace {

// A float16 or bfloat16 array of storage `half`, computed in float32.
FloatArray half_array(const py::handle& obj, LabelDType half) {
  FloatArray a;
  a.array = element_strided(py::reinterpret_borrow<py::array>(obj));
  a.valid = true;
  a.dtype = DType::kFloat32;
  a.label = half;
  set_layout(a);
  return a;
}

// The half-precision storage of obj when it is such an array, kFloat otherwise.
LabelDType half_storage_of(const py::handle& obj) {
  return py::isinstance<py::array>(obj) ? half_storage(py::reinterpret_borrow<py::array>(obj).dtype())
                                        : LabelDType::kFloat;
}

// The dtype an array's elements are stored as, in NumPy's words.
const char* stored_name(const FloatArray& a) {
  switch (a.label) {
    case LabelDType::kFloat16: return "float16";
    case LabelDType::kBFloat16: return "bfloat16";
    default: return dtype_name(a.dtype);
  }
}

}  // namespace

FloatArray storage_array(const py::handle& obj, const char* name) {
  const LabelDType half = half_storage_of(obj);
  return half != LabelDType::kFloat ? half_array(obj, half) : float_array(obj, name);
}

FloatArray operand_array(const py::handle& obj, const char* name, const FloatArray& input, bool allow_none,
                         const char* owner) {
  const LabelDType half = half_storage_of(obj);
  FloatArray a = half != LabelDType::kFloat ? half_array(obj, half) : float_array(obj, name, allow_none);
  if (!a.present()) return a;
  const bool same = a.dtype == input.dtype && a.label == input.label;
  const bool widened = is_half(input.label) && a.dtype == DType::kFloat32 && a.label == LabelDType::kFloat;
  if (!same && !widened) {
    throw py::type_error(std::string(name) + " must have dtype " + stored_name(input) + " (" + owner + " dtype)" +
                         (is_half(input.label) ? " or float32" : "") + ", got " + stored_name(a));
  }
  return a;
}

namespace {

// The LabelDType of an integer or bool NumPy dtype, kFloat for any other.
LabelDType label_dtype_of(const py::dtype& dt) {
  if (!dt.attr("isnative").cast<bool>() && dt.itemsize() > 1) return LabelDType::kFloat;
  if (dt.kind() == 'b') return LabelDType::kBool;
  if (dt.kind() == 'u' && dt.itemsize() == 1) return LabelDType::kUInt8;
  if (dt.kind() != 'i') return LabelDType::kFloat;
  switch (dt.itemsize()) {
    case 1: return LabelDType::kInt8;
    case 2: return LabelDType::kInt16;
    case 4: return LabelDType::kInt32;
    default: return LabelDType::kInt64;
  }
}

}  // namespace

FloatArray label_array(const py::handle& obj, const char* name, const FloatArray& input, const LabelRule& rule) {
  const LabelDType label = py::isinstance<py::array>(obj)
                               ? label_dtype_of(py::reinterpret_borrow<py::array>(obj).dtype())
                               : LabelDType::kFloat;
  if (label == LabelDType::kFloat || !rule.integers) return operand_array(obj, name, input);
  if (label == LabelDType::kBool && !rule.bools)
    throw py::type_error(std::string(rule.bool_message) + " (" + name + " has dtype bool)");
  FloatArray a;
  a.array = element_strided(py::reinterpret_borrow<py::array>(obj));
  a.valid = true;
  a.dtype = input.dtype;
  a.label = label;
  set_layout(a);
  return a;
}

IndexArray index_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of int64, int32 or uint8, got " +
                         type_description(obj));
  }
  IndexArray t;
  t.array = py::reinterpret_borrow<py::array>(obj);
  const py::dtype dt = t.array.dtype();
  const bool native = dt.attr("isnative").cast<bool>();
  const bool uint8 = dt.kind() == 'u' && dt.itemsize() == 1;
  if (!(uint8 || (dt.kind() == 'i' && (dt.itemsize() == 4 || dt.itemsize() == 8))) || !native) {
    throw py::type_error(std::string(name) + " of class indices must have dtype int64, int32 or uint8, got " +
                         py::str(dt).cast<std::string>());
  }
  t.array = element_strided(t.array);
  t.dtype = uint8 ? IndexDType::kUInt8 : dt.itemsize() == 4 ? IndexDType::kInt32 : IndexDType::kInt64;
  for (py::ssize_t d = 0; d < t.array.ndim(); ++d) {
    t.shape.push_back(t.array.shape(d));
    t.strides.push_back(t.array.strides(d) / dt.itemsize());
  }
  return t;
}

void require_dtype(const FloatArray& a, DType expected, const char* name, const char* owner) {
  if (a.dtype != expected) {
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name(expected) + " (" + owner + " dtype), got " +
                         dtype_name(a.dtype));
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

std::string dims_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<int64_t> without_axis(const std::vector<int64_t>& v, size_t axis) {
  std::vector<int64_t> out;
  for (size_t d = 0; d < v.size(); ++d)
    if (d != axis) out.push_back(v[d]);
  return out;
}

std::vector<int64_t> broadcast_strides(const FloatArray& a, const std::vector<int64_t>& shape, const char* name) {
  const size_t nd = shape.size();
  const auto fail = [&] {
    return py::value_error(std::string(name) + " of shape " + shape_str(a.shape) + " cannot be broadcast to shape " +
                           shape_str(shape));
  };
  if (a.shape.size() > nd) throw fail();
  std::vector<int64_t> strides(nd, 0);
  const size_t offset = nd - a.shape.size();
  for (size_t d = 0; d < a.shape.size(); ++d) {
    const int64_t extent = a.shape[d];
    if (extent == shape[offset + d])
      strides[offset + d] = a.strides[d];
    else if (extent != 1)
      throw fail();
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
  FloatArray a;
  a.array = dtype == DType::kFloat32 ? py::array(py::array_t<float>(dims)) : py::array(py::array_t<double>(dims));
  a.valid = true;
  a.dtype = dtype;
  set_layout(a);
  return a;
}

FloatArray new_array_like(const std::vector<int64_t>& shape, const FloatArray& like) {
  if (!is_half(like.label)) return new_array(shape, like.dtype);
  FloatArray a;
  a.array = py::array(like.array.dtype(), std::vector<py::ssize_t>(shape.begin(), shape.end()));
  a.valid = true;
  a.dtype = DType::kFloat32;
  a.label = like.label;
  set_layout(a);
  return a;
}

FloatArray output_array(const py::handle& out, const std::vector<int64_t>& shape, DType dtype,
                        const std::vector<const FloatArray*>& operands, const FloatArray* may_alias,
                        const FloatArray* storage) {
  const bool half = storage != nullptr && is_half(storage->label);
  if (out.is_none()) return half ? new_array_like(shape, *storage) : new_array(shape, dtype);
  if (!py::isinstance<py::array>(out)) {
    throw py::type_error("out must be a numpy.ndarray of float32 or float64, got " + type_description(out));
  }
  const py::array target = py::reinterpret_borrow<py::array>(out);
  FloatArray o;
  if (half) {
    o = operand_array(out, "out", *storage);
  } else {
    check_float_dtype(target, out, "out");
    o.dtype = target.itemsize() == 4 ? DType::kFloat32 : DType::kFloat64;
    require_dtype(o, dtype, "out");
  }
  const ByteLayout layout = byte_layout(target);
  if (layout.shape != shape) {
    throw py::value_error("out must have shape " + shape_str(shape) + ", got " + shape_str(layout.shape));
  }
  if (!target.writeable()) throw py::value_error("out must be writeable (got a read-only array)");
  if (has_internal_overlap(layout)) {
    throw py::value_error("out has elements that share memory: more than one element of the written-to array "
                          "refers to a single memory location; pass an array without repeated elements");
  }
  const bool described = whole_element_strides(target);
  o.array = target;
  o.valid = true;
  o.dtype = dtype;
  if (described) set_layout(o);
  for (const FloatArray* in : operands) {
    if (in == nullptr || !in->present()) continue;
    if (described && may_alias != nullptr && in == may_alias && same_view(o, *in)) continue;
    if (overlaps(target, in->array)) {
      throw py::value_error(
          "out overlaps an operand it would overwrite; only out=input (the very same array) is supported for an "
          "in-place result");
    }
  }
  if (described) return o;
  // No element-strided view describes it (a field of a structured array): compute into a
  // stand-in that finish() copies into it. An operand that was that same field was copied
  // when read (float_array), so out=input stays in place.
  FloatArray stand_in = is_half(o.label) ? new_array_like(shape, o) : new_array(shape, dtype);
  stand_in.write_back = target;
  return stand_in;
}

double real_scalar(const py::handle& obj, const char* name) {
  if (!py::hasattr(obj, "__float__")) {
    throw py::type_error(std::string(name) + " must be a real number, got " + type_description(obj));
  }
  return py::reinterpret_borrow<py::object>(obj).attr("__float__")().cast<double>();
}

py::object numpy_scalar(double value, DType dtype) { return py::module_::import("numpy").attr(dtype_name(dtype))(value); }

}  // namespace bindings
}  // namespace fastloss
