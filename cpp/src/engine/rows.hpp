// The row engine: the walker under the class losses, softmax and the row-wise losses.
//
// Operands are rows of `length` elements laid over a row shape (any number of dimensions, any
// strides, 0 along broadcast dimensions). Rows are cut into chunks of about kTileElements
// elements, whose boundaries depend only on the row count and length; each chunk's rows are
// handed to a per-target kernel (kernels/row_abi.hpp) as contiguous rows: in place where
// their element stride is 1, else gathered into a per-thread tile and, for outputs,
// scattered back, so extra memory is O(threads x tile), never O(rows x length). Per-row
// operands (class indices, labels, grad_output) are read into float64/int64 arrays beside
// them. Operands stored otherwise than as the pass's type (integer or bool labels, float16 or
// bfloat16 under float32 passes: their views' `stored`) are always staged: converted into the
// tile as they are gathered, and half outputs rounded once, to nearest even, as they are
// scattered. Row losses are summed in float64 chunk by chunk and the chunks in index order:
// the total is bitwise identical for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fastloss/array.hpp"
#include "engine/labels.hpp"
#include "fastloss/half.hpp"
#include "fastloss/threading.hpp"
#include "kernels/row_abi.hpp"
#include "parallel.hpp"

namespace fastloss {
namespace rows {

// One pass over the rows: what it reads and writes. Float operands have the pass's type T or
// are stored as their views say (labels; half precision when T is float).
struct Pass {
  RowShape shape;
  RowView in[kernel_abi::kRowOperands];
  // Inputs of type T that are read in place even when strided (the kernel follows in_stride).
  bool unstaged[kernel_abi::kRowOperands] = {};
  // Contiguous half-precision rows of in[0] are left to the kernel to widen into the tile
  // (kernel_abi::DeferredRows): the class kernels do, overlapping the conversion with their
  // log-sum-exp.
  bool kernel_widens_in0 = false;
  MutableRowView out[kernel_abi::kRowOperands];
  ConstView index;  // per-row class indices
  RowView class_rows;  // per-row lists of class indices (rows of `length`)
  IndexDType index_dtype = IndexDType::kInt64;  // of index and class_rows
  ConstView label;        // per-row labels
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
  std::vector<char*> out_home[kernel_abi::kRowOperands];  // where staged output rows go
  std::vector<T> tiles, work;
  std::vector<int64_t> offsets, index, class_tile;
  std::vector<const int64_t*> class_rows;
  std::vector<double> label, scale, loss, kernel;
  std::vector<uint16_t> halves;  // half-precision elements between memory and conversion
  std::vector<float> widened;
  std::vector<const uint16_t*> deferred_stored;
  std::vector<T*> deferred_tile;
};

// Half-precision storage comes with float32 passes only (the bindings' dtype rule).
inline void widen(LabelDType stored, const uint16_t* in, float* out, int64_t n) { half_to_float(stored, in, out, n); }
inline void widen(LabelDType, const uint16_t*, double*, int64_t) {
  throw std::logic_error("half-precision operands are computed in float32");
}
inline void narrow(LabelDType stored, const float* in, uint16_t* out, int64_t n) { float_to_half(stored, in, out, n); }
inline void narrow(LabelDType, const double*, uint16_t*, int64_t) {
  throw std::logic_error("half-precision results are computed in float32");
}

// dst[c] = the c-th of n elements `stride` apart at `from` (stored as `stored`), as T.
template <class T>
void read_stored(LabelDType stored, const void* from, int64_t stride, int64_t n, T* dst,
                 std::vector<uint16_t>& halves) {
  if (stored == LabelDType::kFloat) {
    const T* v = static_cast<const T*>(from);
    for (int64_t c = 0; c < n; ++c) dst[c] = v[c * stride];
  } else if (!is_half(stored)) {
    read_labels(stored, from, stride, n, dst);
  } else if (stride == 1) {
    widen(stored, static_cast<const uint16_t*>(from), dst, n);
  } else {
    halves.resize(static_cast<size_t>(n));
    const uint16_t* v = static_cast<const uint16_t*>(from);
    for (int64_t c = 0; c < n; ++c) halves[c] = v[c * stride];
    widen(stored, halves.data(), dst, n);
  }
}

// A per-row operand's values at rows first..first+count-1 as float64 (to[i]): of type T, or
// stored as its view says (labels, half precision), converted a chunk at a time.
template <class T>
void read_per_row(const Shape& rows, const ConstView& view, int64_t first, int64_t count, int64_t* offsets,
                  ChunkScratch<T>& s, double* to) {
  const LabelDType stored = view.stored;
  if (stored == LabelDType::kFloat) {
    const T* v = static_cast<const T*>(view.data);
    for_each_row(rows, view.strides, first, count, offsets,
                 [&](int64_t i, int64_t offset) { to[i] = static_cast<double>(v[offset]); });
  } else if (!is_half(stored)) {
    const int bytes = label_size(stored, DType::kFloat32);
    const char* v = static_cast<const char*>(view.data);
    for_each_row(rows, view.strides, first, count, offsets,
                 [&](int64_t i, int64_t offset) { read_labels(stored, v + offset * bytes, 1, 1, &to[i]); });
  } else {
    s.halves.resize(static_cast<size_t>(count));
    s.widened.resize(static_cast<size_t>(count));
    const uint16_t* v = static_cast<const uint16_t*>(view.data);
    for_each_row(rows, view.strides, first, count, offsets, [&](int64_t i, int64_t offset) { s.halves[i] = v[offset]; });
    half_to_float(stored, s.halves.data(), s.widened.data(), count);
    for (int64_t i = 0; i < count; ++i) to[i] = static_cast<double>(s.widened[i]);
  }
}

template <class T>
ChunkScratch<T>& thread_scratch() {
  thread_local ChunkScratch<T> scratch;
  return scratch;
}

// Writes the chunk's row losses (s.loss) to the per-row operand `view`, as T or rounded to its
// half-precision storage.
template <class T>
void write_per_row(const Shape& rows, const MutableView& view, int64_t first, int64_t count, int64_t* offsets,
                   ChunkScratch<T>& s) {
  const double* loss = s.loss.data();
  if (!is_half(view.stored)) {
    T* to = static_cast<T*>(view.data);
    for_each_row(rows, view.strides, first, count, offsets,
                 [&](int64_t i, int64_t offset) { to[offset] = static_cast<T>(loss[i]); });
    return;
  }
  s.widened.resize(static_cast<size_t>(count));
  s.halves.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) s.widened[i] = static_cast<float>(loss[i]);
  float_to_half(view.stored, s.widened.data(), s.halves.data(), count);
  uint16_t* to = static_cast<uint16_t*>(view.data);
  for_each_row(rows, view.strides, first, count, offsets, [&](int64_t i, int64_t offset) { to[offset] = s.halves[i]; });
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
    const bool in_stored = pass.in[k].rows.stored != LabelDType::kFloat;
    staged[k] = pass.in[k].present() && (in_stored || (!pass.unstaged[k] && pass.in[k].elem_stride != 1));
    staged[kOperands + k] =
        pass.out[k].present() && (pass.out[k].elem_stride != 1 || pass.out[k].rows.stored != LabelDType::kFloat);
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
          const LabelDType stored = in.rows.stored;
          const int bytes = label_size(stored, sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64);
          const bool deferred = k == 0 && pass.kernel_widens_in0 && is_half(stored) && in.elem_stride == 1;
          if (deferred) {
            s.deferred_stored.resize(n);
            s.deferred_tile.resize(n);
            block.deferred = kernel_abi::DeferredRows<T>{s.deferred_stored.data(), s.deferred_tile.data(), stored};
          }
          for_each_row(row_shape, in.rows.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
            T* copy = tile(k) + i * length;
            const char* row = static_cast<const char*>(in.rows.data) + offset * bytes;
            if (deferred) {
              s.deferred_stored[i] = reinterpret_cast<const uint16_t*>(row);
              s.deferred_tile[i] = copy;
            } else {
              read_stored(stored, row, in.elem_stride, length, copy, s.halves);
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
        if (!staged[kOperands + k]) {
          T* base = static_cast<T*>(out.rows.data);
          for_each_row(row_shape, out.rows.strides, first, count, offsets,
                       [&](int64_t i, int64_t offset) { rows_k[i] = base + offset; });
        } else {
          s.out_home[k].resize(n);
          char** home = s.out_home[k].data();
          char* base = static_cast<char*>(out.rows.data);
          const int64_t bytes = is_half(out.rows.stored) ? 2 : static_cast<int64_t>(sizeof(T));
          T* staged_rows = tile(kOperands + k);
          for_each_row(row_shape, out.rows.strides, first, count, offsets, [&](int64_t i, int64_t offset) {
            home[i] = base + offset * bytes;
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
      read_per_row(row_shape, pass.label, first, count, offsets, s, s.label.data());
      block.label = s.label.data();
    }
    if (has_outputs) {
      if (pass.grad_output.present()) {
        read_per_row(row_shape, pass.grad_output, first, count, offsets, s, s.scale.data());
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
      const int64_t stride = pass.out[k].elem_stride;
      const T* from = tile(kOperands + k);
      const LabelDType stored = pass.out[k].rows.stored;
      if (stored == LabelDType::kFloat) {
        // Element by element: the rows' writes to one element index share a cache line.
        for (int64_t c = 0; c < length; ++c)
          for (int64_t i = 0; i < count; ++i) reinterpret_cast<T*>(s.out_home[k][i])[c * stride] = from[i * length + c];
        continue;
      }
      // Half rows rounded as a block, in place where contiguous.
      s.halves.resize(static_cast<size_t>(length));
      for (int64_t i = 0; i < count; ++i) {
        uint16_t* home = reinterpret_cast<uint16_t*>(s.out_home[k][i]);
        narrow(stored, from + i * length, stride == 1 ? home : s.halves.data(), length);
        if (stride != 1)
          for (int64_t c = 0; c < length; ++c) home[c * stride] = s.halves[c];
      }
    }
    if (pass.loss_out.present()) write_per_row(row_shape, pass.loss_out, first, count, offsets, s);
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
