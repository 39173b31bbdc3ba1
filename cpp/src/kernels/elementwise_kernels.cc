// The elementwise family's table on one target: every loss's kernel object (defined with
// FASTLOSS_DEFINE_ELEMENTWISE_KERNEL in the loss sources), in FASTLOSS_ELEMENTWISE_LOSSES
// order. Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/families.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {

#define FASTLOSS_KERNEL_ADDRESS(name, ...) &name##_kernel,
const kernel_abi::ElementwiseKernelFamily elementwise_kernels = {{FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_KERNEL_ADDRESS)}};
#undef FASTLOSS_KERNEL_ADDRESS

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
