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
#include "kernels/row_abi.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace fastloss {
namespace FASTLOSS_TARGET_NS {

constexpr int64_t kSmallClasses = 64;
constexpr int64_t kTileRows = 16;

// t[c][r] is element c of row r.
template <class T>
using RowTile = T[kSmallClasses][kTileRows];

// Calls tile(r0, n) for the block's rows kTileRows at a time, bringing the next tile's rows
// (its input and output rows) into cache while this one computes when tiles are large: a
// tile of 16 rows of 64 floats is one 4 KiB page, across which the hardware prefetchers do
// not run ahead (measured: 1.35x faster forward at 64 classes, no gain at 32, and a loss at
// 10, where several tiles share a page).
template <class T, class Tile>
FASTLOSS_INLINE void for_each_tile(const kernel_abi::RowBlock<T>& b, Tile&& tile) {
  constexpr int64_t kLine = 64;
  const int64_t bytes = b.length * static_cast<int64_t>(sizeof(T));
  const bool prefetch = bytes * kTileRows >= 2048;
  for (int64_t r0 = 0; r0 < b.rows; r0 += kTileRows) {
    for (int64_t r = r0 + kTileRows; prefetch && r < b.rows && r < r0 + 2 * kTileRows; ++r) {
      const char* in = reinterpret_cast<const char*>(b.in[0][r]);
      for (int64_t at = 0; at < bytes + kLine; at += kLine) FASTLOSS_PREFETCH(in + (at < bytes ? at : bytes - 1));
      for (int k = 0; k < 2 && b.out[k] != nullptr; ++k) {
        const char* out = reinterpret_cast<const char*>(b.out[k][r]);
        for (int64_t at = 0; at < bytes + kLine; at += kLine) FASTLOSS_PREFETCH_WRITE(out + (at < bytes ? at : bytes - 1));
      }
    }
    tile(r0, b.rows - r0 < kTileRows ? b.rows - r0 : kTileRows);
  }
}

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

#if defined(__AVX512F__) || defined(__AVX2__)
// float tiles on AVX-512 and AVX2 are transposed in registers: kWidth rows' runs of kWidth
// classes loaded as vectors (the row's end masked off), transposed, stored as class vectors,
// and back the same way. A strided access per class costs a load or store per element
// (neither compiler emits gathers for it), more than the small rows' arithmetic. Every loop
// is unrolled so that the vectors stay in registers; lanes past a row's end or past the
// tile's n rows are masked rather than branched on, but for a row's last partial vector
// written on AVX2 (store_first).
namespace tile_transpose {

#if defined(__AVX512F__)
constexpr int kWidth = 16;
using Vec = __m512;
using Mask = __mmask16;

FASTLOSS_INLINE Mask first(int64_t count) { return static_cast<Mask>((1u << count) - 1u); }
FASTLOSS_INLINE Mask all_or_none(bool all) { return static_cast<Mask>(all ? 0xffffu : 0u); }
FASTLOSS_INLINE Vec load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
FASTLOSS_INLINE Mask both(Mask a, Mask b) { return static_cast<Mask>(a & b); }
FASTLOSS_INLINE Vec load_all(const float* p) { return _mm512_loadu_ps(p); }
FASTLOSS_INLINE void store_all(float* p, Vec v) { _mm512_storeu_ps(p, v); }
// The first count (1 to kWidth) lanes of v to p.
FASTLOSS_INLINE void store_first(float* p, Vec v, int64_t count) { _mm512_mask_storeu_ps(p, first(count), v); }

// out[i][j] = in[j][i]: pairs, then quads within 128-bit lanes, then the lanes themselves.
// (Zero-masked forms with every lane set: GCC 12 warns that the unmasked ones read an
// uninitialized pass-through.)
FASTLOSS_INLINE void transpose(const Vec* in, Vec* out) {
  constexpr __mmask16 kAll = 0xffff;
  constexpr __mmask8 kAllPairs = 0xff;
  Vec t[16], q[16];
  FASTLOSS_UNROLL(8)
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll, in[i], in[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll, in[i], in[i + 1]);
  }
  // q[4g + k], 128-bit lane L: class 4L + k of rows 4g .. 4g + 3.
  FASTLOSS_UNROLL(4)
  for (int g = 0; g < 16; g += 4) {
    const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    q[g] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAllPairs, a, c));
    q[g + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAllPairs, a, c));
    q[g + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAllPairs, b, d));
    q[g + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAllPairs, b, d));
  }
  // Class 4L + k gathers lane L of q[k], q[4 + k], q[8 + k], q[12 + k].
  FASTLOSS_UNROLL(4)
  for (int k = 0; k < 4; ++k) {
    const Vec low01 = _mm512_maskz_shuffle_f32x4(kAll, q[k], q[4 + k], 0x44);
    const Vec high01 = _mm512_maskz_shuffle_f32x4(kAll, q[k], q[4 + k], 0xee);
    const Vec low23 = _mm512_maskz_shuffle_f32x4(kAll, q[8 + k], q[12 + k], 0x44);
    const Vec high23 = _mm512_maskz_shuffle_f32x4(kAll, q[8 + k], q[12 + k], 0xee);
    out[k] = _mm512_maskz_shuffle_f32x4(kAll, low01, low23, 0x88);
    out[4 + k] = _mm512_maskz_shuffle_f32x4(kAll, low01, low23, 0xdd);
    out[8 + k] = _mm512_maskz_shuffle_f32x4(kAll, high01, high23, 0x88);
    out[12 + k] = _mm512_maskz_shuffle_f32x4(kAll, high01, high23, 0xdd);
  }
}
#else
constexpr int kWidth = 8;
using Vec = __m256;
using Mask = __m256i;

FASTLOSS_INLINE Mask first(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
FASTLOSS_INLINE Mask all_or_none(bool all) { return _mm256_set1_epi32(all ? -1 : 0); }
FASTLOSS_INLINE Vec load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
FASTLOSS_INLINE Mask both(Mask a, Mask b) { return _mm256_and_si256(a, b); }
FASTLOSS_INLINE Vec load_all(const float* p) { return _mm256_loadu_ps(p); }
FASTLOSS_INLINE void store_all(float* p, Vec v) { _mm256_storeu_ps(p, v); }
// The first count (1 to kWidth) lanes of v to p, in plain stores of 4, 2 and 1 lanes: AMD
// runs vmaskmovps stores slowly (about a quarter of the 1 thread fused cross_entropy and
// objective time at 10 classes on an EPYC went to them).
FASTLOSS_INLINE void store_first(float* p, Vec v, int64_t count) {
  if (count == kWidth) return store_all(p, v);
  __m128 part = _mm256_castps256_ps128(v);
  if (count >= 4) {
    _mm_storeu_ps(p, part);
    part = _mm256_extractf128_ps(v, 1);
    p += 4;
    count -= 4;
  }
  if (count >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    part = _mm_movehl_ps(part, part);
    p += 2;
    count -= 2;
  }
  if (count == 1) _mm_store_ss(p, part);
}

FASTLOSS_INLINE void transpose(const Vec* in, Vec* out) {
  Vec t[8], q[8];
  FASTLOSS_UNROLL(4)
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(in[i], in[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(in[i], in[i + 1]);
  }
  // q[4h + k], 128-bit lane L: class 4L + k of rows 4h .. 4h + 3.
  FASTLOSS_UNROLL(2)
  for (int h = 0; h < 8; h += 4) {
    q[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
    q[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xee);
    q[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
    q[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xee);
  }
  FASTLOSS_UNROLL(4)
  for (int k = 0; k < 4; ++k) {
    out[k] = _mm256_permute2f128_ps(q[k], q[4 + k], 0x20);
    out[4 + k] = _mm256_permute2f128_ps(q[k], q[4 + k], 0x31);
  }
}
#endif

// to[c][r] = rows[r][c] (zeros past n), kWidth rows by kWidth classes at a time. Classes up
// to the next multiple of kWidth are written too (zeros; kSmallClasses is such a multiple).
FASTLOSS_INLINE void load(RowTile<float>& to, const float* const* rows, int64_t n, int64_t length) {
  for (int r0 = 0; r0 < kTileRows; r0 += kWidth) {
    for (int64_t c0 = 0; c0 < length; c0 += kWidth) {
      const int64_t count = length - c0 < kWidth ? length - c0 : kWidth;
      const Mask in_row = first(count);
      Vec v[kWidth], t[kWidth];
      // Masks only where needed: a row's last partial vector, rows past n.
      if (r0 + kWidth <= n && count == kWidth) {
        FASTLOSS_UNROLL(16)
        for (int r = 0; r < kWidth; ++r) v[r] = load_all(rows[r0 + r] + c0);
      } else if (r0 + kWidth <= n) {
        FASTLOSS_UNROLL(16)
        for (int r = 0; r < kWidth; ++r) v[r] = load(rows[r0 + r] + c0, in_row);
      } else {
        FASTLOSS_UNROLL(16)
        for (int r = 0; r < kWidth; ++r) {
          const bool live = r0 + r < n;
          v[r] = load((live ? rows[r0 + r] : rows[0]) + c0, both(in_row, all_or_none(live)));
        }
      }
      transpose(v, t);
      FASTLOSS_UNROLL(16)
      for (int k = 0; k < kWidth; ++k) store_all(&to[c0 + k][r0], t[k]);
    }
  }
}

// rows[r][c] = from[c][r] for the tile's n rows: transposed into a row-major staging tile
// (from's classes past length read only under a mask that skips them), then written a row
// at a time, in address order.
FASTLOSS_INLINE void store(const RowTile<float>& from, float* const* rows, int64_t n, int64_t length) {
  alignas(64) float staged[kWidth][kSmallClasses];
  for (int r0 = 0; r0 < kTileRows && r0 < n; r0 += kWidth) {
    for (int64_t c0 = 0; c0 < length; c0 += kWidth) {
      const int64_t count = length - c0 < kWidth ? length - c0 : kWidth;
      Vec v[kWidth], t[kWidth];
      FASTLOSS_UNROLL(16)
      for (int k = 0; k < kWidth; ++k) v[k] = load(&from[c0 + k][r0], all_or_none(k < count));
      transpose(v, t);
      FASTLOSS_UNROLL(16)
      for (int r = 0; r < kWidth; ++r) store_all(&staged[r][c0], t[r]);
    }
    for (int r = 0; r < kWidth && r0 + r < n; ++r)
      for (int64_t c0 = 0; c0 < length; c0 += kWidth)
        store_first(rows[r0 + r] + c0, load_all(&staged[r][c0]), length - c0 < kWidth ? length - c0 : kWidth);
  }
}

}  // namespace tile_transpose
#define FASTLOSS_TILE_TRANSPOSE 1
#else
#define FASTLOSS_TILE_TRANSPOSE 0
#endif

// to = the n rows of `length` elements transposed (zeros past n).
template <class T>
FASTLOSS_INLINE void load_tile(RowTile<T>& to, const T* const* rows, int64_t n, int64_t length) {
#if FASTLOSS_TILE_TRANSPOSE
  if constexpr (sizeof(T) == 4) return tile_transpose::load(to, rows, n, length);
#endif
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
#if FASTLOSS_TILE_TRANSPOSE
  if constexpr (sizeof(T) == 4) return tile_transpose::store(from, rows, n, length);
#endif
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
