// NumPy arrays as core views: every check of an array argument (type, dtype, byte order,
// shape, broadcasting, `out`) lives here or in a family's register_*.cc, never in Python.
// Nothing here copies array data, except an input whose strides are not whole elements
// (a field of a structured array), which no element-strided view can describe.
#pragma once

#include "pybind.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "fastloss/array.hpp"

namespace fastloss {
namespace bindings {

// A float32/float64 NumPy array seen as a strided view (strides in elements); or, where the
// call takes them, integer or bool labels (label_array) or float16/bfloat16 values
// (storage_array) read as float32.
struct FloatArray {
  py::array array;       // the buffer the core reads or writes (unset when absent)
  py::object write_back;  // the caller's `out` when `array` stands in for it (see output_array)
  bool valid = false;
  DType dtype = DType::kFloat32;
  LabelDType label = LabelDType::kFloat;  // how the elements are stored when not as `dtype`
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  bool present() const { return valid; }
  const void* data() const { return array.data(); }
  MutableView mutable_view() { return MutableView{array.mutable_data(), strides.data(), label}; }
  ConstView view() const { return ConstView{array.data(), strides.data(), label}; }
  // The result to hand back: the caller's `out` (after copying a stand-in into it) or the array.
  py::object finish() const;
};

// Which label dtypes a target may have besides the input's float type (torch's rule for the
// loss), and torch's message for a bool target where it takes integers only.
struct LabelRule {
  bool integers = false;
  bool bools = false;
  const char* bool_message = "";
};

// A target of a float dtype `input` allows (operand_array), or of integer (int8..int64,
// uint8) or bool labels where `rule` allows them, read in place (the engines convert them a
// block at a time): TypeError naming `name` otherwise.
FloatArray label_array(const py::handle& obj, const char* name, const FloatArray& input, const LabelRule& rule);

// torch's messages for a bool target where its formula subtracts or negates the target.
inline constexpr const char* kBoolSubtraction =
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use "
    "the `~` or `logical_not()` operator instead.";
inline constexpr const char* kBoolNegation =
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the "
    "`~` or `logical_not()` operator instead.";

// An int32/int64 NumPy array of class indices, read in place.
struct IndexArray {
  py::array array;
  IndexDType dtype = IndexDType::kInt64;
  std::vector<int64_t> shape, strides;
  ConstView view() const { return ConstView{array.data(), strides.data()}; }
};

const char* dtype_name(DType dtype);

// float16 (NumPy's) or bfloat16 (ml_dtypes', known by its name: fastloss never imports
// ml_dtypes) in native byte order; kFloat for any other dtype.
LabelDType half_storage(const py::dtype& dt);

// obj must be a numpy.ndarray of float32 or float64 in native byte order, else TypeError
// naming `name`. None gives an absent FloatArray when allow_none is set.
FloatArray float_array(const py::handle& obj, const char* name, bool allow_none = false);

// The half-precision rule, for the functions that take float16 and bfloat16 (the elementwise
// losses, sigmoid and log_sigmoid; the element engine converts them a chunk at a time):
// - the input (storage_array) is float32, float64, float16 (NumPy's) or bfloat16 (ml_dtypes',
//   recognised by name so that fastloss never imports ml_dtypes); half inputs compute in float32;
// - every other float operand (operand_array) has the input's dtype, or float32 beside a
//   half input;
// - results are stored as the input (new arrays), or into an `out` of the input's dtype or,
//   beside a half input, float32 (output_array's `storage`).
FloatArray storage_array(const py::handle& obj, const char* name);
FloatArray operand_array(const py::handle& obj, const char* name, const FloatArray& input, bool allow_none = false,
                         const char* owner = "the input's");

// obj must be a numpy.ndarray of int32 or int64 in native byte order, else TypeError naming `name`.
IndexArray index_array(const py::handle& obj, const char* name);

// TypeError unless a has the dtype `expected` (named after the argument `name`), whose
// owner the message names ("the input's" unless told).
void require_dtype(const FloatArray& a, DType expected, const char* name, const char* owner = "the input's");

// NumPy broadcasting of `a` (named `name`) onto `shape`: its strides over `shape`, 0 along
// broadcast dimensions. ValueError when it does not broadcast.
std::vector<int64_t> broadcast_strides(const FloatArray& a, const std::vector<int64_t>& shape, const char* name);

// The broadcast shape of operands `a_name` and `b_name` (ValueError naming both when they do
// not broadcast).
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const char* a_name,
                                      const std::vector<int64_t>& b, const char* b_name);

// A Python real number (or one-element array) passed as `name`; TypeError naming it otherwise.
double real_scalar(const py::handle& obj, const char* name);

// A new C-contiguous array of `shape` and `dtype`.
FloatArray new_array(const std::vector<int64_t>& shape, DType dtype);

// A new C-contiguous array of `shape` stored as `like` is (its NumPy dtype).
FloatArray new_array_like(const std::vector<int64_t>& shape, const FloatArray& like);

// The array to write a result of `shape`/`dtype` into: a new one when `out` is None, else
// `out` itself, checked: an ndarray of exactly that shape and dtype, writeable, no two of its
// elements at one memory location, and overlapping none of `operands` unless it is exactly
// `may_alias` (an in-place result). An `out` whose strides are not whole elements (a field of
// a structured array) is written through a contiguous stand-in that finish() copies into it.
// With a half-precision `storage` (the input) the result is stored as it, and `out` may also
// be float32.
FloatArray output_array(const py::handle& out, const std::vector<int64_t>& shape, DType dtype,
                        const std::vector<const FloatArray*>& operands, const FloatArray* may_alias,
                        const FloatArray* storage = nullptr);

// A reduced loss as a NumPy scalar of `dtype` (summed in float64, rounded once).
py::object numpy_scalar(double value, DType dtype);

// "(2, 3)" and "[2, 3]": shapes in NumPy's and in torch's words.
std::string shape_str(const std::vector<int64_t>& shape);
std::string dims_str(const std::vector<int64_t>& shape);

// `v` without element `axis`.
std::vector<int64_t> without_axis(const std::vector<int64_t>& v, size_t axis);

}  // namespace bindings
}  // namespace fastloss
