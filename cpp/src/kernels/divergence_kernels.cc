// Kullback-Leibler divergence (kl_div). Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

// options: log_target. x is a log-probability. Without log_target:
// loss = xlogy(y, y) - y x (0 where y = 0, NaN where y < 0), d/dx = -y; with log_target:
// loss = exp(y) (y - x), d/dx = -exp(y).
struct KlDivergence : loss_helpers::PlainLoss {
  static constexpr int kVariants = 2;  // 1: log_target
  static int variant(const kernel_abi::Params& p) { return p.options.log_target ? 1 : 0; }
  template <int kLogTarget, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    if constexpr (kLogTarget != 0) {
      const T p = math::exp(y);
      return {p * (y - x), -p};
    } else {
      const T y_log_y = y == T(0) ? T(0) : y * math::log(y);
      return {y_log_y - y * x, -y};
    }
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(kl_div, KlDivergence)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
