// Deterministic parallel loops over fixed-size chunks.
//
// Work is cut into chunks whose boundaries depend only on the problem size, never on the
// thread count; each chunk's partial result is stored by index and combined in index
// order. A reduction is therefore bitwise identical for 1, 2 or any number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastloss/threading.hpp"
#include "kernels/abi.hpp"

namespace fastloss {
namespace parallel {

// Elements per chunk of an elementwise pass: large enough to amortise the per-chunk call,
// small enough that gathered operands of a strided view stay in L2.
inline constexpr int64_t kChunkElements = 8192;

// Fewest chunks worth giving a thread (below this, thread start-up costs more than it saves).
inline constexpr int64_t kMinChunksPerThread = 4;

inline int64_t chunk_count(int64_t n, int64_t chunk) { return n == 0 ? 0 : (n - 1) / chunk + 1; }

inline int threads_for(int64_t chunks, int64_t min_chunks_per_thread = kMinChunksPerThread) {
  const int64_t useful = chunks / min_chunks_per_thread;
  if (useful <= 1) return 1;  // too little to share: spares kernel_thread_limit() its CPU count
  return static_cast<int>(std::min<int64_t>(kernel_thread_limit(), useful));
}

// Runs body(chunk_index) for every chunk in [0, chunks) on `threads` threads (threads_for's
// choice).
template <class Body>
void for_each_chunk(int64_t chunks, int threads, Body&& body) {
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < chunks; ++c) body(c);
    return;
  }
#endif
  (void)threads;
  for (int64_t c = 0; c < chunks; ++c) body(c);
}

// Sums body(chunk_index) -> kernel_abi::Sums over all chunks, combined in index order.
template <class Body>
kernel_abi::Sums ordered_sum(int64_t chunks, int threads, Body&& body) {
  std::vector<kernel_abi::Sums> partial(static_cast<size_t>(chunks));
  for_each_chunk(chunks, threads, [&](int64_t c) { partial[static_cast<size_t>(c)] = body(c); });
  kernel_abi::Sums total{0.0, 0.0};
  for (const kernel_abi::Sums& p : partial) {
    total.loss += p.loss;
    total.weight += p.weight;
  }
  return total;
}

}  // namespace parallel
}  // namespace fastloss
