// The element engine: chunked, threaded execution over strided operands, under every elementwise
// pass. Operands that are contiguous are handed to the block function in place, whatever the
// others are; a broadcast operand that repeats with a period (a (C,) operand over (N, C)
// data) is read from a tile laid out once per call; other strided or broadcast ones are
// gathered (and the output scattered) one chunk at a time through a per-thread staging
// buffer. Every path hands the block function the same values in the same blocks, and chunk
// boundaries depend only on the element count, so results are bitwise identical whatever
// the operands' layout and the thread count. Operands stored as integer or bool labels (a
// view's `stored`) are converted into the block one chunk at a time. Operands and results
// stored as float16/bfloat16 are handed over as stored (HalfBlocks::kStored: the block
// function converts them, in its kernel's own pass) or converted like labels, results
// computed into staging and rounded once as they are copied out (kConverted).
#pragma once

#include <cstdint>
#include <functional>

#include "fastloss/array.hpp"
#include "kernels/abi.hpp"

namespace fastloss {

inline constexpr int kMaxBlockInputs = 8;
inline constexpr int kMaxBlockOutputs = 2;

enum class HalfBlocks {
  kConverted,  // the block function sees every operand and result as the call's float type
  kStored      // half operands and results stay uint16_t blocks, as stored (the view's `stored`)
};

// in_blocks[k] is operand k's contiguous block (null for absent operands); out_blocks[k] is
// output k's (null for absent outputs).
using BlockFunction =
    std::function<kernel_abi::Sums(const void* const* in_blocks, void* const* out_blocks, int64_t n)>;

// Runs fn over every chunk of `shape`. `inputs` has `n_inputs` (<= kMaxBlockInputs) views,
// `outputs` `n_outputs` (<= kMaxBlockOutputs), each optional; fn sees every block as `dtype`
// but half-precision ones (only in float32 calls), which `half` decides. Returns the chunk
// results summed in index order when `reduce` is set.
kernel_abi::Sums run_blocks(const Shape& shape, DType dtype, int n_inputs, const ConstView* inputs, int n_outputs,
                            const MutableView* outputs, bool reduce, const BlockFunction& fn,
                            HalfBlocks half = HalfBlocks::kConverted);

}  // namespace fastloss
