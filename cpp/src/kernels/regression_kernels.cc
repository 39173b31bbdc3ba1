// Regression losses. Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

// loss = (x - y)^2, d/dx = 2 (x - y).
struct MeanSquaredError {
  static constexpr bool kUsesAux = false;
  static constexpr bool kValidates = false;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params&) {}
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T d = x - y;
    return {d * d, T(2) * d};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(mse_loss, MeanSquaredError)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
