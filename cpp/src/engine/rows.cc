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

namespace {

// Indices per chunk of the index scan.
constexpr int64_t kScanIndices = 8192;

// The scan of one chunk: `rows` rows from `first` on, each `per_row` indices `elem_stride`
// apart from its offset(r). Arguments by value, so the loop keeps them in registers; rows
// without class weights are counted (exact); the scan stops at the first bad index (the
// call then fails, and the sum is never read). One unweighted index per row (the common
// case) is first counted and checked without branches, a loop that vectorises; only a chunk
// with a bad index is scanned again for the first one.
template <class I, class Offset, class T>
IndexScan scan_chunk(const I* indices, Offset offset, int64_t first, int64_t rows, int64_t per_row,
                     int64_t elem_stride, bool has_ignore, int64_t ignored, int64_t classes, const T* weight) {
  IndexScan scan;
  int64_t counted = 0;
  if (weight == nullptr && per_row == 1) {
    bool bad = false;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = static_cast<int64_t>(indices[offset(r)]);
      const bool skip = has_ignore && t == ignored;
      counted += skip ? 0 : 1;
      bad |= !skip && static_cast<uint64_t>(t) >= static_cast<uint64_t>(classes);
    }
    if (!bad) {
      scan.weight_sum = static_cast<double>(counted);
      return scan;
    }
    counted = 0;
  }
  double weight_sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const I* row = indices + offset(r);
    for (int64_t i = 0; i < per_row; ++i) {
      const int64_t t = static_cast<int64_t>(row[i * elem_stride]);
      if (has_ignore && t == ignored) continue;
      if (t < 0 || t >= classes) {
        scan.bad_row = (first + r) * per_row + i;
        scan.bad_value = t;
        return scan;
      }
      if (weight == nullptr)
        ++counted;
      else
        weight_sum += static_cast<double>(weight[t]);
    }
  }
  scan.weight_sum = weight == nullptr ? static_cast<double>(counted) : weight_sum;
  return scan;
}

}  // namespace

template <class T>
IndexScan scan_indices(const Shape& rows, ConstView index, IndexDType dtype, int64_t classes, const int64_t* ignore,
                       const T* class_weight, int64_t per_row, int64_t elem_stride) {
  const int64_t count = rows.numel();
  const int64_t scan_rows = std::max<int64_t>(1, kScanIndices / std::max<int64_t>(1, per_row));
  const int64_t chunks = parallel::chunk_count(count, scan_rows);
  std::vector<IndexScan> partial(static_cast<size_t>(chunks));
  parallel::for_each_chunk(chunks, parallel::threads_for(chunks), [&](int64_t chunk) {
    const int64_t first = chunk * scan_rows;
    const int64_t last = std::min(count, first + scan_rows);
    // The dtype is chosen once per chunk, not per index; one row dimension needs no offsets.
    partial[static_cast<size_t>(chunk)] = with_indices(dtype, index.data, [&](auto indices) {
      const auto scan = [&](auto start, auto offset) {
        return scan_chunk(start, offset, first, last - first, per_row, elem_stride, ignore != nullptr,
                          ignore != nullptr ? *ignore : 0, classes, class_weight);
      };
      if (rows.ndim == 1) {
        const int64_t stride = index.strides[0];
        return scan(indices + first * stride, [stride](int64_t r) { return r * stride; });
      }
      std::vector<int64_t> offsets(static_cast<size_t>(last - first));
      row_offsets(rows, index.strides, first, last - first, offsets.data());
      const int64_t* at = offsets.data();
      return scan(indices, [at](int64_t r) { return at[r]; });
    });
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

template IndexScan scan_indices<float>(const Shape&, ConstView, IndexDType, int64_t, const int64_t*, const float*,
                                       int64_t, int64_t);
template IndexScan scan_indices<double>(const Shape&, ConstView, IndexDType, int64_t, const int64_t*, const double*,
                                        int64_t, int64_t);

}  // namespace rows
}  // namespace fastloss
