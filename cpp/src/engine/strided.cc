#include "engine/strided.hpp"

#include <algorithm>
#include <stdexcept>

namespace fastloss {
namespace strided {

Layout::Layout(const Shape& shape, int operands, const int64_t* const* strides)
    : strides_(static_cast<size_t>(operands)) {
  if (shape.ndim > kMaxDims) throw std::invalid_argument("too many dimensions");
  // Drop extent-1 dimensions, then merge dimension d into d + 1 wherever every operand's
  // stride allows it (stride[d] == stride[d+1] * extent[d+1]).
  for (int d = 0; d < shape.ndim; ++d) {
    numel_ *= shape.extents[d];
    if (shape.extents[d] == 1) continue;
    bool can_merge = !extents_.empty();
    for (int k = 0; k < operands && can_merge; ++k) {
      if (strides[k] == nullptr) continue;
      can_merge = strides_[static_cast<size_t>(k)].back() == strides[k][d] * shape.extents[d];
    }
    if (can_merge) {
      extents_.back() *= shape.extents[d];
      for (int k = 0; k < operands; ++k) {
        if (strides[k] != nullptr) strides_[static_cast<size_t>(k)].back() = strides[k][d];
      }
    } else {
      extents_.push_back(shape.extents[d]);
      for (int k = 0; k < operands; ++k) {
        if (strides[k] != nullptr) strides_[static_cast<size_t>(k)].push_back(strides[k][d]);
      }
    }
  }
}

int64_t Layout::period(int k) const {
  const auto& s = strides_[static_cast<size_t>(k)];
  int d = static_cast<int>(extents_.size()) - 1;
  int64_t period = 1;
  for (; d >= 0 && s[static_cast<size_t>(d)] == period; --d) period *= extents_[static_cast<size_t>(d)];
  for (; d >= 0; --d) {
    if (s[static_cast<size_t>(d)] != 0) return 0;
  }
  return period;
}

template <class Word, bool kToOperand>
void Layout::walk(int k, Word* base, int64_t start, int64_t count, Word* buffer) const {
  if (count <= 0) return;
  const int nd = static_cast<int>(extents_.size());
  if (nd == 0) {  // a single element
    if (kToOperand)
      *base = *buffer;
    else
      *buffer = *base;
    return;
  }
  const int64_t* stride = strides_[static_cast<size_t>(k)].data();
  const int64_t* extent = extents_.data();
  int64_t index[kMaxDims];
  int64_t offset = 0;
  int64_t rest = start;
  for (int d = nd - 1; d >= 0; --d) {
    index[d] = rest % extent[d];
    rest /= extent[d];
    offset += index[d] * stride[d];
  }
  const int last = nd - 1;
  const int64_t inner_stride = stride[last];
  while (count > 0) {
    const int64_t run = std::min(extent[last] - index[last], count);
    Word* p = base + offset;
    // Unit and zero inner strides (a row of a broadcast (C,) operand, an (N, 1) operand's
    // value repeated along its row) get loops of their own, which the compiler vectorises.
    if (inner_stride == 1) {
      for (int64_t j = 0; j < run; ++j) {
        if (kToOperand)
          p[j] = buffer[j];
        else
          buffer[j] = p[j];
      }
    } else if (!kToOperand && inner_stride == 0) {
      const Word value = *p;
      for (int64_t j = 0; j < run; ++j) buffer[j] = value;
    } else if (kToOperand) {
      for (int64_t j = 0; j < run; ++j) p[j * inner_stride] = buffer[j];
    } else {
      for (int64_t j = 0; j < run; ++j) buffer[j] = p[j * inner_stride];
    }
    buffer += run;
    count -= run;
    index[last] += run;
    offset += run * inner_stride;
    // Carry into outer dimensions.
    for (int d = last; d > 0 && index[d] == extent[d]; --d) {
      offset -= extent[d] * stride[d];
      index[d] = 0;
      ++index[d - 1];
      offset += stride[d - 1];
    }
  }
}

void Layout::gather(int k, const void* base, int elem_size, int64_t start, int64_t count,
                    void* dst) const {
  // Only reads through base; walk is shared with scatter, hence the const_cast. Elements of
  // 1 and 2 bytes are integer or bool labels.
  if (elem_size == 1) {
    walk<uint8_t, false>(k, static_cast<uint8_t*>(const_cast<void*>(base)), start, count, static_cast<uint8_t*>(dst));
  } else if (elem_size == 2) {
    walk<uint16_t, false>(k, static_cast<uint16_t*>(const_cast<void*>(base)), start, count,
                          static_cast<uint16_t*>(dst));
  } else if (elem_size == 4) {
    walk<uint32_t, false>(k, static_cast<uint32_t*>(const_cast<void*>(base)), start, count,
                          static_cast<uint32_t*>(dst));
  } else {
    walk<uint64_t, false>(k, static_cast<uint64_t*>(const_cast<void*>(base)), start, count,
                          static_cast<uint64_t*>(dst));
  }
}

void Layout::scatter(int k, void* base, int elem_size, int64_t start, int64_t count,
                     const void* src) const {
  if (elem_size == 2) {  // half-precision results
    walk<uint16_t, true>(k, static_cast<uint16_t*>(base), start, count,
                         static_cast<uint16_t*>(const_cast<void*>(src)));
  } else if (elem_size == 4) {
    walk<uint32_t, true>(k, static_cast<uint32_t*>(base), start, count,
                         static_cast<uint32_t*>(const_cast<void*>(src)));
  } else {
    walk<uint64_t, true>(k, static_cast<uint64_t*>(base), start, count,
                         static_cast<uint64_t*>(const_cast<void*>(src)));
  }
}

}  // namespace strided
}  // namespace fastloss
