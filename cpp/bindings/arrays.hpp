// NumPy arrays as core views: dtype checks, element strides, broadcasting, outputs.
// Nothing here copies array data.
#pragma once

#include "pybind.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "fastloss/array.hpp"

namespace fastloss {
namespace bindings {

// A float32/float64 NumPy array seen as a strided view (strides in elements).
struct FloatArray {
  py::array array;  // keeps the buffer alive (unset when absent)
  bool valid = false;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  bool present() const { return valid; }
  const void* data() const { return array.data(); }
};

const char* dtype_name(DType dtype);

// obj must be a numpy.ndarray of float32 or float64 in native byte order, else TypeError
// naming `name`. None gives an absent FloatArray when allow_none is set.
FloatArray float_array(const py::handle& obj, const char* name, bool allow_none = false);

// TypeError unless a has the dtype `expected` (named after the argument `name`).
void require_dtype(const FloatArray& a, DType expected, const char* name);

// NumPy broadcasting of a (named `name`) onto `shape`: its strides over `shape`, 0 along
// broadcast dimensions. ValueError when it does not broadcast.
std::vector<int64_t> broadcast_strides(const FloatArray& a, const std::vector<int64_t>& shape,
                                       const char* name);

// The broadcast shape of operands `a_name` and `b_name` (ValueError naming both when they do
// not broadcast).
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const char* a_name,
                                      const std::vector<int64_t>& b, const char* b_name);

// A Python real number (or one-element array) passed as `name`; TypeError naming it otherwise.
double real_scalar(const py::handle& obj, const char* name);

// A new C-contiguous array of `shape` and `dtype`.
FloatArray new_array(const std::vector<int64_t>& shape, DType dtype);

// The array to write a result of `shape`/`dtype` into: `out` when given (checked: ndarray,
// exact shape and dtype, writeable, and not overlapping any of `inputs` unless it is exactly
// `may_alias`), else a new array.
FloatArray output_array(const py::handle& out, const std::vector<int64_t>& shape, DType dtype,
                        const std::vector<const FloatArray*>& inputs, const FloatArray* may_alias);

Reduction parse_reduction(const std::string& reduction);

// A reduced loss as a NumPy scalar of `dtype` (summed in float64, rounded once).
py::object numpy_scalar(double value, DType dtype);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace bindings
}  // namespace fastloss
