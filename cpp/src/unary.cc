#include "fastloss/unary.hpp"

#include "dispatch_table.hpp"
#include "engine/elements.hpp"

namespace fastloss {

void unary(UnaryOp op, DType dtype, const Shape& shape, ConstView in, MutableView out) {
  const kernel_abi::UnaryKernel& k = dispatch::unary_kernels().ops[static_cast<int>(op)];
  run_blocks(shape, dtype, 1, &in, out, false,
             [&](const void* const* in_blocks, void* out_block, int64_t n) {
               if (dtype == DType::kFloat32)
                 k.f32(static_cast<const float*>(in_blocks[0]), static_cast<float*>(out_block), n);
               else
                 k.f64(static_cast<const double*>(in_blocks[0]), static_cast<double*>(out_block), n);
               return kernel_abi::Sums{0.0, 0.0};
             });
}

}  // namespace fastloss
