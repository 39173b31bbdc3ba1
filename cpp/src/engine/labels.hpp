// Label operands of integer or bool dtype (LabelDType), read by the engines where they lie
// and converted to the call's float type a block at a time, so no call copies a whole target;
// and class indices (IndexDType), read as their own type.
#pragma once

#include <cstdint>

#include "fastloss/array.hpp"

namespace fastloss {

// dst[i] = labels[i * stride] as T for i < n; integer or bool labels of `type` (the element
// engine converts half-precision storage itself, per target).
template <class T>
void read_labels(LabelDType type, const void* labels, int64_t stride, int64_t n, T* dst) {
  const auto read = [&](const auto* from) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(from[i * stride]);
  };
  switch (type) {
    case LabelDType::kBool:  // NumPy's bool: one byte holding 0 or 1
    case LabelDType::kUInt8: return read(static_cast<const uint8_t*>(labels));
    case LabelDType::kInt8: return read(static_cast<const int8_t*>(labels));
    case LabelDType::kInt16: return read(static_cast<const int16_t*>(labels));
    case LabelDType::kInt32: return read(static_cast<const int32_t*>(labels));
    case LabelDType::kInt64: return read(static_cast<const int64_t*>(labels));
    case LabelDType::kFloat:
    case LabelDType::kFloat16:
    case LabelDType::kBFloat16: break;
  }
}

// f(indices typed as `type`): the type chosen once per block, not per index.
template <class F>
decltype(auto) with_indices(IndexDType type, const void* indices, F&& f) {
  switch (type) {
    case IndexDType::kUInt8: return f(static_cast<const uint8_t*>(indices));
    case IndexDType::kInt32: return f(static_cast<const int32_t*>(indices));
    case IndexDType::kInt64: break;
  }
  return f(static_cast<const int64_t*>(indices));
}

}  // namespace fastloss
