// Dispatcher of the softmax / cross-entropy family: layouts, targets, reductions and
// threads around the per-target row kernels of kernels/softmax_kernels.cc.
//
// Work is cut into chunks of whole rows (about kTileElements elements each, a count that
// depends only on the number of classes). Rows whose class stride is 1 are handed to the
// kernels in place; other layouts (the (N, C, d1..dk) class axis, strided views) are
// gathered one chunk at a time into a per-thread tile, class-major, and the gradient is
// scattered back the same way: extra memory is O(threads x tile), never O(N x C).
#include "fastloss/cross_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/softmax_abi.hpp"
#include "kernels/target_table.hpp"
#include "parallel.hpp"

namespace fastloss {

// The per-target tables: fastloss::<target>::softmax_kernels.
#define FASTLOSS_DECLARE_TARGET(ns, enumerator)                    \
  namespace ns {                                                   \
  extern const kernel_abi::SoftmaxKernels softmax_kernels;         \
  }
FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_DECLARE_TARGET)
#undef FASTLOSS_DECLARE_TARGET

namespace {

using kernel_abi::LogSumExp;
using kernel_abi::RowGrad;
using kernel_abi::SoftmaxRowKernel;
using kernel_abi::SoftTarget;

ByTarget<const kernel_abi::SoftmaxKernels*> make_tables() {
  ByTarget<const kernel_abi::SoftmaxKernels*> tables;
#define FASTLOSS_FILL_TARGET(ns, enumerator) \
  tables.entries[static_cast<int>(Target::enumerator)] = &::fastloss::ns::softmax_kernels;
  FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_FILL_TARGET)
#undef FASTLOSS_FILL_TARGET
  return tables;
}

const kernel_abi::SoftmaxKernels& active_kernels() {
  static const ByTarget<const kernel_abi::SoftmaxKernels*> tables = make_tables();
  return *tables.active();
}

template <class T>
const SoftmaxRowKernel<T>& row_kernel();
template <>
const SoftmaxRowKernel<float>& row_kernel<float>() { return active_kernels().f32; }
template <>
const SoftmaxRowKernel<double>& row_kernel<double>() { return active_kernels().f64; }

// Elements per chunk of rows: a tile of this many float64 stays in L2 while it is gathered,
// computed and scattered.
constexpr int64_t kTileElements = 16384;
// Rows per chunk of the target scan (validation and the mean's denominator).
constexpr int64_t kTargetScanRows = 8192;

int64_t rows_per_chunk(int64_t classes) {
  return std::max<int64_t>(1, kTileElements / std::max<int64_t>(1, classes));
}

// Element offsets of row r in each operand: r is decomposed over the row dimensions once
// (seek), then rows are walked in order (next) without a division per row.
class RowWalker {
 public:
  explicit RowWalker(const Shape& rows) : rows_(rows), index_(static_cast<size_t>(rows.ndim)) {}
  void seek(int64_t r) {
    for (int d = rows_.ndim - 1; d >= 0; --d) {
      index_[d] = r % rows_.extents[d];
      r /= rows_.extents[d];
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
  Shape rows_;
  std::vector<int64_t> index_;
};

// The rows of one chunk of a class operand: in place when the class stride is 1, else
// gathered into `staging` and scattered back. Measured on (N, C, d): the gather is twice
// as fast row by row (strided reads of one row fall on cache lines the next rows reuse,
// writes stay sequential), the scatter class by class (the rows' writes to one class share
// a cache line).
template <class P>  // const T or T
struct ChunkRows {
  P* base;
  const int64_t* offsets;
  int64_t count;
  int64_t classes;
  int64_t class_stride;
  std::remove_const_t<P>* staging;  // null when the rows are used in place

  P* row(int64_t i) const { return staging ? staging + i * classes : base + offsets[i]; }
  void gather() const {
    for (int64_t i = 0; i < count; ++i) {
      const P* src = base + offsets[i];
      std::remove_const_t<P>* dst = staging + i * classes;
      for (int64_t c = 0; c < classes; ++c) dst[c] = src[c * class_stride];
    }
  }
  void scatter() const {
    for (int64_t c = 0; c < classes; ++c)
      for (int64_t i = 0; i < count; ++i) base[offsets[i] + c * class_stride] = staging[i * classes + c];
  }
};

// Rows at least this long are written with streaming stores where the CPU has them.
constexpr int64_t kStreamingRowBytes = 1024;

// Writes `row` as zeros but `value` at t (t outside [0, n): zeros only). A long row is written
// with streaming stores on x86: nll_loss's gradient is mostly zeros that the caller reads
// much later, and streaming skips the read-for-ownership of every line, so the gradient's
// bytes cross the memory bus once instead of twice. The caller fences after its rows
// (stream_fence) before another thread may read them.
template <class T>
void write_one_hot_row(T* row, int64_t n, int64_t t, T value) {
#if defined(__SSE2__)
  const auto address = reinterpret_cast<uintptr_t>(row);
  if (n * static_cast<int64_t>(sizeof(T)) >= kStreamingRowBytes && address % sizeof(T) == 0) {
    constexpr int64_t kLanes = 16 / static_cast<int64_t>(sizeof(T));
    const int64_t head = std::min<int64_t>(n, static_cast<int64_t>((16 - address % 16) % 16 / sizeof(T)));
    int64_t c = 0;
    for (; c < head; ++c) row[c] = c == t ? value : T(0);
    const int64_t body_end = c + (n - c) / kLanes * kLanes;
    // The one vector holding t, if the aligned body has it.
    const int64_t t_vector = t >= c && t < body_end ? c + (t - c) / kLanes * kLanes : -1;
    alignas(16) T lanes[kLanes] = {};
    if (t_vector >= 0) lanes[t - t_vector] = value;
    const __m128i with_value = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes));
    const __m128i zero = _mm_setzero_si128();
    for (; c < body_end; c += kLanes)
      _mm_stream_si128(reinterpret_cast<__m128i*>(row + c), c == t_vector ? with_value : zero);
    for (; c < n; ++c) row[c] = c == t ? value : T(0);
    return;
  }
#endif
  std::fill(row, row + n, T(0));
  if (t >= 0 && t < n) row[t] = value;
}

// Orders this thread's streaming stores before whatever follows (a no-op without them).
inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Per-thread scratch of one chunk: row offsets for up to kOffsetSlots operands and up to
// three tiles of rows.
enum OffsetSlot : int { kInputOffsets, kProbOffsets, kGradOffsets, kTargetOffsets, kLossOffsets,
                        kGradOutputOffsets, kOffsetSlots };

template <class T>
struct ChunkScratch {
  std::vector<int64_t> offsets;
  std::vector<T> tiles;
  std::vector<double> chunk_max;  // exp_row's per-chunk maxima of one row
  void reserve(int64_t rows, int64_t classes) {
    offsets.resize(static_cast<size_t>(kOffsetSlots * rows));
    chunk_max.resize(static_cast<size_t>(kernel_abi::log_sum_exp_chunks(classes)));
  }
  int64_t* slot(int s, int64_t rows) { return offsets.data() + s * rows; }
  // Tile t (of 3), allocated on first use: contiguous rows never need one.
  T* tile(int t, int64_t rows, int64_t classes) {
    if (tiles.size() < static_cast<size_t>(3 * rows * classes)) tiles.resize(static_cast<size_t>(3 * rows * classes));
    return tiles.data() + t * rows * classes;
  }
};

template <class T>
ChunkScratch<T>& thread_scratch() {
  thread_local ChunkScratch<T> scratch;
  return scratch;
}

// Runs body(chunk) over every chunk of rows and returns the chunk results summed in index
// order (deterministic for any thread count).
template <class Body>
double sum_over_chunks(int64_t chunks, Body&& body) {
  const kernel_abi::Sums total = parallel::ordered_sum(
      chunks, parallel::threads_for(chunks), [&](int64_t c) { return kernel_abi::Sums{body(c), 0.0}; });
  return total.loss;
}

// --- softmax ------------------------------------------------------------------------------

template <class T>
void softmax_typed(const ClassShape& shape, ClassView in, MutableClassView out, bool log) {
  const SoftmaxRowKernel<T>& k = row_kernel<T>();
  const int64_t classes = shape.classes;
  const int64_t rows = shape.rows.numel();
  const int64_t per_chunk = rows_per_chunk(classes);
  const int64_t chunks = parallel::chunk_count(rows, per_chunk);
  parallel::for_each_chunk(chunks, parallel::threads_for(chunks), [&](int64_t chunk) {
    const int64_t first = chunk * per_chunk;
    const int64_t count = std::min(per_chunk, rows - first);
    ChunkScratch<T>& scratch = thread_scratch<T>();
    scratch.reserve(per_chunk, classes);
    int64_t* in_off = scratch.slot(kInputOffsets, per_chunk);
    int64_t* out_off = scratch.slot(kGradOffsets, per_chunk);
    RowWalker walk(shape.rows);
    walk.seek(first);
    for (int64_t i = 0; i < count; ++i, walk.next()) {
      in_off[i] = walk.offset(in.rows.strides);
      out_off[i] = walk.offset(out.rows.strides);
    }
    const ChunkRows<const T> x{static_cast<const T*>(in.rows.data), in_off, count, classes,
                               in.class_stride,
                               in.class_stride == 1 ? nullptr : scratch.tile(0, per_chunk, classes)};
    const ChunkRows<T> y{static_cast<T*>(out.rows.data), out_off, count, classes, out.class_stride,
                         out.class_stride == 1 ? nullptr : scratch.tile(1, per_chunk, classes)};
    if (x.staging) x.gather();
    const SoftTarget none{nullptr, nullptr, 0.0, 0.0};
    for (int64_t i = 0; i < count; ++i) {
      const T* row = x.row(i);
      if (log) {
        k.log_softmax(row, classes, k.log_sum_exp(row, classes), y.row(i));
      } else {
        // One exp per element: exp(x - chunk max) is kept in the output and rescaled.
        double* chunk_max = scratch.chunk_max.data();
        const LogSumExp lse = k.exp_row(row, classes, y.row(i), chunk_max);
        k.exp_row_to_grad(y.row(i), classes, lse, chunk_max, none, 1.0, 0.0);
      }
    }
    if (y.staging) y.scatter();
  });
}

// --- class losses -------------------------------------------------------------------------

// One pass over the rows: what it computes and where it writes.
struct Pass {
  bool want_loss = false;       // row losses are needed (a reduction or loss_rows)
  MutableView loss_rows;        // kNone: each row's loss
  MutableClassView grad;        // the gradient, when present
  ConstView grad_output;        // kNone backward: each row's gradient scale
  double scale = 1.0;           // otherwise the gradient scale of every row
};

template <class T>
class ClassLossEngine {
 public:
  explicit ClassLossEngine(const ClassLossCall& call)
      : call_(call),
        k_(row_kernel<T>()),
        classes_(call.shape.classes),
        rows_(call.shape.rows.numel()),
        per_chunk_(rows_per_chunk(classes_)) {
    if (call.weight != nullptr) {
      // A contiguous copy of the (C,) weight: O(C), and the kernels read it as a row.
      const T* w = static_cast<const T*>(call.weight);
      weight_.resize(static_cast<size_t>(classes_));
      for (int64_t c = 0; c < classes_; ++c) weight_[c] = w[c * call.weight_stride];
    }
    // The sum of the class weights: only label smoothing reads it (an O(C) loop per call
    // otherwise, which dominated nll_loss over 1024 rows of 32000 classes).
    weight_total_ = 0.0;
    if (call.label_smoothing > 0.0)
      for (int64_t c = 0; c < classes_; ++c) weight_total_ += class_weight(c);
  }

  // Sum of w[t] over non-ignored rows (index targets) or the row count (probabilities).
  double mean_denominator() const {
    if (call_.probability_targets()) return static_cast<double>(rows_);
    return scan_targets().weight_sum;
  }

  InvalidTarget invalid_target() const {
    if (call_.probability_targets()) return InvalidTarget{};
    return scan_targets().invalid;
  }

  // Runs the pass and returns the sum of the row losses (0 unless want_loss).
  double run(const Pass& pass) const {
    const int64_t chunks = parallel::chunk_count(rows_, per_chunk_);
    if (call_.loss == ClassLoss::kNllLoss && !pass.grad.present() && !call_.probability_targets() &&
        call_.shape.rows.ndim == 1)
      return sum_over_chunks(chunks, [&](int64_t chunk) { return nll_forward_chunk(pass, chunk); });
    return sum_over_chunks(chunks, [&](int64_t chunk) { return run_chunk(pass, chunk); });
  }

 private:
  struct TargetScan {
    double weight_sum = 0.0;
    InvalidTarget invalid;
  };

  double class_weight(int64_t c) const { return weight_.empty() ? 1.0 : static_cast<double>(weight_[c]); }
  const T* weight_row() const { return weight_.empty() ? nullptr : weight_.data(); }

  int64_t target_at(int64_t offset) const {
    if (call_.index_dtype == IndexDType::kInt32)
      return static_cast<const int32_t*>(call_.index_target.data)[offset];
    return static_cast<const int64_t*>(call_.index_target.data)[offset];
  }

  double alpha_at(int64_t t) const {
    if (call_.alpha == nullptr) return call_.alpha_scalar;
    return static_cast<double>(static_cast<const T*>(call_.alpha)[t * call_.alpha_stride]);
  }

  TargetScan scan_targets() const {
    const int64_t chunks = parallel::chunk_count(rows_, kTargetScanRows);
    std::vector<TargetScan> partial(static_cast<size_t>(chunks));
    parallel::for_each_chunk(chunks, parallel::threads_for(chunks), [&](int64_t chunk) {
      TargetScan scan;
      RowWalker walk(call_.shape.rows);
      const int64_t first = chunk * kTargetScanRows;
      const int64_t last = std::min(rows_, first + kTargetScanRows);
      walk.seek(first);
      for (int64_t r = first; r < last; ++r, walk.next()) {
        const int64_t t = target_at(walk.offset(call_.index_target.strides));
        if (t == call_.ignore_index) continue;
        if (t < 0 || t >= classes_) {
          if (scan.invalid.row < 0) scan.invalid = InvalidTarget{r, t};
          continue;
        }
        scan.weight_sum += class_weight(t);
      }
      partial[static_cast<size_t>(chunk)] = scan;
    });
    TargetScan total;
    for (const TargetScan& s : partial) {
      total.weight_sum += s.weight_sum;
      if (total.invalid.row < 0) total.invalid = s.invalid;
    }
    return total;
  }

  double run_chunk(const Pass& pass, int64_t chunk) const {
    const int64_t first = chunk * per_chunk_;
    const int64_t count = std::min(per_chunk_, rows_ - first);
    ChunkScratch<T>& scratch = thread_scratch<T>();
    scratch.reserve(per_chunk_, classes_);
    int64_t* off[kOffsetSlots];
    for (int s = 0; s < kOffsetSlots; ++s) off[s] = scratch.slot(s, per_chunk_);
    const bool probs = call_.probability_targets();
    RowWalker walk(call_.shape.rows);
    walk.seek(first);
    for (int64_t i = 0; i < count; ++i, walk.next()) {
      off[kInputOffsets][i] = walk.offset(call_.input.rows.strides);
      if (probs) off[kProbOffsets][i] = walk.offset(call_.prob_target.rows.strides);
      else off[kTargetOffsets][i] = walk.offset(call_.index_target.strides);
      if (pass.grad.present()) off[kGradOffsets][i] = walk.offset(pass.grad.rows.strides);
      if (pass.loss_rows.present()) off[kLossOffsets][i] = walk.offset(pass.loss_rows.strides);
      if (pass.grad_output.present()) off[kGradOutputOffsets][i] = walk.offset(pass.grad_output.strides);
    }

    // nll_loss reads one element per row: no rows to stage.
    const bool stage_input = call_.loss != ClassLoss::kNllLoss && call_.input.class_stride != 1;
    const ChunkRows<const T> x{static_cast<const T*>(call_.input.rows.data), off[kInputOffsets], count,
                               classes_, call_.input.class_stride,
                               stage_input ? scratch.tile(0, per_chunk_, classes_) : nullptr};
    if (x.staging) x.gather();
    const bool stage_probs = probs && call_.prob_target.class_stride != 1;
    const ChunkRows<const T> y{static_cast<const T*>(call_.prob_target.rows.data), off[kProbOffsets],
                               count, classes_, call_.prob_target.class_stride,
                               stage_probs ? scratch.tile(1, per_chunk_, classes_) : nullptr};
    if (y.staging) y.gather();
    const bool stage_grad = pass.grad.present() && pass.grad.class_stride != 1;
    const ChunkRows<T> g{static_cast<T*>(pass.grad.rows.data), off[kGradOffsets], count, classes_,
                         pass.grad.class_stride,
                         stage_grad ? scratch.tile(2, per_chunk_, classes_) : nullptr};

    double total = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      const double scale = pass.grad_output.present()
          ? static_cast<double>(static_cast<const T*>(pass.grad_output.data)[off[kGradOutputOffsets][i]])
          : pass.scale;
      T* grad_row = pass.grad.present() ? g.row(i) : nullptr;
      double loss;
      if (probs) {
        loss = probability_row(x.row(i), y.row(i), pass.want_loss, grad_row, scale);
      } else {
        const int64_t t = target_at(off[kTargetOffsets][i]);
        if (call_.loss == ClassLoss::kNllLoss) {
          loss = nll_row(x.row(i), t, grad_row, scale);
        } else {
          loss = index_row(x.row(i), t, pass.want_loss, grad_row, scale, scratch.chunk_max.data());
        }
      }
      if (pass.loss_rows.present())
        static_cast<T*>(pass.loss_rows.data)[off[kLossOffsets][i]] = static_cast<T>(loss);
      total += loss;
    }
    if (g.staging) g.scatter();
    if (call_.loss == ClassLoss::kNllLoss) stream_fence();
    return total;
  }

  // nll_loss forward over (N, C): one element per row, so run_chunk's per-row bookkeeping
  // (offsets of every operand) would cost more than the element itself. The same chunks and
  // the same order within them as run_chunk, so the sums are bitwise the same.
  double nll_forward_chunk(const Pass& pass, int64_t chunk) const {
    const int64_t first = chunk * per_chunk_;
    const int64_t last = std::min(rows_, first + per_chunk_);
    const T* x = static_cast<const T*>(call_.input.rows.data);
    const int64_t row_stride = call_.input.rows.strides[0];
    const int64_t target_stride = call_.index_target.strides[0];
    T* loss_rows = static_cast<T*>(pass.loss_rows.data);
    const int64_t loss_stride = pass.loss_rows.present() ? pass.loss_rows.strides[0] : 0;
    double total = 0.0;
    for (int64_t r = first; r < last; ++r) {
      const double loss = nll_term(x + r * row_stride, target_at(r * target_stride));
      if (loss_rows != nullptr) loss_rows[r * loss_stride] = static_cast<T>(loss);
      total += loss;
    }
    return total;
  }

  void zero_row(T* grad) const {
    if (grad != nullptr) std::fill(grad, grad + classes_, T(0));
  }

  // nll_loss: loss = -w_t x_t; the gradient row is 0 but for -scale w_t at t. x points at
  // the row's first element with the input's class stride (never staged, one element is
  // read); gradient rows are contiguous (staged when the output's are not).
  double nll_row(const T* x, int64_t t, T* grad, double scale) const {
    // Read before the gradient row is written: with out=input it is this very row.
    const double loss = nll_term(x, t);
    if (grad != nullptr) {
      const bool ignored = t == call_.ignore_index;
      write_one_hot_row(grad, classes_, ignored ? -1 : t, static_cast<T>(ignored ? 0.0 : -scale * class_weight(t)));
    }
    return loss;
  }

  // -w_t x_t of one row (x at its first element, input class stride); 0 for an ignored row.
  double nll_term(const T* x, int64_t t) const {
    return t == call_.ignore_index ? 0.0 : -class_weight(t) * static_cast<double>(x[t * call_.input.class_stride]);
  }

  // cross_entropy and softmax_focal_loss with a class index t; x is a contiguous row.
  // With a gradient (and no smoothing term in the loss, which needs every x_c) the row is
  // read once: exp_row stores exp(x_c - chunk max) in the gradient row while it sums, and
  // exp_row_to_grad rescales it in cache, one exp per element in all.
  double index_row(const T* x, int64_t t, bool want_loss, T* grad, double scale, double* chunk_max) const {
    if (t == call_.ignore_index) {
      zero_row(grad);
      return 0.0;
    }
    const double e = call_.label_smoothing;
    const double x_t = static_cast<double>(x[t]);  // read before the gradient may overwrite x
    const bool single_exp = grad != nullptr && !(want_loss && e > 0.0);
    const LogSumExp lse = single_exp ? k_.exp_row(x, classes_, grad, chunk_max) : k_.log_sum_exp(x, classes_);
    const double nll = (lse.max - x_t) + lse.log_sum;  // -log p_t (+0 when p_t = 1)
    const double w = class_weight(t);

    double p_scale, v_scale = scale, t_step, loss, beta = 0.0;
    if (call_.loss == ClassLoss::kSoftmaxFocal) {
      const FocalTerms f = focal_terms(t, nll, w);
      // gradient scale G ([j == t] - p_j)
      p_scale = -scale * f.slope;
      t_step = -scale * f.slope;
      loss = f.loss;
    } else {
      // (1 - e) w_t nll + (e / C) sum_c w_c (lse - x_c); the gradient is
      // scale [((1 - e) w_t + (e / C) W) p_j - (e / C) w_j - (1 - e) w_t [j == t]].
      beta = e / static_cast<double>(classes_);
      p_scale = scale * ((1.0 - e) * w + beta * weight_total_);
      t_step = scale * (1.0 - e) * w;
      loss = (1.0 - e) * w * nll;
    }
    const SoftTarget v{nullptr, weight_row(), 0.0, beta};
    if (single_exp) {
      k_.exp_row_to_grad(grad, classes_, lse, chunk_max, v, p_scale, v_scale);
    } else if (grad != nullptr || (want_loss && beta > 0.0)) {
      loss += k_.cross_entropy_row(x, classes_, lse, v, want_loss && beta > 0.0, RowGrad{grad, p_scale, v_scale});
    }
    if (grad != nullptr) grad[t] -= static_cast<T>(t_step);
    return loss;
  }

  struct FocalTerms {
    double loss;
    double slope;  // G = d loss / d log p_t
  };

  // loss = A (1 - p)^gamma (-log p), A = w_t alpha_t, p = p_t, and
  // G = A (gamma (1 - p)^(gamma - 1) p log p - (1 - p)^gamma). 1 - p is -expm1(log p),
  // exact for p near 1; the (1 - p)^(gamma - 1) term is 0 at gamma = 0 and at p = 1 (its
  // limit), so gamma = 0 and alpha = 1 give cross_entropy bit for bit.
  FocalTerms focal_terms(int64_t t, double nll, double w) const {
    const double gamma = call_.gamma;
    const double amplitude = w * alpha_at(t);
    const double log_p = -nll;
    const double one_minus_p = -std::expm1(log_p);
    const double modulation = gamma == 0.0 ? 1.0 : std::exp(gamma * std::log(one_minus_p));
    const double slope = gamma == 0.0 || one_minus_p == 0.0
        ? 0.0
        : gamma * std::exp((gamma - 1.0) * std::log(one_minus_p)) * std::exp(log_p) * log_p;
    return FocalTerms{amplitude * modulation * nll, amplitude * (slope - modulation)};
  }

  // Probability targets: v_c = w_c ((1 - e) y_c + e / C); loss = sum_c v_c (lse - x_c),
  // gradient scale (p_j sum_c v_c - v_j).
  double probability_row(const T* x, const T* y, bool want_loss, T* grad, double scale) const {
    const double e = call_.label_smoothing;
    const SoftTarget v{y, weight_row(), 1.0 - e, e / static_cast<double>(classes_)};
    const double mass = grad != nullptr ? k_.target_mass(v, classes_) : 0.0;
    const LogSumExp lse = k_.log_sum_exp(x, classes_);
    return k_.cross_entropy_row(x, classes_, lse, v, want_loss, RowGrad{grad, scale * mass, scale});
  }

  const ClassLossCall& call_;
  const SoftmaxRowKernel<T>& k_;
  int64_t classes_;
  int64_t rows_;
  int64_t per_chunk_;
  std::vector<T> weight_;
  double weight_total_;
};

template <class F>
auto with_dtype(DType dtype, F&& f) {
  return dtype == DType::kFloat32 ? f(float{}) : f(double{});
}

double reduced(Reduction reduction, double total, double denominator) {
  return reduction == Reduction::kMean ? total / denominator : total;
}

}  // namespace

void softmax(DType dtype, const ClassShape& shape, ClassView in, MutableClassView out, bool log) {
  with_dtype(dtype, [&](auto zero) {
    softmax_typed<decltype(zero)>(shape, in, out, log);
    return 0;
  });
}

InvalidTarget find_invalid_target(const ClassLossCall& call) {
  return with_dtype(call.dtype, [&](auto zero) {
    return ClassLossEngine<decltype(zero)>(call).invalid_target();
  });
}

double class_loss_forward(const ClassLossCall& call, Reduction reduction, MutableView loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    const ClassLossEngine<decltype(zero)> engine(call);
    Pass pass;
    pass.want_loss = true;
    if (reduction == Reduction::kNone) pass.loss_rows = loss_out;
    const double total = engine.run(pass);
    if (reduction == Reduction::kNone) return 0.0;
    return reduced(reduction, total, reduction == Reduction::kMean ? engine.mean_denominator() : 1.0);
  });
}

void class_loss_backward(const ClassLossCall& call, Reduction reduction, ConstView grad_output,
                         double grad_output_scalar, MutableClassView grad_input) {
  with_dtype(call.dtype, [&](auto zero) {
    const ClassLossEngine<decltype(zero)> engine(call);
    Pass pass;
    pass.grad = grad_input;
    if (reduction == Reduction::kNone) {
      pass.grad_output = grad_output;
    } else {
      pass.scale = reduction == Reduction::kMean ? grad_output_scalar / engine.mean_denominator()
                                                 : grad_output_scalar;
    }
    engine.run(pass);
    return 0;
  });
}

double class_loss_forward_backward(const ClassLossCall& call, Reduction reduction,
                                   MutableClassView grad_input, MutableView loss_out) {
  return with_dtype(call.dtype, [&](auto zero) {
    const ClassLossEngine<decltype(zero)> engine(call);
    // The mean's denominator comes from the targets alone (O(rows)), so the gradient can be
    // written in the same pass that computes the loss.
    const double denominator = reduction == Reduction::kMean ? engine.mean_denominator() : 1.0;
    Pass pass;
    pass.want_loss = true;
    pass.grad = grad_input;
    pass.scale = 1.0 / denominator;
    if (reduction == Reduction::kNone) pass.loss_rows = loss_out;
    const double total = engine.run(pass);
    return reduction == Reduction::kNone ? 0.0 : reduced(reduction, total, denominator);
  });
}

}  // namespace fastloss
