#include "engine/elements.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "parallel.hpp"
#include "engine/strided.hpp"

namespace fastloss {

kernel_abi::Sums run_blocks(const Shape& shape, DType dtype, int n_inputs, const ConstView* inputs,
                            MutableView out, bool reduce, const BlockFunction& fn) {
  if (n_inputs > kMaxBlockInputs) throw std::invalid_argument("too many block inputs");
  const int out_slot = n_inputs;
  const int64_t* strides[kMaxBlockInputs + 1] = {};
  for (int k = 0; k < n_inputs; ++k) strides[k] = inputs[k].present() ? inputs[k].strides : nullptr;
  strides[out_slot] = out.present() ? out.strides : nullptr;
  const strided::Layout layout(shape, n_inputs + 1, strides);

  const int elem = dtype_size(dtype);
  const int64_t n = layout.numel();
  const int64_t chunk = parallel::kChunkElements;
  const int64_t chunks = parallel::chunk_count(n, chunk);
  const bool out_direct = !out.present() || layout.contiguous(out_slot);
  bool all_direct = out_direct;
  for (int k = 0; k < n_inputs; ++k)
    all_direct = all_direct && (!inputs[k].present() || layout.contiguous(k));
  const size_t scratch_words = static_cast<size_t>((n_inputs + 1) * chunk);

  auto body = [&](int64_t c) -> kernel_abi::Sums {
    // Per-thread staging for strided operands, one chunk per operand, kept across calls.
    thread_local std::vector<uint64_t> scratch;
    if (!all_direct && scratch.size() < scratch_words) scratch.resize(scratch_words);
    const int64_t start = c * chunk;
    const int64_t count = std::min(chunk, n - start);
    const void* in_blocks[kMaxBlockInputs] = {};
    for (int k = 0; k < n_inputs; ++k) {
      if (!inputs[k].present()) continue;
      if (layout.contiguous(k)) {
        in_blocks[k] = static_cast<const char*>(inputs[k].data) + start * elem;
      } else {
        uint64_t* staged = scratch.data() + k * chunk;
        layout.gather(k, inputs[k].data, elem, start, count, staged);
        in_blocks[k] = staged;
      }
    }
    void* out_block = nullptr;
    if (out.present()) {
      out_block = out_direct ? static_cast<void*>(static_cast<char*>(out.data) + start * elem)
                             : static_cast<void*>(scratch.data() + out_slot * chunk);
    }
    const kernel_abi::Sums result = fn(in_blocks, out_block, count);
    if (out.present() && !out_direct) layout.scatter(out_slot, out.data, elem, start, count, out_block);
    return result;
  };

  const int threads = parallel::threads_for(chunks);
  if (reduce) return parallel::ordered_sum(chunks, threads, body);
  parallel::for_each_chunk(chunks, threads, [&](int64_t c) { body(c); });
  return kernel_abi::Sums{0.0, 0.0};
}

}  // namespace fastloss
