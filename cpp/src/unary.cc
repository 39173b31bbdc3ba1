#include "fastloss/unary.hpp"

#include "dispatch_table.hpp"
#include "engine/elements.hpp"

namespace fastloss {
namespace {

// Runs kernel(T{}, in_blocks, out_block, n) over every chunk of the element engine; the
// kernel picks its float type from the first argument.
template <class Kernel>
void map_elements(DType dtype, const Shape& shape, int n_inputs, const ConstView* inputs, MutableView out,
                  const Kernel& kernel) {
  run_blocks(shape, dtype, n_inputs, inputs, 1, &out, false,
             [&](const void* const* in_blocks, void* const* out_blocks, int64_t n) {
    with_dtype(dtype, [&](auto zero) {
      kernel(zero, in_blocks, out_blocks[0], n);
      return 0;
    });
    return kernel_abi::Sums{0.0, 0.0};
  });
}

}  // namespace

void unary(UnaryOp op, DType dtype, const Shape& shape, ConstView in, MutableView out) {
  const kernel_abi::UnaryKernel& k = dispatch::unary_kernels().ops[static_cast<int>(op)];
  map_elements(dtype, shape, 1, &in, out, [&](auto zero, const void* const* in_blocks, void* out_block, int64_t n) {
    using T = decltype(zero);
    dispatch::for_type<T>(k)(static_cast<const T*>(in_blocks[0]), static_cast<T*>(out_block), n);
  });
}

void unary_backward(UnaryBackwardOp op, DType dtype, const Shape& shape, ConstView grad_output, ConstView value,
                    MutableView out) {
  const kernel_abi::UnaryBackwardKernel& k = dispatch::unary_kernels().backward[static_cast<int>(op)];
  const ConstView inputs[2] = {grad_output, value};
  map_elements(dtype, shape, 2, inputs, out, [&](auto zero, const void* const* in_blocks, void* out_block, int64_t n) {
    using T = decltype(zero);
    dispatch::for_type<T>(k)(static_cast<const T*>(in_blocks[0]), static_cast<const T*>(in_blocks[1]),
                    static_cast<T*>(out_block), n);
  });
}

}  // namespace fastloss
