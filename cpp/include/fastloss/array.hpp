// Plain strided views passed to the core. No ownership, no Python.
#pragma once

#include <cstdint>

namespace fastloss {

enum class DType : int { kFloat32 = 0, kFloat64 = 1 };

inline int dtype_size(DType dtype) { return dtype == DType::kFloat32 ? 4 : 8; }

enum class Reduction : int { kNone = 0, kMean = 1, kSum = 2 };

// A read-only operand laid over the problem's shape: strides are in elements, one per
// dimension of that shape, 0 along broadcast dimensions. data == nullptr means "absent".
struct ConstView {
  const void* data = nullptr;
  const int64_t* strides = nullptr;
  bool present() const { return data != nullptr; }
};

struct MutableView {
  void* data = nullptr;
  const int64_t* strides = nullptr;
  bool present() const { return data != nullptr; }
};

// The common shape every operand of an elementwise call is laid over.
struct Shape {
  int ndim = 0;
  const int64_t* extents = nullptr;
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= extents[d];
    return n;
  }
};

}  // namespace fastloss
