// Row reductions in fixed, independent lanes shared by the kernel families: the maximum
// (softmax's chunk maxima, triplet_margin's inf-norm) and sums whose bits must not depend on
// the loop around them. Written so that GCC and clang both vectorize them at full width.
//
// Included only by per-target kernel sources: everything here lives in
// fastloss::FASTLOSS_TARGET_NS and is compiled separately for every target.
#pragma once

#include <cstdint>

#include "kernels/math.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {

// m raised to v where v is greater; a NaN v never is, so it is skipped.
template <class T>
FASTLOSS_INLINE T max_step(T m, T v) {
  return v > m ? v : m;
}

// max_step of init and every value(i), i in [0, n): NaNs skipped. An `omp simd
// reduction(max)` of floating-point selects is left scalar by clang (without -ffast-math it
// will not reorder them), and one accumulator makes each step wait for the last; so the
// maxima run in 128 bytes of independent lanes, merged by halves at the end.
template <class T, class Value>
FASTLOSS_INLINE T lane_max(int64_t n, T init, Value value) {
  constexpr int64_t kLanes = 128 / static_cast<int64_t>(sizeof(T));
  if (n < kLanes) {
    T m = init;
    for (int64_t i = 0; i < n; ++i) m = max_step(m, value(i));
    return m;
  }
  T lanes[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) lanes[j] = init;
  const auto group = [&](int64_t at) FASTLOSS_LAMBDA_INLINE {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] = max_step(lanes[j], value(at + j));
  };
  int64_t base = 0;
  for (; base + kLanes <= n; base += kLanes) group(base);
  // The maximum is idempotent: the remainder is taken as a whole group ending at n,
  // overlapping the last one, instead of a scalar loop. (Choosing each group's start by a
  // select inside one loop lets GCC's unroll-and-jam fuse two groups into a scalar loop.)
  if (base < n) group(n - kLanes);
  // Unrolled, every merge has a constant width and stays in registers.
FASTLOSS_UNROLL(8)
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t j = 0; j < width; ++j) lanes[j] = max_step(lanes[j], lanes[j + width]);
  return lanes[0];
}

// Two sums of n elements in Acc: add(i, first_lane, second_lane) adds element i's terms to
// lane i % kLanes of each, in index order, and the lanes merge by halves at the end. The
// order depends on n alone, so two loops summing the same values agree bit for bit (a
// forward and its fused forward+backward, whose add also writes the gradient). An `omp simd
// reduction(+)` leaves the order to the compiler, which picks it per loop: clang (the wheel's
// compiler) gave float64 cross_entropy's loss and fused loss different last bits. A
// remainder shorter than the lanes runs scalar into the lanes it would have filled.
template <class Acc, class Add>
FASTLOSS_INLINE void lane_sums(int64_t n, Acc& first, Acc& second, Add add) {
  constexpr int64_t kLanes = 64 / static_cast<int64_t>(sizeof(Acc));
  Acc lanes[2][kLanes];
  for (int64_t j = 0; j < kLanes; ++j) lanes[0][j] = lanes[1][j] = Acc(0);
  int64_t base = 0;
  for (; base + kLanes <= n; base += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) add(base + j, lanes[0][j], lanes[1][j]);
  }
  for (int64_t j = 0; base + j < n; ++j) add(base + j, lanes[0][j], lanes[1][j]);
FASTLOSS_UNROLL(8)
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t j = 0; j < width; ++j) {
      lanes[0][j] += lanes[0][j + width];
      lanes[1][j] += lanes[1][j + width];
    }
  first = lanes[0][0];
  second = lanes[1][0];
}

// The sum of value(i), i in [0, n), in lane_sums' order.
template <class Acc, class Value>
FASTLOSS_INLINE Acc lane_sum(int64_t n, Value value) {
  Acc sum, unused;
  lane_sums<Acc>(n, sum, unused, [&value](int64_t i, Acc& lane, Acc&) FASTLOSS_LAMBDA_INLINE { lane += value(i); });
  return sum;
}

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
