#include "fastloss/unary.hpp"

#include "blocks.hpp"
#include "kernels/abi.hpp"
#include "kernels/target_table.hpp"

namespace fastloss {

// The per-target tables: fastloss::<target>::unary_kernels, in FASTLOSS_UNARY_OPS order.
#define FASTLOSS_DECLARE_TARGET(ns, enumerator) \
  namespace ns {                                \
  extern const kernel_abi::UnaryKernel unary_kernels[]; \
  }
FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_DECLARE_TARGET)
#undef FASTLOSS_DECLARE_TARGET

namespace {

ByTarget<const kernel_abi::UnaryKernel*> make_tables() {
  ByTarget<const kernel_abi::UnaryKernel*> tables;
#define FASTLOSS_FILL_TARGET(ns, enumerator) \
  tables.entries[static_cast<int>(Target::enumerator)] = ::fastloss::ns::unary_kernels;
  FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_FILL_TARGET)
#undef FASTLOSS_FILL_TARGET
  return tables;
}

}  // namespace

void unary(UnaryOp op, DType dtype, const Shape& shape, ConstView in, MutableView out) {
  static const ByTarget<const kernel_abi::UnaryKernel*> tables = make_tables();
  const kernel_abi::UnaryKernel& k = tables.active()[static_cast<int>(op)];
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
