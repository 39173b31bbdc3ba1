// The element engine: chunked, threaded execution over strided operands, under every elementwise
// pass. Operands that are contiguous are handed to the block function in place; strided or
// broadcast ones are gathered (and the output scattered) one chunk at a time through a
// per-thread staging buffer. Chunk boundaries depend only on the element count, so
// reductions are bitwise identical for any thread count.
#pragma once

#include <cstdint>
#include <functional>

#include "fastloss/array.hpp"
#include "kernels/abi.hpp"

namespace fastloss {

inline constexpr int kMaxBlockInputs = 8;

// in_blocks[k] is operand k's contiguous block (null for absent operands); out_block is the
// output's (null without an output).
using BlockFunction =
    std::function<kernel_abi::Sums(const void* const* in_blocks, void* out_block, int64_t n)>;

// Runs fn over every chunk of `shape`. `inputs` has `n_inputs` (<= kMaxBlockInputs) views;
// `out` is optional. labels[k] (all kFloat when labels is null) is input k's dtype: integer
// or bool labels are converted into the block as `dtype`. Returns the chunk results summed in
// index order when `reduce` is set.
kernel_abi::Sums run_blocks(const Shape& shape, DType dtype, int n_inputs, const ConstView* inputs,
                            const LabelDType* labels, MutableView out, bool reduce, const BlockFunction& fn);

}  // namespace fastloss
