// CTC's forward-backward recursions compiled once per SIMD target (FASTLOSS_TARGET_NS), in
// log space and in the input's type, as torch's CPU kernel (float32 sequences recurse in
// float32). Each time step is one loop over the extended-label states, vectorised: a state
// reads only the previous (alpha) or next (beta) row. The dispatcher (ctc.cc) gathers the
// emissions, scatters the occupancies into the gradient, and threads over the batch.
#include "kernels/families.hpp"
#include "kernels/math.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using kernel_abi::CtcSequence;
using kernel_abi::kCtcPad;

template <class T>
FASTLOSS_INLINE T minus_infinity() {
  return -static_cast<T>(FASTLOSS_INFINITY);
}

// torch's log-sum-exp of a state's two or three predecessors: shifted by their maximum (0
// when all are -inf, so an unreachable state stays -inf instead of becoming NaN; a NaN or
// +inf predecessor gives NaN, as torch).
template <class T>
FASTLOSS_INLINE T log_sum_exp3(T a, T b, T c) {
  T m = b > a ? b : a;
  m = c > m ? c : m;
  m = m == minus_infinity<T>() ? T(0) : m;
  return math::log(math::exp(a - m) + math::exp(b - m) + math::exp(c - m)) + m;
}

template <class T>
FASTLOSS_INLINE void fill_minus_infinity(T* row, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) row[i] = minus_infinity<T>();
}

template <class T>
T negative_log_likelihood(const CtcSequence<T>& q, bool keep_alpha) {
  const int64_t states = q.states, width = states + kCtcPad;
  const T* skip = q.skip + kCtcPad;
  T* row = q.alpha;
  fill_minus_infinity(row, width);
  // Paths start in the leading blank or the first label.
  row[kCtcPad] = q.emit[0];
  if (states > 1) row[kCtcPad + 1] = q.emit[1];
  for (int64_t t = 1; t < q.time; ++t) {
    const T* prev = row;  // state s at prev[s + kCtcPad]
    row = q.alpha + (keep_alpha ? t : (t & 1)) * width;
    row[0] = row[1] = minus_infinity<T>();
    T* out = row + kCtcPad;
    const T* emit = q.emit + t * states;
    // Read unconditionally, then selected: a conditional read leaves SSE2's loop scalar.
#pragma omp simd
    for (int64_t s = 0; s < states; ++s) {
      const T two_before = prev[s];
      const T jump = skip[s] != T(0) ? two_before : minus_infinity<T>();
      out[s] = log_sum_exp3(prev[s + 2], prev[s + 1], jump) + emit[s];
    }
  }
  // Paths end in the trailing blank or the last label (torch's std::max, then -inf -> 0).
  const T* last = row + kCtcPad;
  const T end_blank = last[states - 1];
  const T end_label = states > 1 ? last[states - 2] : minus_infinity<T>();
  T m = end_blank < end_label ? end_label : end_blank;
  m = m == minus_infinity<T>() ? T(0) : m;
  return -(math::log(math::exp(end_blank - m) + math::exp(end_label - m)) + m);
}

// Row t's occupancy exp(alpha + beta + nll - emit), written over its alpha states.
template <class T>
FASTLOSS_INLINE void write_occupancy(T* alpha_states, const T* beta, const T* emit, int64_t states, T nll) {
#pragma omp simd
  for (int64_t s = 0; s < states; ++s) alpha_states[s] = math::exp(alpha_states[s] + beta[s] + nll - emit[s]);
}

template <class T>
void occupancy(const CtcSequence<T>& q, T nll) {
  const int64_t states = q.states, width = states + kCtcPad;
  const T* skip_next = q.skip + 2 * kCtcPad;  // skip_next[s]: whether state s + 2 may come from s
  T* row = q.beta;  // state s at row[s]; two -inf after the last
  fill_minus_infinity(row, width);
  const int64_t last_t = q.time - 1;
  row[states - 1] = q.emit[last_t * states + states - 1];
  if (states > 1) row[states - 2] = q.emit[last_t * states + states - 2];
  write_occupancy(q.alpha + last_t * width + kCtcPad, row, q.emit + last_t * states, states, nll);
  for (int64_t t = last_t - 1; t >= 0; --t) {
    const T* next = row;
    row = q.beta + ((last_t - t) & 1) * width;
    row[states] = row[states + 1] = minus_infinity<T>();
    const T* emit = q.emit + t * states;
#pragma omp simd
    for (int64_t s = 0; s < states; ++s) {
      const T jump = skip_next[s] != T(0) ? next[s + 2] : minus_infinity<T>();
      row[s] = log_sum_exp3(next[s], next[s + 1], jump) + emit[s];
    }
    write_occupancy(q.alpha + t * width + kCtcPad, row, emit, states, nll);
  }
}

template <class T>
void gradient_row(const T* log_probs, T* grad, int64_t classes, T nll, T scale) {
  const T shift = minus_infinity<T>() + nll;  // torch's -inf start of every class's log-sum
#pragma omp simd
  for (int64_t c = 0; c < classes; ++c) {
    const T x = log_probs[c];
    const T start = shift - x;
    const T poison = start == start ? T(0) : start;
    grad[c] = (math::exp(x) - poison) * scale;
  }
}

template <class T>
constexpr kernel_abi::CtcKernels<T> kernels_of() {
  return {&negative_log_likelihood<T>, &occupancy<T>, &gradient_row<T>};
}

}  // namespace

const kernel_abi::CtcKernelFamily ctc_kernels = {kernels_of<float>(), kernels_of<double>()};

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
