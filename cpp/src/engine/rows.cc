#include "engine/rows.hpp"

#include <stdexcept>

namespace fastloss {
namespace rows {
namespace {

// Element offsets of consecutive rows: the first row is decomposed over the row dimensions
// once (seek), then rows are walked in order (next) without a division.
class Walker {
 public:
  explicit Walker(const Shape& rows) : rows_(rows) {
    if (rows.ndim > kMaxDims) throw std::invalid_argument("too many dimensions");
  }
  void seek(int64_t row) {
    for (int d = rows_.ndim - 1; d >= 0; --d) {
      index_[d] = row % rows_.extents[d];
      row /= rows_.extents[d];
    }
  }
  void next() {
    for (int d = rows_.ndim - 1; d >= 0; --d) {
      if (++index_[d] < rows_.extents[d]) return;
      index_[d] = 0;
    }
  }
  int64_t offset(const int64_t* strides) const {
    int64_t off = 0;
    for (int d = 0; d < rows_.ndim; ++d) off += index_[d] * strides[d];
    return off;
  }

 private:
  static constexpr int kMaxDims = 64;  // NumPy's
  Shape rows_;
  int64_t index_[kMaxDims];
};

}  // namespace

void row_offsets(const Shape& rows, const int64_t* strides, int64_t first, int64_t count, int64_t* offsets) {
  if (rows.ndim == 0) {
    for (int64_t i = 0; i < count; ++i) offsets[i] = 0;
  } else if (rows.ndim == 1) {
    const int64_t stride = strides[0];
    for (int64_t i = 0; i < count; ++i) offsets[i] = (first + i) * stride;
  } else {
    Walker walk(rows);
    walk.seek(first);
    for (int64_t i = 0; i < count; ++i, walk.next()) offsets[i] = walk.offset(strides);
  }
}

// Rows per chunk of the index scan.
constexpr int64_t kScanRows = 8192;

template <class T>
IndexScan scan_indices(const Shape& rows, ConstView index, IndexDType dtype, int64_t classes, const int64_t* ignore,
                       const T* class_weight) {
  const int64_t count = rows.numel();
  const int64_t chunks = parallel::chunk_count(count, kScanRows);
  std::vector<IndexScan> partial(static_cast<size_t>(chunks));
  parallel::for_each_chunk(chunks, parallel::threads_for(chunks), [&](int64_t chunk) {
    IndexScan scan;
    const int64_t first = chunk * kScanRows;
    const int64_t last = std::min(count, first + kScanRows);
    std::vector<int64_t> offsets(static_cast<size_t>(last - first));
    row_offsets(rows, index.strides, first, last - first, offsets.data());
    for (int64_t r = first; r < last; ++r) {
      const int64_t offset = offsets[static_cast<size_t>(r - first)];
      const int64_t t = dtype == IndexDType::kInt32 ? static_cast<const int32_t*>(index.data)[offset]
                                                    : static_cast<const int64_t*>(index.data)[offset];
      if (ignore != nullptr && t == *ignore) continue;
      if (t < 0 || t >= classes) {
        if (scan.bad_row < 0) {
          scan.bad_row = r;
          scan.bad_value = t;
        }
        continue;
      }
      scan.weight_sum += class_weight == nullptr ? 1.0 : static_cast<double>(class_weight[t]);
    }
    partial[static_cast<size_t>(chunk)] = scan;
  });
  IndexScan total;
  for (const IndexScan& p : partial) {
    total.weight_sum += p.weight_sum;
    if (total.bad_row < 0) {
      total.bad_row = p.bad_row;
      total.bad_value = p.bad_value;
    }
  }
  return total;
}

template IndexScan scan_indices<float>(const Shape&, ConstView, IndexDType, int64_t, const int64_t*, const float*);
template IndexScan scan_indices<double>(const Shape&, ConstView, IndexDType, int64_t, const int64_t*, const double*);

}  // namespace rows
}  // namespace fastloss
