// Plain strided views passed to the core. No ownership, no Python.
#pragma once

#include <cstdint>

namespace fastloss {

enum class DType : int { kFloat32 = 0, kFloat64 = 1 };

inline int dtype_size(DType dtype) { return dtype == DType::kFloat32 ? 4 : 8; }

enum class Reduction : int {
  kNone = 0,
  kMean = 1,
  kSum = 2,
  kBatchMean = 3  // the sum divided by the input's first extent (kl_div's "batchmean")
};

// A reduced loss before its division: the float64 sum of the losses and what the reduction
// divides it by (1 for kSum). Streaming evaluation adds these over batches exactly and
// divides once, so the result over batches is the one-call result over their concatenation.
struct ReducedLoss {
  double sum = 0.0;
  double denominator = 1.0;
  double value() const { return sum / denominator; }
};

// The dtype of an integer operand (class indices): read as it is, never converted. uint8
// because torch takes it for nll_loss's and cross_entropy's targets.
enum class IndexDType : int { kInt32 = 0, kInt64 = 1, kUInt8 = 2 };

// How an operand's elements are stored when not as the call's float type. Labels (a target
// of ±1 or 0/1 labels, or any real target) may be integers or bools; under float32 calls any
// operand of the element engine may also be float16 or bfloat16 (half-precision storage,
// float32 math), and so may its results. The engines read such an operand where it lies and
// convert it to the float type a chunk at a time (never copied whole); half results are
// rounded once, to nearest even, as they are written. NumPy's bool is one byte, 0 or 1.
enum class LabelDType : int { kFloat = 0, kBool, kInt8, kUInt8, kInt16, kInt32, kInt64, kFloat16, kBFloat16 };

inline bool is_half(LabelDType stored) { return stored == LabelDType::kFloat16 || stored == LabelDType::kBFloat16; }

// Bytes per element of an operand stored as `label` in a call of `dtype`.
inline int label_size(LabelDType label, DType dtype) {
  switch (label) {
    case LabelDType::kFloat: return dtype_size(dtype);
    case LabelDType::kBool:
    case LabelDType::kInt8:
    case LabelDType::kUInt8: return 1;
    case LabelDType::kInt16:
    case LabelDType::kFloat16:
    case LabelDType::kBFloat16: return 2;
    case LabelDType::kInt32: return 4;
    case LabelDType::kInt64: break;
  }
  return 8;
}

// A read-only operand laid over the problem's shape: strides are in elements, one per
// dimension of that shape, 0 along broadcast dimensions. data == nullptr means "absent".
// `stored` says how its elements are stored; the element engine honours every LabelDType,
// the other engines take labels through their own arguments and read views as kFloat.
struct ConstView {
  const void* data = nullptr;
  const int64_t* strides = nullptr;
  LabelDType stored = LabelDType::kFloat;
  bool present() const { return data != nullptr; }
};

// A written operand; `stored` as for ConstView (kFloat, kFloat16 or kBFloat16).
struct MutableView {
  void* data = nullptr;
  const int64_t* strides = nullptr;
  LabelDType stored = LabelDType::kFloat;
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

// Rows of `length` elements laid over the row dimensions: the classes of the class losses,
// the last axis of the row-wise losses. For (N, C, d1..dk) class-loss inputs the row
// dimensions are (N, d1..dk); a single row has none.
struct RowShape {
  Shape rows;
  int64_t length = 0;
};

// A row operand: `rows` over the row dimensions (one stride per row dimension, 0 where it
// broadcasts) and `elem_stride` between the elements of a row.
struct RowView {
  ConstView rows;
  int64_t elem_stride = 1;
  bool present() const { return rows.present(); }
};

struct MutableRowView {
  MutableView rows;
  int64_t elem_stride = 1;
  bool present() const { return rows.present(); }
};

}  // namespace fastloss
