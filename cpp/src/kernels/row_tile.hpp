// Rows of few elements (at most kSmallClasses) moved kTileRows at a time into a transposed
// tile, so that SIMD lanes run across rows: a row of 10 classes fills less than one vector,
// and per-row loop set-up would cost more than its arithmetic. Shared by the class losses
// (cross_entropy, softmax_focal_loss, softmax) and multi_margin.
//
// Included only by per-target kernel sources: everything here lives in
// fastloss::FASTLOSS_TARGET_NS and is compiled separately for every target.
#pragma once

#include <cstdint>

#include "kernels/math.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {

constexpr int64_t kSmallClasses = 64;
constexpr int64_t kTileRows = 16;

// t[c][r] is element c of row r.
template <class T>
using RowTile = T[kSmallClasses][kTileRows];

// Whether the n rows are a full tile evenly spaced (rows of a contiguous block), and their
// spacing: such a tile is moved a class at a time across the rows, a strided access per
// class that vectorises, rather than element by element.
template <class P>
FASTLOSS_INLINE bool evenly_spaced(P rows, int64_t n, int64_t& pitch) {
  if (n != kTileRows) return false;
  pitch = rows[1] - rows[0];
  for (int64_t r = 2; r < kTileRows; ++r)
    if (rows[r] - rows[r - 1] != pitch) return false;
  return true;
}

// to = the n rows of `length` elements transposed (zeros past n).
template <class T>
FASTLOSS_INLINE void load_tile(RowTile<T>& to, const T* const* rows, int64_t n, int64_t length) {
  int64_t pitch = 0;
  if (evenly_spaced(rows, n, pitch)) {
    const T* first = rows[0];
    for (int64_t c = 0; c < length; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) to[c][r] = first[r * pitch + c];
    }
    return;
  }
  for (int64_t r = 0; r < kTileRows; ++r) {
    const T* row = r < n ? rows[r] : nullptr;
    for (int64_t c = 0; c < length; ++c) to[c][r] = row != nullptr ? row[c] : T(0);
  }
}

// rows[r][c] = from[c][r] for the tile's n rows.
template <class T>
FASTLOSS_INLINE void store_tile(const RowTile<T>& from, T* const* rows, int64_t n, int64_t length) {
  int64_t pitch = 0;
  if (evenly_spaced(rows, n, pitch)) {
    T* first = rows[0];
    for (int64_t c = 0; c < length; ++c) {
#pragma omp simd
      for (int64_t r = 0; r < kTileRows; ++r) first[r * pitch + c] = from[c][r];
    }
    return;
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < length; ++c) rows[r][c] = from[c][r];
}

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
