// The row engine: the walker under the class losses, softmax and the row-wise losses.
//
// Operands are rows of `length` elements laid over a row shape (any number of dimensions, any
// strides, 0 along broadcast dimensions). Rows are cut into chunks of about kTileElements
// elements, whose boundaries depend only on the row count and length; each chunk's rows are
// handed to a per-target kernel (kernels/row_abi.hpp) as contiguous rows: in place where
// their element stride is 1, else gathered into a per-thread tile and, for outputs,
// scattered back, so extra memory is O(threads x tile), never O(rows x length). Per-row
// operands (class indices, labels, grad_output) are read into float64/int64 arrays beside
// them. Row losses are summed in float64 chunk by chunk and the chunks in index order: the
// total is bitwise identical for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastloss/array.hpp"
#include "engine/labels.hpp"
#include "fastloss/threading.hpp"
#include "kernels/row_abi.hpp"
#include "parallel.hpp"

namespace fastloss {
namespace rows {

// One pass over the rows: what it reads and writes. Float operands have the pass's type T.
struct Pass {
  RowShape shape;
  RowView in[kernel_abi::kRowOperands];
  // Inputs that are read in place even when strided (the kernel follows in_stride).
  bool unstaged[kernel_abi::kRowOperands] = {};
  // Each input's dtype: integer or bool labels are converted into the tile as T.
  LabelDType in_labels[kernel_abi::kRowOperands] = {};
  MutableRowView out[kernel_abi::kRowOperands];
  ConstView index;  // per-row class indices
  RowView class_rows;  // per-row lists of class indices (rows of `length`)
  IndexDType index_dtype = IndexDType::kInt64;  // of index and class_rows
  ConstView label;        // per-row labels, of label_dtype
  LabelDType label_dtype = LabelDType::kFloat;
  ConstView grad_output;  // per-row gradient scale; else every row's is `scale`
  double scale = 1.0;
  MutableView loss_out;         // each row's loss
  int64_t scratch_doubles = 0;  // kernel scratch per thread
  int64_t work_elements = 0;    // kernel scratch per thread, in elements of T
};

// Elements per chunk of rows: the tiles of one chunk stay in L2 while they are gathered,
// computed and scattered.
inline constexpr int64_t kTileElements = 16384;

// Rows a task takes at most when nothing is staged: the chunks of long rows hold one row
// each, and a task of many such chunks spreads its fixed costs (offsets, the kernel call)
// over them. Tasks only group chunks: the sums stay per chunk, so results do not depend on it.
inline constexpr int64_t kTaskRows = 256;

inline int64_t rows_per_chunk(int64_t length) {
  return std::max<int64_t>(1, kTileElements / std::max<int64_t>(1, length));
}

// offsets[i] = the element offset of row first + i of an operand with `strides` over `rows`,
// for i < count: a multiply for one row dimension (the common case), the walker otherwise.
void row_offsets(const Shape& rows, const int64_t* strides, int64_t first, int64_t count, int64_t* offsets);

// Calls f(i, offset of row first + i) for i < count. One row dimension (the common case)
// needs no offsets array: a pass that wrote and re-read one cost as much per row as the
// gathers it feeds.
template <class F>
void for_each_row(const Shape& rows, const int64_t* strides, int64_t first, int64_t count, int64_t* offsets, F&& f) {
  if (rows.ndim == 1) {
    const int64_t stride = strides[0];
    const int64_t start = first * stride;
    for (int64_t i = 0; i < count; ++i) f(i, start + i * stride);
    return;
  }
  row_offsets(rows, strides, first, count, offsets);
  for (int64_t i = 0; i < count; ++i) f(i, offsets[i]);
}

// The sum of n row losses in four interleaved float64 partials, combined in a fixed order (so
// it depends on n alone): a single chain of adds cost an add's latency per row.
inline double chunk_sum(const double* loss, int64_t n) {
  double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    p0 += loss[i];
    p1 += loss[i + 1];
    p2 += loss[i + 2];
    p3 += loss[i + 3];
  }
  for (; i < n; ++i) p0 += loss[i];
  return (p0 + p1) + (p2 + p3);
}

// The first index (in index order) that is neither `ignore` nor in [0, classes), and the sum
// of class_weight[index] (1 each without weights) over the others (ignored ones excluded).
// Each row holds `per_row` indices, `elem_stride` apart (a class list); bad_row is then the
// flat position row * per_row + i.
struct IndexScan {
  double weight_sum = 0.0;
  int64_t bad_row = -1;
  int64_t bad_value = 0;
};
template <class T>
IndexScan scan_indices(const Shape& rows, ConstView index, IndexDType dtype, int64_t classes, const int64_t* ignore,
                       const T* class_weight, int64_t per_row = 1, int64_t elem_stride = 1);

// Per-thread buffers of one chunk.
template <class T>
struct ChunkScratch {
  std::vector<const T*> in_rows[kernel_abi::kRowOperands];
  std::vector<T*> out_rows[kernel_abi::kRowOperands];
  std::vector<T*> out_home[kernel_abi::kRowOperands];  // where staged output rows go
  std::vector<T> tiles, work;
  std::vector<int64_t> offsets, index, class_tile;
  std::vector<const int64_t*> class_rows;
  std::vector<double> label, scale, loss, kernel;
};

template <class T>
ChunkScratch<T>& thread_scratch() {
  thread_local ChunkScratch<T> scratch;
  return scratch;
}

// Runs kernel(block) over every chunk of the pass's rows and returns the sum of the row
// losses (the kernel writes them to block.loss): summed chunk by chunk, the chunks in index
// order, as parallel::ordered_sum does.
template <class T, class Kernel>
double run(const Pass& pass, Kernel&& kernel) {
  constexpr int kOperands = kernel_abi::kRowOperands;
  const int64_t length = pass.shape.length;
  const Shape& row_shape = pass.shape.rows;
  const int64_t rows = row_shape.numel();
  const int64_t per_chunk = rows_per_chunk(length);
  const int64_t chunks = parallel::chunk_count(rows, per_chunk);
  const bool has_outputs = pass.out[0].present();
  // Which operands go through a tile: inputs 0..2, outputs 3..5.
  bool staged[2 * kOperands];
  bool any_staged = false;
  for (int k = 0; k < kOperands; ++k) {
    staged[k] = pass.in[k].present() && !pass.unstaged[k] &&
                (pass.in[k].elem_stride != 1 || pass.in_labels[k] != LabelDType::kFloat);
    staged[kOperands + k] = pass.out[k].present() && pass.out[k].elem_stride != 1;
    any_staged = any_staged || staged[k] || staged[kOperands + k];
  }
  // Chunks per task: one when tiles are used (they hold one chunk), else as many as keep
  // kMinChunksPerThread tasks per thread, up to kTaskRows rows.
  const int64_t group =
      any_staged ? 1
                 : std::max<int64_t>(1, std::min<int64_t>(kTaskRows / per_chunk,
                                                          chunks / (parallel::kMinChunksPerThread * get_num_threads())));
  const int64_t tasks = parallel::chunk_count(chunks, group);
  std::vector<double> chunk_sums(static_cast<size_t>(chunks));
  parallel::for_each_chunk(tasks, parallel::threads_for(tasks), [&](int64_t task) {
    const int64_t first_chunk = task * group;
    const int64_t end_chunk = std::min(chunks, first_chunk + group);
    const int64_t first = first_chunk * per_chunk;
    const int64_t count = std::min(end_chunk * per_chunk, rows) - first;
    const size_t n = static_cast<size_t>(count);
    ChunkScratch<T>& s = thread_scratch<T>();
    s.offsets.resize(n);
    s.loss.resize(n);
    s.scale.resize(n);
    s.kernel.resize(static_cast<size_t>(pass.scratch_doubles));
    const size_t tile_size = n * static_cast<size_t>(length);
    if (any_staged && s.tiles.size() < 2 * kOperands * tile_size) s.tiles.resize(2 * kOperands * tile_size);
    const auto tile = [&](int slot) { return s.tiles.data() + static_cast<size_t>(slot) * tile_size; };
    int64_t* offsets = s.offsets.data();

    kernel_abi::RowBlock<T> block{};
    block.rows = count;
    block.length = length;
    for (int k = 0; k < kOperands; ++k) {
      const RowView& in = pass.in[k];
      if (in.present()) {
        s.in_rows[k].resize(n);
        const T** rows_k = s.in_rows[k].data();
        const T* base = static_cast<const T*>(in.rows.data);
        if (!staged[k]) {
          for_each_row(row_shape, in.rows.strides, first, count, offsets,
                       [&](int64_t i, int64_t offset) { rows_k[i] = base + offset; });
        } else {
          // Row by row: strided reads of one row fall on cache lines the next rows reuse.
          const LabelDType labels = pass.in_labels[k];
          const int label_bytes = label_size(labels, sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64);
          for_each_row(row_shape, in.rows.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
            T* copy = tile(k) + i * length;
            if (labels == LabelDType::kFloat) {
              const T* row = base + offset;
              for (int64_t c = 0; c < length; ++c) copy[c] = row[c * in.elem_stride];
            } else {
              const char* row = static_cast<const char*>(in.rows.data) + offset * label_bytes;
              read_labels(labels, row, in.elem_stride, length, copy);
            }
            rows_k[i] = copy;
          });
        }
        block.in[k] = rows_k;
        block.in_stride[k] = staged[k] ? 1 : in.elem_stride;
      }
      const MutableRowView& out = pass.out[k];
      if (out.present()) {
        s.out_rows[k].resize(n);
        T** rows_k = s.out_rows[k].data();
        T* base = static_cast<T*>(out.rows.data);
        if (!staged[kOperands + k]) {
          for_each_row(row_shape, out.rows.strides, first, count, offsets,
                       [&](int64_t i, int64_t offset) { rows_k[i] = base + offset; });
        } else {
          s.out_home[k].resize(n);
          T** home = s.out_home[k].data();
          T* staged_rows = tile(kOperands + k);
          for_each_row(row_shape, out.rows.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
            home[i] = base + offset;
            rows_k[i] = staged_rows + i * length;
          });
        }
        block.out[k] = rows_k;
      }
    }
    if (pass.index.present()) {
      s.index.resize(n);
      int64_t* to = s.index.data();
      with_indices(pass.index_dtype, pass.index.data, [&](const auto* index) {
        for_each_row(row_shape, pass.index.strides, first, count, offsets,
                     [&](int64_t i, int64_t offset) { to[i] = index[offset]; });
      });
      block.index = s.index.data();
    }
    if (pass.class_rows.present()) {
      // int64 rows read in place; others or strided ones converted into a tile row by row.
      s.class_rows.resize(n);
      const int64_t stride = pass.class_rows.elem_stride;
      const int64_t** to = s.class_rows.data();
      if (pass.index_dtype == IndexDType::kInt64 && stride == 1) {
        const int64_t* base = static_cast<const int64_t*>(pass.class_rows.rows.data);
        for_each_row(row_shape, pass.class_rows.rows.strides, first, count, offsets,
                     [&](int64_t i, int64_t offset) { to[i] = base + offset; });
      } else {
        s.class_tile.resize(tile_size);
        for_each_row(row_shape, pass.class_rows.rows.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
          int64_t* copy = s.class_tile.data() + i * length;
          with_indices(pass.index_dtype, pass.class_rows.rows.data, [&](const auto* rows) {
            for (int64_t c = 0; c < length; ++c) copy[c] = rows[offset + c * stride];
          });
          to[i] = copy;
        });
      }
      block.class_rows = s.class_rows.data();
    }
    if (pass.label.present()) {
      s.label.resize(n);
      double* to = s.label.data();
      if (pass.label_dtype == LabelDType::kFloat) {
        const T* label = static_cast<const T*>(pass.label.data);
        for_each_row(row_shape, pass.label.strides, first, count, offsets,
                     [&](int64_t i, int64_t offset) { to[i] = static_cast<double>(label[offset]); });
      } else {
        const int label_bytes = label_size(pass.label_dtype, sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64);
        const char* labels = static_cast<const char*>(pass.label.data);
        for_each_row(row_shape, pass.label.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
          read_labels(pass.label_dtype, labels + offset * label_bytes, 1, 1, &to[i]);
        });
      }
      block.label = s.label.data();
    }
    if (has_outputs) {
      if (pass.grad_output.present()) {
        const T* grad_output = static_cast<const T*>(pass.grad_output.data);
        double* to = s.scale.data();
        for_each_row(row_shape, pass.grad_output.strides, first, count, offsets,
                     [&](int64_t i, int64_t offset) { to[i] = static_cast<double>(grad_output[offset]); });
      } else {
        for (int64_t i = 0; i < count; ++i) s.scale[i] = pass.scale;
      }
    }
    block.scale = s.scale.data();
    block.loss = s.loss.data();
    block.scratch = s.kernel.data();
    s.work.resize(static_cast<size_t>(pass.work_elements));
    block.work = s.work.data();
    kernel(block);

    for (int k = 0; k < kOperands; ++k) {
      if (!staged[kOperands + k]) continue;
      // Element by element: the rows' writes to one element index share a cache line.
      const int64_t stride = pass.out[k].elem_stride;
      const T* from = tile(kOperands + k);
      for (int64_t c = 0; c < length; ++c)
        for (int64_t i = 0; i < count; ++i) s.out_home[k][i][c * stride] = from[i * length + c];
    }
    if (pass.loss_out.present()) {
      T* loss_out = static_cast<T*>(pass.loss_out.data);
      const double* loss = s.loss.data();
      for_each_row(row_shape, pass.loss_out.strides, first, count, offsets,
                   [&](int64_t i, int64_t offset) { loss_out[offset] = static_cast<T>(loss[i]); });
    }
    for (int64_t c = first_chunk; c < end_chunk; ++c) {
      const int64_t begin = c * per_chunk - first;
      const int64_t end = std::min((c + 1) * per_chunk, rows) - first;
      chunk_sums[static_cast<size_t>(c)] = chunk_sum(s.loss.data() + begin, end - begin);
    }
  });
  double total = 0.0;
  for (double sum : chunk_sums) total += sum;
  return total;
}

}  // namespace rows
}  // namespace fastloss
