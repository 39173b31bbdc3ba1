// Strided operands over one shape: dimension coalescing and blockwise gather/scatter.
//
// A contiguous operand is read where it lies. A strided or broadcast one is copied one
// chunk at a time into a small per-thread buffer (never a full-size copy), so the
// per-target kernels only ever see contiguous blocks.
#pragma once

#include <cstdint>
#include <vector>

#include "fastloss/array.hpp"

namespace fastloss {
namespace strided {

// NumPy's limit on dimensions.
inline constexpr int kMaxDims = 64;

class Layout {
 public:
  // strides[k] holds operand k's element strides over `shape`, or is null when the
  // operand is absent. Dimensions are merged wherever every present operand allows it.
  Layout(const Shape& shape, int operands, const int64_t* const* strides);

  int64_t numel() const { return numel_; }

  // True when operand k's elements, in C order, are one contiguous run from its base (also
  // when other operands broadcast and keep the dimensions apart).
  bool contiguous(int k) const { return period(k) == numel_; }

  // P when operand k's element i is base[i % P]: stride 0 over the leading dimensions,
  // contiguous over the others (a (C,) operand over (N, C) data: P = C); numel() when it is
  // contiguous; 0 when its elements follow no such pattern.
  int64_t period(int k) const;

  // Copies elements [start, start + count) of operand k, in C order, to dst (elements of 1,
  // 2, 4 or 8 bytes).
  void gather(int k, const void* base, int elem_size, int64_t start, int64_t count,
              void* dst) const;
  // Copies src to elements [start, start + count) of operand k (elements of 2, 4 or 8 bytes).
  void scatter(int k, void* base, int elem_size, int64_t start, int64_t count,
               const void* src) const;

 private:
  template <class Word, bool kToOperand>
  void walk(int k, Word* base, int64_t start, int64_t count, Word* buffer) const;

  int64_t numel_ = 1;
  std::vector<int64_t> extents_;
  std::vector<std::vector<int64_t>> strides_;  // [operand][dim], empty for absent operands
};

}  // namespace strided
}  // namespace fastloss
