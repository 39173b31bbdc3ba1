// Deterministic, interruptible parallel loops over fixed-size chunks.
//
// Work is cut into chunks whose boundaries depend only on the problem size, never on the
// thread count; each chunk's partial result is stored by index and combined in index
// order. A reduction is therefore bitwise identical for 1, 2 or any number of threads.
//
// Between chunks, the thread that called the loop polls the interrupt check (threading.hpp);
// once it reports an interrupt, every thread skips its remaining chunks and the loop throws
// Interrupted.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastloss/portability.hpp"
#include "fastloss/threading.hpp"
#include "kernels/abi.hpp"

namespace fastloss {
namespace parallel {

// Elements per chunk of an elementwise pass: large enough to amortise the per-chunk call,
// small enough that gathered operands of a strided view stay in L2.
inline constexpr int64_t kChunkElements = 8192;

// Fewest chunks worth giving a thread (below this, thread start-up costs more than it saves).
inline constexpr int64_t kMinChunksPerThread = 4;

// Fewest chunks per thread for which the calling thread, done with its own share, polls on
// while the rest of the team finishes (InterruptPoll::poll_until). Below this a straggler's
// remainder is short anyway, and a tiny loop is spared the extra hand-off between threads.
inline constexpr int64_t kMinChunksPerThreadToPollStragglers = 64;

inline int64_t chunk_count(int64_t n, int64_t chunk) { return n == 0 ? 0 : (n - 1) / chunk + 1; }

inline int threads_for(int64_t chunks, int64_t min_chunks_per_thread = kMinChunksPerThread) {
  const int64_t useful = chunks / min_chunks_per_thread;
  if (useful <= 1) return 1;  // too little to share: spares kernel_thread_limit() its CPU count
  return static_cast<int>(std::min<int64_t>(kernel_thread_limit(), useful));
}

// One loop's view of the interrupt check: polled by the calling thread only, at most every
// kInterruptPollMilliseconds; its answer is read by every thread of the team.
class InterruptPoll {
 public:
  InterruptPoll()
      : check_(inside_parallel_region() ? nullptr : interrupt_check()),
        start_ms_(check_ == nullptr ? 0 : portable::monotonic_ms()),
        next_poll_ms_(start_ms_ + kInterruptPollMilliseconds) {}

  bool active() const { return check_ != nullptr; }
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

  void poll() {
    if (check_ == nullptr || stopped()) return;
    const int64_t now_ms = portable::monotonic_ms();
    if (now_ms < next_poll_ms_) return;
    if (check_()) stopped_.store(true, std::memory_order_relaxed);
    next_poll_ms_ = now_ms + kInterruptPollMilliseconds;
  }

  // The caller has run its share of the chunks; another thread may still be running its
  // own (descheduled, or slower). Polling goes on until the whole team is done: spinning
  // while the loop is young, as OpenMP's own barrier would, then sleeping between polls.
  void poll_until(const std::atomic<int>& finished, int team) {
    while (finished.load(std::memory_order_relaxed) < team && !stopped()) {
      poll();
      if (portable::monotonic_ms() >= start_ms_ + kInterruptPollMilliseconds) {
        std::this_thread::sleep_for(kTeamWaitStep);
      }
    }
  }

  void throw_if_stopped() const {
    if (stopped()) throw Interrupted();
  }

 private:
  // Small against a loop that has run the poll interval, so waiting in steps delays it little.
  static constexpr std::chrono::microseconds kTeamWaitStep{200};

  // An exception cannot leave an enclosing parallel region: only the outer loop may stop.
  static bool inside_parallel_region() {
#ifdef _OPENMP
    return omp_in_parallel() != 0;
#else
    return false;
#endif
  }

  const InterruptCheck check_;
  const int64_t start_ms_;
  int64_t next_poll_ms_;
  std::atomic<bool> stopped_{false};
};

// Runs body(chunk_index) for every chunk in [0, chunks) on `threads` threads (threads_for's
// choice). Throws Interrupted, with some chunks not run, when the interrupt check says so.
template <class Body>
void for_each_chunk(int64_t chunks, int threads, Body&& body) {
  InterruptPoll interrupt;
#ifdef _OPENMP
  if (threads > 1) {
    const bool poll_stragglers =
        interrupt.active() && chunks >= kMinChunksPerThreadToPollStragglers * threads;
    std::atomic<int> finished{0};  // threads done with their share, when poll_stragglers
#pragma omp parallel num_threads(threads)
    {
      const bool caller = omp_get_thread_num() == 0;
#pragma omp for schedule(static) nowait
      for (int64_t c = 0; c < chunks; ++c) {
        if (caller) interrupt.poll();
        if (!interrupt.stopped()) body(c);
      }
      if (poll_stragglers) {
        finished.fetch_add(1, std::memory_order_relaxed);
        if (caller) interrupt.poll_until(finished, omp_get_num_threads());
      }
    }
    interrupt.throw_if_stopped();
    return;
  }
#endif
  (void)threads;
  for (int64_t c = 0; c < chunks; ++c) {
    interrupt.poll();
    if (interrupt.stopped()) break;
    body(c);
  }
  interrupt.throw_if_stopped();
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
