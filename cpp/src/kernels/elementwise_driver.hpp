// The per-target loop driver shared by every elementwise loss.
//
// A loss is an Op type:
//   static constexpr bool kUsesAux;    // reads the kAux slot (pos_weight, var, ...)
//   template <class T> static bool valid_input(T), valid_target(T), valid_aux(T);
//                                      // the values the loss accepts (ops.hpp's value_check)
//   template <class T> struct Consts { explicit Consts(const kernel_abi::Params&); ... };
//   template <class T> static LossGrad<T> eval(T x, T y, T aux, const Consts<T>&);
// eval returns the unweighted loss and d loss / d x; whatever a mode does not use is
// dead code after inlining. An Op whose aux operand is optional (BCE-with-logits'
// pos_weight) sets `static constexpr bool kAuxOptional = true` and provides
// `template <bool kAux, class T> eval(...)` instead, so presence is known at compile time
// (a run-time flag inside the loop keeps GCC from vectorizing it). Likewise an Op whose
// scalar options change which terms it computes (Poisson's log_input and full) declares
// `static constexpr int kVariants` and `static int variant(const Params&)` and provides
// `template <int kVariant, class T> eval(...)`: every variant gets its own loops, so the
// default options do not pay for the transcendentals of the others. An Op may also refine
// the variant from a block's targets, for the passes that compute the loss, with
// `template <class T> static int data_variant(int variant, const T* y, int64_t n)` (binary
// cross-entropy: one log per element where every target is 0 or 1); such a variant must give
// the loss, gradient and so every result bitwise as the variant it refines. An Op with a Hessian
// (the gradient-boosting objectives' kGradHess) sets `static constexpr bool kHasHessian =
// true` and provides `hess(x, y, aux, consts)`, d^2 loss / dx^2, in the same template form as
// its eval. The driver applies weight, grad_output and scale, and sums in float64 so float32
// reductions do not drift.
//
// Included only by per-target kernel sources: everything here lives in
// fastloss::FASTLOSS_TARGET_NS and so is compiled separately for every target.
#pragma once

#include "kernels/math.hpp"
#include "kernels/abi.hpp"
#include "kernels/half.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {

template <class T>
struct LossGrad {
  T loss;
  T grad;
};

namespace elementwise_detail {

using kernel_abi::Block;
using kernel_abi::Mode;
using kernel_abi::Params;
using kernel_abi::Slot;
using kernel_abi::Sums;

// AuxOptional<Op>::value: Op::kAuxOptional when declared, else false.
template <class Op, class = void>
struct AuxOptional {
  static constexpr bool value = false;
};
template <class Op>
struct AuxOptional<Op, decltype(void(Op::kAuxOptional))> {
  static constexpr bool value = Op::kAuxOptional;
};

// Sums add(i, loss_sum, weight_sum) over [0, n) in kLanes independent float64 partial sums,
// combined in lane order at the end of the block (LaneSums::total). One accumulator for the
// whole loop would make every add wait for the previous one (latency-bound at about one
// element per cycle); the lanes keep the adds independent. The order depends only on n, so
// results stay bitwise identical for any thread count. A block run in pieces (the half
// tiles) carries the lanes from piece to piece: with every piece but the last a multiple of
// kLanes long, each element lands in the lane, and in the order, of the whole block's loop,
// and the last piece's total is the block's. (The total is taken in the loop's own function:
// a function of scalar float64 adds alone would read as a loop left scalar to
// check_kernel_objects.py.)
inline constexpr int64_t kLanes = 16;

struct LaneSums {
  double loss[kLanes] = {};
  double weight[kLanes] = {};
  Sums total() const {
    Sums sums{0.0, 0.0};
    for (int64_t j = 0; j < kLanes; ++j) {
      sums.loss += loss[j];
      sums.weight += weight[j];
    }
    return sums;
  }
};

template <class Add>
FASTLOSS_INLINE Sums lane_sums(LaneSums& sums, int64_t n, Add add) {
  // Local copies: accumulators the loop's stores cannot alias stay in registers.
  double loss[kLanes], weight[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) {
    loss[j] = sums.loss[j];
    weight[j] = sums.weight[j];
  }
  int64_t base = 0;
  // Two groups of lanes per iteration: the exp/log losses are latency-bound, and unrolled the
  // two groups' dependency chains overlap.
FASTLOSS_UNROLL(2)
  for (; base + kLanes <= n; base += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) add(base + j, loss[j], weight[j]);
  }
  for (int64_t j = 0; base + j < n; ++j) add(base + j, loss[j], weight[j]);
  for (int64_t j = 0; j < kLanes; ++j) {
    sums.loss[j] = loss[j];
    sums.weight[j] = weight[j];
  }
  return sums.total();
}

// HasDataVariant<Op>::value: whether Op declares data_variant.
template <class Op, class = void>
struct HasDataVariant {
  static constexpr bool value = false;
};
template <class Op>
struct HasDataVariant<Op, decltype(void(&Op::template data_variant<float>))> {
  static constexpr bool value = true;
};

// Op's eval (the loss and its gradient), or its hess (the second derivative) when kHess, with
// its compile-time option.
template <class Op, bool kAux, int kVariant, bool kHess = false, class T, class C>
FASTLOSS_INLINE auto evaluate(T x, T y, T aux, const C& c) {
  static_assert(!(AuxOptional<Op>::value && Op::kVariants > 1), "one compile-time option kind per Op");
  if constexpr (AuxOptional<Op>::value) {
    if constexpr (kHess)
      return Op::template hess<kAux>(x, y, aux, c);
    else
      return Op::template eval<kAux>(x, y, aux, c);
  } else if constexpr (Op::kVariants > 1) {
    if constexpr (kHess)
      return Op::template hess<kVariant>(x, y, aux, c);
    else
      return Op::template eval<kVariant>(x, y, aux, c);
  } else if constexpr (kHess) {
    return Op::hess(x, y, aux, c);
  } else {
    return Op::eval(x, y, aux, c);
  }
}

template <class Op, class T, bool kWeighted, bool kAux, int kVariant>
struct Loops {
  using C = typename Op::template Consts<T>;

  // The loops take the Op's constants by value: a copy local to the loop cannot alias the
  // float64 accumulators, which a reference could as far as GCC can tell (it then leaves
  // float64 sums scalar).
  static FASTLOSS_INLINE T aux_at(const T* a, int64_t i) {
    if constexpr (kAux) return a[i];
    (void)a;
    (void)i;
    return T(0);
  }

  static void loss(const T* x, const T* y, const T* w, const T* a, T* out, int64_t n,
                   const C c) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T l = evaluate<Op, kAux, kVariant>(x[i], y[i], aux_at(a, i), c).loss;
      if constexpr (kWeighted) l *= w[i];
      out[i] = l;
    }
  }

  static Sums loss_sum(const T* x, const T* y, const T* w, const T* a, int64_t n, const C c, LaneSums& sums) {
    return lane_sums(sums, n, [&](int64_t i, double& acc, double& wacc) FASTLOSS_LAMBDA_INLINE {
      T l = evaluate<Op, kAux, kVariant>(x[i], y[i], aux_at(a, i), c).loss;
      if constexpr (kWeighted) {
        l *= w[i];
        wacc += static_cast<double>(w[i]);
      }
      acc += static_cast<double>(l);
    });
  }

  template <bool kGradOutput>
  static void grad(const T* x, const T* y, const T* w, const T* a, const T* go, T* out,
                   int64_t n, T scale, const C c) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T g = evaluate<Op, kAux, kVariant>(x[i], y[i], aux_at(a, i), c).grad * scale;
      if constexpr (kWeighted) g *= w[i];
      if constexpr (kGradOutput) g *= go[i];
      out[i] = g;
    }
  }

  // Element i's weighted loss and weighted, scaled gradient, the fused passes' one expression:
  // each product as in loss and grad<false>, so fused and separate passes agree bitwise.
  static FASTLOSS_INLINE LossGrad<T> weighted_loss_grad(const T* x, const T* y, const T* w, const T* a, int64_t i,
                                                        T scale, const C& c) {
    const LossGrad<T> lg = evaluate<Op, kAux, kVariant>(x[i], y[i], aux_at(a, i), c);
    T l = lg.loss;
    T g = lg.grad * scale;
    if constexpr (kWeighted) {
      l *= w[i];
      g *= w[i];
    }
    return {l, g};
  }

  // out may be x itself (in-place gradient): each i reads its inputs before writing out[i],
  // and `omp simd` asserts there is no other dependence between iterations.
  static Sums loss_sum_grad(const T* x, const T* y, const T* w, const T* a, T* out, int64_t n,
                            T scale, const C c, LaneSums& sums) {
    return lane_sums(sums, n, [&](int64_t i, double& acc, double& wacc) FASTLOSS_LAMBDA_INLINE {
      const LossGrad<T> lg = weighted_loss_grad(x, y, w, a, i, scale, c);
      if constexpr (kWeighted) wacc += static_cast<double>(w[i]);
      acc += static_cast<double>(lg.loss);
      out[i] = lg.grad;
    });
  }

  // Reduction "none"'s fused pass, both outputs in one read of the operands. grad_out may be
  // x itself, as in loss_sum_grad.
  static void loss_grad(const T* x, const T* y, const T* w, const T* a, T* grad_out, T* loss_out, int64_t n,
                        T scale, const C c) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const LossGrad<T> lg = weighted_loss_grad(x, y, w, a, i, scale, c);
      loss_out[i] = lg.loss;
      grad_out[i] = lg.grad;
    }
  }

  // The gradient-boosting objective's per-element gradient and Hessian: w g and
  // w max(h, floor). The floor passes NaN (clamp_min), so NaN comes out where it went in.
  static void grad_hess(const T* x, const T* y, const T* w, const T* a, T* grad_out, T* hess_out, int64_t n,
                        T floor, const C c) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T g = evaluate<Op, kAux, kVariant>(x[i], y[i], aux_at(a, i), c).grad;
      T h = loss_helpers::clamp_min(evaluate<Op, kAux, kVariant, true>(x[i], y[i], aux_at(a, i), c), floor);
      if constexpr (kWeighted) {
        g *= w[i];
        h *= w[i];
      }
      grad_out[i] = g;
      hess_out[i] = h;
    }
  }

  // Adds the block's sums (reducing modes) into `sums` and returns their total so far.
  static Sums run(Mode mode, const Block& b, const Params& p, LaneSums& sums) {
    const T* x = static_cast<const T*>(b.in[kernel_abi::kInput]);
    const T* y = static_cast<const T*>(b.in[kernel_abi::kTarget]);
    const T* w = static_cast<const T*>(b.in[kernel_abi::kWeight]);
    const T* a = static_cast<const T*>(b.in[kernel_abi::kAux]);
    const T* go = static_cast<const T*>(b.in[kernel_abi::kGradOutput]);
    T* out = static_cast<T*>(b.out);
    const C c(p);
    const T scale = static_cast<T>(p.scale);
    switch (mode) {
      case Mode::kLoss:
        loss(x, y, w, a, out, b.n, c);
        return Sums{0.0, 0.0};
      case Mode::kLossSum:
        return loss_sum(x, y, w, a, b.n, c, sums);
      case Mode::kGrad:
        if (go != nullptr)
          grad<true>(x, y, w, a, go, out, b.n, scale, c);
        else
          grad<false>(x, y, w, a, go, out, b.n, scale, c);
        return Sums{0.0, 0.0};
      case Mode::kLossSumGrad:
        return loss_sum_grad(x, y, w, a, out, b.n, scale, c, sums);
      case Mode::kLossGrad:
        loss_grad(x, y, w, a, out, static_cast<T*>(b.second_out), b.n, scale, c);
        return Sums{0.0, 0.0};
      case Mode::kGradHess:
        if constexpr (Op::kHasHessian)
          grad_hess(x, y, w, a, out, static_cast<T*>(b.second_out), b.n, static_cast<T>(p.hess_floor), c);
        return Sums{0.0, 0.0};
      case Mode::kWeightSum:
        if constexpr (kWeighted) {
          return lane_sums(sums, b.n, [&](int64_t i, double&, double& wacc) FASTLOSS_LAMBDA_INLINE {
            wacc += static_cast<double>(w[i]);
          });
        }
        return Sums{0.0, 0.0};
      // The counts are whole numbers, exact in lane 0 (the only one they use) whatever the
      // pieces. A block's are counted in T, as wide as the operands (float64 counts took a
      // third of binary_cross_entropy's forward at 8 float32 lanes), exact for blocks of fewer
      // than 2^24 elements (a chunk, kChunkElements).
      case Mode::kInvalidCount: {
        T bad_x = T(0), bad_y = T(0);
#pragma omp simd reduction(+ : bad_x, bad_y)
        for (int64_t i = 0; i < b.n; ++i) {
          bad_x += Op::valid_input(x[i]) ? T(0) : T(1);
          bad_y += Op::valid_target(y[i]) ? T(0) : T(1);
        }
        sums.loss[0] += static_cast<double>(bad_x);
        sums.weight[0] += static_cast<double>(bad_y);
        return Sums{sums.loss[0], sums.weight[0]};
      }
      case Mode::kInvalidAuxCount: {
        T bad = T(0);
        if constexpr (kAux) {
#pragma omp simd reduction(+ : bad)
          for (int64_t i = 0; i < b.n; ++i) bad += Op::valid_aux(a[i]) ? T(0) : T(1);
        }
        sums.loss[0] += static_cast<double>(bad);
        return Sums{sums.loss[0], 0.0};
      }
    }
    return Sums{0.0, 0.0};
  }
};

// Picks the loops of Op's variant `variant` (kVariant counts up to it at compile time).
template <class Op, class T, int kVariant = 0>
Sums run_variant(int variant, Mode mode, const Block& b, const Params& p, LaneSums& sums) {
  if constexpr (kVariant + 1 < Op::kVariants) {
    if (variant != kVariant) return run_variant<Op, T, kVariant + 1>(variant, mode, b, p, sums);
  }
  const bool weighted = b.in[kernel_abi::kWeight] != nullptr;
  if constexpr (Op::kUsesAux && AuxOptional<Op>::value) {
    if (b.in[kernel_abi::kAux] == nullptr) {
      return weighted ? Loops<Op, T, true, false, kVariant>::run(mode, b, p, sums)
                      : Loops<Op, T, false, false, kVariant>::run(mode, b, p, sums);
    }
  }
  // An Op that uses aux and does not declare it optional always has it.
  return weighted ? Loops<Op, T, true, Op::kUsesAux, kVariant>::run(mode, b, p, sums)
                  : Loops<Op, T, false, Op::kUsesAux, kVariant>::run(mode, b, p, sums);
}

// The block's loops: Op's variant `variant`, refined by the block's targets (data_variant)
// where the mode computes the loss.
template <class Op, class T>
Sums run_loops(int variant, Mode mode, const Block& b, const Params& p, LaneSums& sums) {
  if constexpr (HasDataVariant<Op>::value) {
    const bool loss = mode == Mode::kLoss || mode == Mode::kLossSum || mode == Mode::kLossSumGrad ||
                      mode == Mode::kLossGrad;
    if (loss) variant = Op::data_variant(variant, static_cast<const T*>(b.in[kernel_abi::kTarget]), b.n);
  }
  return run_variant<Op, T>(variant, mode, b, p, sums);
}

// Elements per half tile: a multiple of kLanes (so the tiles' float64 sums are the whole
// block's, LaneSums), and small enough that a tile of every operand and result (7 x 2 KiB)
// stays in L1 beside the half data streaming through.
inline constexpr int64_t kHalfTile = 512;
// How far ahead of the tile being widened its half operands are prefetched, in elements.
// Widening one operand after another, a tile at a time, reads each stream in short bursts;
// without the hints the loads wait on memory more than the float32 loops over both streams
// at once (a standalone copy of the MSE tile loop on AVX-512 at 2^24 elements: about 10%
// faster with them).
inline constexpr int64_t kHalfPrefetch = 2 * kHalfTile;

FASTLOSS_INLINE bool stored_as_half(LabelDType stored) {
  return stored == LabelDType::kFloat16 || stored == LabelDType::kBFloat16;
}

// A float32 block with operands or results stored as half: tile by tile, each half operand
// widened into an L1 buffer, the float32 loops run on the tile, each half result narrowed
// from its buffer to where it is stored. The half data is read and written once, in the
// kernel's own pass (no staging pass through memory), and every value the loops see, and so
// every result, is the float32 block's on the widened operands. An output may be an input
// (in place): a tile's inputs are widened before its results are stored. Returns the last
// tile's sums, the block's.
template <class Op>
Sums run_half_tiles(int variant, Mode mode, const Block& b, const Params& p) {
  LaneSums sums;
  Sums total{0.0, 0.0};
  float in_tiles[kernel_abi::kNumSlots][kHalfTile];
  float out_tiles[2][kHalfTile];
  void* const outs[2] = {b.out, b.second_out};
  const LabelDType out_stored[2] = {b.out_stored, b.second_out_stored};
  for (int64_t start = 0; start < b.n; start += kHalfTile) {
    const int64_t count = b.n - start < kHalfTile ? b.n - start : kHalfTile;
    Block tile{};
    tile.n = count;
    for (int s = 0; s < kernel_abi::kNumSlots; ++s) {
      if (b.in[s] == nullptr) continue;
      if (stored_as_half(b.stored[s])) {
        const char* ahead = static_cast<const char*>(b.in[s]);
        for (int64_t i = start + kHalfPrefetch; i < start + kHalfPrefetch + count && i < b.n; i += 32)
          FASTLOSS_PREFETCH(ahead + 2 * i);
        half::widen(b.stored[s], static_cast<const uint16_t*>(b.in[s]) + start, in_tiles[s], count);
        tile.in[s] = in_tiles[s];
      } else {
        tile.in[s] = static_cast<const float*>(b.in[s]) + start;
      }
    }
    void* tile_outs[2] = {};
    for (int k = 0; k < 2; ++k) {
      if (outs[k] == nullptr) continue;
      tile_outs[k] = stored_as_half(out_stored[k]) ? static_cast<void*>(out_tiles[k])
                                                   : static_cast<void*>(static_cast<float*>(outs[k]) + start);
    }
    tile.out = tile_outs[0];
    tile.second_out = tile_outs[1];
    total = run_loops<Op, float>(variant, mode, tile, p, sums);
    for (int k = 0; k < 2; ++k) {
      if (outs[k] != nullptr && stored_as_half(out_stored[k]))
        half::narrow(out_stored[k], out_tiles[k], static_cast<uint16_t*>(outs[k]) + start, count);
    }
  }
  return total;
}

template <class Op, class T>
Sums run_block(Mode mode, const Block& b, const Params& p) {
  if constexpr (sizeof(T) == 4) {
    bool half = stored_as_half(b.out_stored) || stored_as_half(b.second_out_stored);
    for (int s = 0; s < kernel_abi::kNumSlots; ++s) half = half || (b.in[s] != nullptr && stored_as_half(b.stored[s]));
    if (half) return run_half_tiles<Op>(Op::variant(p), mode, b, p);
  }
  LaneSums sums;
  return run_loops<Op, T>(Op::variant(p), mode, b, p, sums);
}

}  // namespace elementwise_detail

// The exported kernel of one loss on this target.
template <class Op>
inline constexpr kernel_abi::ElementwiseKernel make_elementwise_kernel() {
  return kernel_abi::ElementwiseKernel{&elementwise_detail::run_block<Op, float>,
                                       &elementwise_detail::run_block<Op, double>, Op::kHasHessian};
}

// Every loss's kernel object, fastloss::<target>::<name>_kernel (elementwise_kernels.cc
// gathers them into the family's table).
#define FASTLOSS_DECLARE_ELEMENTWISE_KERNEL(name, ...) extern const kernel_abi::ElementwiseKernel name##_kernel;
FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_DECLARE_ELEMENTWISE_KERNEL)
#undef FASTLOSS_DECLARE_ELEMENTWISE_KERNEL

// Defines fastloss::<target>::<name>_kernel for an Op.
#define FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(name, Op) \
  const kernel_abi::ElementwiseKernel name##_kernel = make_elementwise_kernel<Op>();

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
