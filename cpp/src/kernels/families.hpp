// The kernel families. A family is one constant object per SIMD target: a struct of
// function pointers (its ABI is in abi.hpp or row_abi.hpp), defined by a per-target kernel
// source in fastloss::<target>. Registering a family is its line below; the dispatcher reads
// the running target's object with dispatch::<name>() (dispatch_table.hpp).
//
// Included by per-target kernel sources (which then define their family's object) and by
// dispatch_table.hpp.
#pragma once

#include "kernels/abi.hpp"
#include "kernels/ctc_abi.hpp"
#include "kernels/row_abi.hpp"

// X(type, name)
#define FASTLOSS_KERNEL_FAMILIES(X)                            \
  X(kernel_abi::ElementwiseKernelFamily, elementwise_kernels) \
  X(kernel_abi::UnaryKernelFamily, unary_kernels)             \
  X(kernel_abi::ClassKernelFamily, class_kernels)             \
  X(kernel_abi::RowKernelFamily, row_kernels)                 \
  X(kernel_abi::CtcKernelFamily, ctc_kernels)                 \
  X(kernel_abi::HalfKernelFamily, half_kernels)

#define FASTLOSS_DECLARE_FAMILY(type, name) extern const type name;

#ifdef FASTLOSS_TARGET_NS
namespace fastloss {
namespace FASTLOSS_TARGET_NS {
FASTLOSS_KERNEL_FAMILIES(FASTLOSS_DECLARE_FAMILY)
}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
#endif
