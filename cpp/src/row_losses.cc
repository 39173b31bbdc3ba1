// Dispatcher of the row-wise losses: layouts, per-row operands, reductions and threads
// around the per-target kernels of kernels/row_kernels.cc.
//
// Work is cut into chunks of whole rows (about kTileElements elements each, a count that
// depends only on the row length). Rows whose element stride is 1 are handed to the kernels
// in place, with their row stride; others are gathered one chunk at a time into a
// per-thread tile and their gradients scattered back the same way: extra memory is
// O(threads x tile), never O(rows x dim).
#include "fastloss/row_losses.hpp"

#include <algorithm>
#include <vector>

#include "kernels/row_abi.hpp"
#include "kernels/target_table.hpp"
#include "parallel.hpp"

namespace fastloss {

// The per-target tables: fastloss::<target>::row_kernels.
#define FASTLOSS_DECLARE_TARGET(ns, enumerator) \
  namespace ns {                                \
  extern const kernel_abi::RowLossKernels row_kernels; \
  }
FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_DECLARE_TARGET)
#undef FASTLOSS_DECLARE_TARGET

namespace {

using kernel_abi::RowBlock;
using kernel_abi::RowKernels;
using kernel_abi::RowOptions;

ByTarget<const kernel_abi::RowLossKernels*> make_tables() {
  ByTarget<const kernel_abi::RowLossKernels*> tables;
#define FASTLOSS_FILL_TARGET(ns, enumerator) \
  tables.entries[static_cast<int>(Target::enumerator)] = &::fastloss::ns::row_kernels;
  FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_FILL_TARGET)
#undef FASTLOSS_FILL_TARGET
  return tables;
}

// Looked up per call (not cached): the active target may be forced between calls.
const kernel_abi::RowLossKernels& active_kernels() {
  static const ByTarget<const kernel_abi::RowLossKernels*> tables = make_tables();
  return *tables.active();
}

template <class T>
const RowKernels<T>& row_kernels();
template <>
const RowKernels<float>& row_kernels<float>() { return active_kernels().f32; }
template <>
const RowKernels<double>& row_kernels<double>() { return active_kernels().f64; }

// Elements per chunk of rows: the tiles of one chunk stay in L2 while they are gathered,
// computed and scattered.
constexpr int64_t kTileElements = 16384;
// Rows per chunk of the class scan.
constexpr int64_t kClassScanRows = 8192;

int64_t rows_per_chunk(int64_t dim) { return std::max<int64_t>(1, kTileElements / std::max<int64_t>(1, dim)); }

// Per-thread buffers of one chunk: up to six tiles (three inputs, three gradients) and the
// per-row operands.
template <class T>
struct ChunkScratch {
  std::vector<T> tiles;
  std::vector<double> label, weight, scale, loss;
  std::vector<int64_t> cls;
  void reserve(int64_t rows) {
    for (std::vector<double>* v : {&label, &weight, &scale, &loss}) v->resize(static_cast<size_t>(rows));
    cls.resize(static_cast<size_t>(rows));
  }
  // Tile t (of 6), allocated on first use: rows with unit element stride never need one.
  T* tile(int t, int64_t rows, int64_t dim) {
    const size_t size = static_cast<size_t>(6 * rows * dim);
    if (tiles.size() < size) tiles.resize(size);
    return tiles.data() + t * rows * dim;
  }
};

template <class T>
ChunkScratch<T>& thread_scratch() {
  thread_local ChunkScratch<T> scratch;
  return scratch;
}

// One pass over the rows: what it computes and where it writes.
struct Pass {
  MutableRowVector loss_rows;          // kNone: each row's loss
  const MutableRowMatrix* grads = nullptr;  // the gradients, when present
  RowVector grad_output;               // kNone backward: each row's gradient scale
  double scale = 1.0;                  // otherwise the gradient scale of every row
};

template <class T>
class RowLossEngine {
 public:
  explicit RowLossEngine(const RowLossCall& call)
      : call_(call), k_(row_kernels<T>()), per_chunk_(rows_per_chunk(call.dim)), inputs_(row_loss_inputs(call.loss)) {
    if (call.weight.present()) {
      // A float64 copy of the (C,) weight: O(C), read once per row.
      const T* w = static_cast<const T*>(call.weight.data);
      class_weight_.resize(static_cast<size_t>(call.dim));
      for (int64_t c = 0; c < call.dim; ++c) class_weight_[c] = static_cast<double>(w[c * call.weight.stride]);
    }
    options_ = RowOptions{call.margin, call.norm_p, call.eps, call.swap, call.margin_p};
  }

  // Runs the pass and returns the sum of the row losses.
  double run(const Pass& pass) const {
    const int64_t chunks = parallel::chunk_count(call_.rows, per_chunk_);
    const kernel_abi::Sums total = parallel::ordered_sum(chunks, parallel::threads_for(chunks), [&](int64_t c) {
      return kernel_abi::Sums{run_chunk(pass, c), 0.0};
    });
    return total.loss;
  }

 private:
  double run_chunk(const Pass& pass, int64_t chunk) const {
    const int64_t first = chunk * per_chunk_;
    const int64_t count = std::min(per_chunk_, call_.rows - first);
    const int64_t dim = call_.dim;
    ChunkScratch<T>& scratch = thread_scratch<T>();
    scratch.reserve(per_chunk_);

    RowBlock<T> block{};
    block.rows = count;
    block.dim = dim;
    for (int k = 0; k < inputs_; ++k) {
      const RowMatrix& in = call_.inputs[k];
      const T* base = static_cast<const T*>(in.data) + first * in.row_stride;
      if (in.col_stride == 1) {
        block.in[k] = base;
        block.in_stride[k] = in.row_stride;
        continue;
      }
      T* tile = scratch.tile(k, per_chunk_, dim);
      for (int64_t r = 0; r < count; ++r)
        for (int64_t i = 0; i < dim; ++i) tile[r * dim + i] = base[r * in.row_stride + i * in.col_stride];
      block.in[k] = tile;
      block.in_stride[k] = dim;
    }
    if (pass.grads != nullptr) {
      for (int k = 0; k < inputs_; ++k) {
        const MutableRowMatrix& g = pass.grads[k];
        T* base = static_cast<T*>(g.data) + first * g.row_stride;
        const bool staged = g.col_stride != 1;
        block.grad[k] = staged ? scratch.tile(3 + k, per_chunk_, dim) : base;
        block.grad_stride[k] = staged ? dim : g.row_stride;
      }
      for (int64_t r = 0; r < count; ++r) {
        scratch.scale[r] = pass.grad_output.present()
            ? static_cast<double>(static_cast<const T*>(pass.grad_output.data)[(first + r) * pass.grad_output.stride])
            : pass.scale;
      }
      block.scale = scratch.scale.data();
    }
    fill_targets(scratch, first, count);
    block.label = scratch.label.data();
    block.cls = scratch.cls.data();
    block.weight = scratch.weight.data();
    block.loss = scratch.loss.data();

    kernel()(block, options_);

    if (pass.grads != nullptr) {
      for (int k = 0; k < inputs_; ++k) {
        const MutableRowMatrix& g = pass.grads[k];
        if (g.col_stride == 1) continue;
        T* base = static_cast<T*>(g.data) + first * g.row_stride;
        for (int64_t r = 0; r < count; ++r)
          for (int64_t i = 0; i < dim; ++i) base[r * g.row_stride + i * g.col_stride] = block.grad[k][r * dim + i];
      }
    }
    double total = 0.0;
    for (int64_t r = 0; r < count; ++r) {
      const double loss = scratch.loss[r];
      if (pass.loss_rows.present())
        static_cast<T*>(pass.loss_rows.data)[(first + r) * pass.loss_rows.stride] = static_cast<T>(loss);
      total += loss;
    }
    return total;
  }

  void fill_targets(ChunkScratch<T>& scratch, int64_t first, int64_t count) const {
    const int64_t stride = call_.target.stride;
    if (call_.loss == RowLoss::kCosineEmbedding) {
      const T* labels = static_cast<const T*>(call_.target.data);
      for (int64_t r = 0; r < count; ++r) scratch.label[r] = static_cast<double>(labels[(first + r) * stride]);
    } else if (call_.loss == RowLoss::kMultiMargin) {
      const int64_t* classes = static_cast<const int64_t*>(call_.target.data);
      for (int64_t r = 0; r < count; ++r) {
        const int64_t c = classes[(first + r) * stride];
        scratch.cls[r] = c;
        scratch.weight[r] = class_weight_.empty() ? 1.0 : class_weight_[c];
      }
    }
  }

  void (*kernel() const)(const RowBlock<T>&, const RowOptions&) {
    switch (call_.loss) {
      case RowLoss::kCosineEmbedding: return k_.cosine_embedding;
      case RowLoss::kMultiMargin: return k_.multi_margin;
      case RowLoss::kTripletMargin: break;
    }
    return k_.triplet_margin;
  }

  const RowLossCall& call_;
  const RowKernels<T>& k_;
  int64_t per_chunk_;
  int inputs_;
  std::vector<double> class_weight_;
  RowOptions options_{};
};

template <class F>
auto with_dtype(DType dtype, F&& f) {
  return dtype == DType::kFloat32 ? f(float{}) : f(double{});
}

double mean_denominator(const RowLossCall& call, Reduction reduction) {
  return reduction == Reduction::kMean ? static_cast<double>(call.rows) : 1.0;
}

}  // namespace

InvalidClass find_invalid_class(const RowLossCall& call) {
  if (call.loss != RowLoss::kMultiMargin) return InvalidClass{};
  const int64_t chunks = parallel::chunk_count(call.rows, kClassScanRows);
  std::vector<InvalidClass> partial(static_cast<size_t>(chunks));
  const int64_t* classes = static_cast<const int64_t*>(call.target.data);
  parallel::for_each_chunk(chunks, parallel::threads_for(chunks), [&](int64_t chunk) {
    const int64_t last = std::min(call.rows, (chunk + 1) * kClassScanRows);
    for (int64_t r = chunk * kClassScanRows; r < last; ++r) {
      const int64_t c = classes[r * call.target.stride];
      if (c < 0 || c >= call.dim) {
        partial[static_cast<size_t>(chunk)] = InvalidClass{r, c};
        return;
      }
    }
  });
  for (const InvalidClass& p : partial)
    if (p.row >= 0) return p;
  return InvalidClass{};
}

double row_loss_forward(const RowLossCall& call, Reduction reduction, MutableRowVector loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    Pass pass;
    if (reduction == Reduction::kNone) pass.loss_rows = loss_out;
    const double total = RowLossEngine<decltype(zero)>(call).run(pass);
    return reduction == Reduction::kNone ? 0.0 : total / mean_denominator(call, reduction);
  });
}

void row_loss_backward(const RowLossCall& call, Reduction reduction, RowVector grad_output,
                       double grad_output_scalar, const MutableRowMatrix* grads) {
  with_dtype(call.dtype, [&](auto zero) {
    Pass pass;
    pass.grads = grads;
    if (reduction == Reduction::kNone) pass.grad_output = grad_output;
    else pass.scale = grad_output_scalar / mean_denominator(call, reduction);
    RowLossEngine<decltype(zero)>(call).run(pass);
    return 0;
  });
}

double row_loss_forward_backward(const RowLossCall& call, Reduction reduction,
                                 const MutableRowMatrix* grads, MutableRowVector loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    Pass pass;
    pass.grads = grads;
    pass.scale = 1.0 / mean_denominator(call, reduction);
    if (reduction == Reduction::kNone) pass.loss_rows = loss_out;
    const double total = RowLossEngine<decltype(zero)>(call).run(pass);
    return reduction == Reduction::kNone ? 0.0 : total / mean_denominator(call, reduction);
  });
}

}  // namespace fastloss
