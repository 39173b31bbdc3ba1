#include "engine/elements.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "fastloss/half.hpp"
#include "parallel.hpp"
#include "engine/labels.hpp"
#include "engine/strided.hpp"

namespace fastloss {

namespace {

// `count` elements stored as `type` from `from` (contiguous) into `block` as the call's
// float type.
void convert_in(DType dtype, LabelDType type, const void* from, int64_t count, void* block) {
  if (is_half(type))
    half_to_float(type, static_cast<const uint16_t*>(from), static_cast<float*>(block), count);
  else if (dtype == DType::kFloat32)
    read_labels(type, from, 1, count, static_cast<float*>(block));
  else
    read_labels(type, from, 1, count, static_cast<double*>(block));
}

}  // namespace

kernel_abi::Sums run_blocks(const Shape& shape, DType dtype, int n_inputs, const ConstView* inputs, int n_outputs,
                            const MutableView* outputs, bool reduce, const BlockFunction& fn, HalfBlocks half) {
  if (n_inputs > kMaxBlockInputs) throw std::invalid_argument("too many block inputs");
  if (n_outputs > kMaxBlockOutputs) throw std::invalid_argument("too many block outputs");
  // Operand slots: the inputs, then the outputs, then one for converted operands while they
  // are strided (labels and half inputs before their conversion, half outputs after theirs).
  // Under kStored a half operand is handed over like one of the call's type, two bytes an
  // element (`converted` says which are not).
  const int64_t* strides[kMaxBlockInputs + kMaxBlockOutputs] = {};
  for (int k = 0; k < n_inputs; ++k) strides[k] = inputs[k].present() ? inputs[k].strides : nullptr;
  for (int k = 0; k < n_outputs; ++k) strides[n_inputs + k] = outputs[k].present() ? outputs[k].strides : nullptr;
  const strided::Layout layout(shape, n_inputs + n_outputs, strides);

  const int elem = dtype_size(dtype);
  const int64_t n = layout.numel();
  const int64_t chunk = parallel::kChunkElements;
  const int64_t chunks = parallel::chunk_count(n, chunk);
  const auto converted = [&](LabelDType stored) {
    return stored != LabelDType::kFloat && !(half == HalfBlocks::kStored && is_half(stored));
  };
  LabelDType label[kMaxBlockInputs];
  bool all_direct = true;
  for (int k = 0; k < n_inputs; ++k) {
    label[k] = inputs[k].present() ? inputs[k].stored : LabelDType::kFloat;
    all_direct = all_direct && (!inputs[k].present() || (layout.contiguous(k) && !converted(label[k])));
  }
  bool out_direct[kMaxBlockOutputs] = {};
  int out_size[kMaxBlockOutputs] = {};
  for (int k = 0; k < n_outputs; ++k) {
    out_direct[k] = !outputs[k].present() || (layout.contiguous(n_inputs + k) && !converted(outputs[k].stored));
    out_size[k] = converted(outputs[k].stored) ? elem : label_size(outputs[k].stored, dtype);
    all_direct = all_direct && out_direct[k];
  }
  const int raw_slot = n_inputs + n_outputs;
  const size_t scratch_words = static_cast<size_t>((raw_slot + 1) * chunk);

  // A broadcast operand whose element i is base[i % P] (a (C,) pos_weight or weight over
  // (N, C) data) is never gathered. With P up to one chunk it is tiled once, P + chunk - 1
  // elements from base[0] on, so that every chunk's block is the tile from its start % P;
  // a longer period is read in place wherever a chunk does not wrap around it.
  int64_t period[kMaxBlockInputs] = {};
  std::vector<char> tiles[kMaxBlockInputs];
  for (int k = 0; k < n_inputs && n > 0; ++k) {
    if (!inputs[k].present() || layout.contiguous(k)) continue;
    period[k] = layout.period(k);
    if (period[k] == 0 || period[k] > chunk) continue;
    const size_t size = static_cast<size_t>(label_size(label[k], dtype));
    const size_t period_bytes = static_cast<size_t>(period[k]) * size;
    tiles[k].resize(period_bytes + static_cast<size_t>(std::min(chunk, n) - 1) * size);
    std::copy_n(static_cast<const char*>(inputs[k].data), period_bytes, tiles[k].data());
    // Doubling copies: the first `at` bytes are whole periods.
    for (size_t at = period_bytes; at < tiles[k].size(); at *= 2)
      std::copy_n(tiles[k].data(), std::min(at, tiles[k].size() - at), tiles[k].data() + at);
  }

  auto body = [&](int64_t c) -> kernel_abi::Sums {
    // Per-thread staging for strided operands, one chunk per operand, kept across calls.
    thread_local std::vector<uint64_t> scratch;
    if (!all_direct && scratch.size() < scratch_words) scratch.resize(scratch_words);
    const int64_t start = c * chunk;
    const int64_t count = std::min(chunk, n - start);
    // Input k's elements [start, start + count) as a contiguous block of its own type: where
    // they lie, in its tile, or gathered into scratch slot `slot`.
    auto read = [&](int k, int size, int slot) -> const void* {
      const char* base = static_cast<const char*>(inputs[k].data);
      if (layout.contiguous(k)) return base + start * size;
      if (period[k] > 0) {
        const int64_t phase = start % period[k];
        if (!tiles[k].empty()) return tiles[k].data() + phase * size;
        if (phase + count <= period[k]) return base + phase * size;
      }
      uint64_t* staged = scratch.data() + slot * chunk;
      layout.gather(k, base, size, start, count, staged);
      return staged;
    };
    const void* in_blocks[kMaxBlockInputs] = {};
    for (int k = 0; k < n_inputs; ++k) {
      if (!inputs[k].present()) continue;
      if (converted(label[k])) {
        uint64_t* block = scratch.data() + k * chunk;
        convert_in(dtype, label[k], read(k, label_size(label[k], dtype), raw_slot), count, block);
        in_blocks[k] = block;
      } else {
        in_blocks[k] = read(k, label_size(label[k], dtype), k);
      }
    }
    void* out_blocks[kMaxBlockOutputs] = {};
    for (int k = 0; k < n_outputs; ++k) {
      if (!outputs[k].present()) continue;
      out_blocks[k] = out_direct[k] ? static_cast<void*>(static_cast<char*>(outputs[k].data) + start * out_size[k])
                                    : static_cast<void*>(scratch.data() + (n_inputs + k) * chunk);
    }
    const kernel_abi::Sums result = fn(in_blocks, out_blocks, count);
    for (int k = 0; k < n_outputs; ++k) {
      if (!outputs[k].present() || out_direct[k]) continue;
      const int slot = n_inputs + k;
      if (!converted(outputs[k].stored)) {
        layout.scatter(slot, outputs[k].data, out_size[k], start, count, out_blocks[k]);
        continue;
      }
      // Rounded to half where the output lies, or into the free raw slot and scattered.
      const bool contiguous = layout.contiguous(slot);
      uint16_t* rounded = contiguous ? static_cast<uint16_t*>(outputs[k].data) + start
                                     : reinterpret_cast<uint16_t*>(scratch.data() + raw_slot * chunk);
      float_to_half(outputs[k].stored, static_cast<const float*>(out_blocks[k]), rounded, count);
      if (!contiguous) layout.scatter(slot, outputs[k].data, 2, start, count, rounded);
    }
    return result;
  };

  const int threads = parallel::threads_for(chunks);
  if (reduce) return parallel::ordered_sum(chunks, threads, body);
  parallel::for_each_chunk(chunks, threads, [&](int64_t c) { body(c); });
  return kernel_abi::Sums{0.0, 0.0};
}

}  // namespace fastloss
